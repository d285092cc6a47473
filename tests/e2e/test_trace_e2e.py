"""One trace from the caller to PostgreSQL: `fapiao` (the CLI, tracing from the standard OTEL_* variables) and the
asyncio SDK call through Envoy (the shipped configuration) into a two-worker server, and every one of them exports
its spans over OTLP/gRPC to a receiver in this test. The span trees of VerifyInvoice on a cache miss and of
IssueInvoice are checked link by link, and no span anywhere carries the personal details or the API key sent."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from fapiao_server.domain.access import Role
from fapiao_server.entrypoints.supervisor import Endpoint
from fapiao_server.storage.queries import _QUERIES as NAMED_QUERIES
from tests.support.envoy import Envoy, require_envoy
from tests.support.fleet import new_tax_id
from tests.support.server import ServerProcess, fapiao_executable

pytestmark = pytest.mark.slow

SERVER, CLIENT = trace_pb2.Span.SPAN_KIND_SERVER, trace_pb2.Span.SPAN_KIND_CLIENT
VERIFY, ISSUE = "/fapiao.v1.VerificationService/VerifyInvoice", "/fapiao.v1.InvoiceService/IssueInvoice"


def _value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent: str
    name: str
    kind: int
    service: str
    attributes: dict[str, Any]
    links: list[str] = field(default_factory=list)


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver (what a collector listens with): keeps every span, and every export as JSON
    text, unescaped, to search for what must not be there."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def Export(self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any) -> Any:
        with self._lock:
            self.texts.append(json_format.MessageToJson(request, ensure_ascii=False))
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            Span(
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent=span.parent_span_id.hex(),
                                name=span.name,
                                kind=span.kind,
                                service=str(resource.get("service.name", "")),
                                attributes={a.key: _value(a.value) for a in span.attributes},
                                links=[link.span_id.hex() for link in span.links],
                            )
                        )
        return trace_service_pb2.ExportTraceServiceResponse()

    def wait_for(self, found: Callable[[list[Span]], bool], timeout: float = 20.0) -> list[Span]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                spans = list(self.spans)
            if found(spans):
                return spans
            time.sleep(0.1)
        raise AssertionError(f"spans did not arrive in time; got {[(s.service, s.name) for s in spans]}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, int]]:
    found = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(found, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield found, port
    server.stop(0)


def _otlp(port: int) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_BSP_SCHEDULE_DELAY": "100"}


@dataclass
class TracedFleet:
    receiver: Receiver
    target: str
    env: dict[str, str]  # a traced `fapiao` command's environment: OTLP to the receiver, the taxpayer's key
    secrets: list[str]  # the API key and every personal detail sent: none may appear in any span
    invoice_file: Path  # an invoice to issue, with those details
    node: str  # the node's own address, behind Envoy

    def fapiao(self, *args: str) -> Any:
        result = subprocess.run(
            [str(fapiao_executable()), *args, "--target", self.target, "--json"],
            capture_output=True, text=True, timeout=60, env=self.env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def fleet(
    receiver: tuple[Receiver, int],
    database_url: str,
    redis_url: str,
    new_key: Callable[..., str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TracedFleet]:
    require_envoy()
    tmp_path = tmp_path_factory.mktemp("traced")
    spans, port = receiver
    node = ServerProcess(
        "--listen", "127.0.0.1:0", "--workers", "2",
        env={
            "FAPIAO_DATABASE_URL": database_url, "FAPIAO_REDIS_URL": redis_url,
            # A namespace of its own: the first lookup of an invoice is a miss in Redis too.
            "FAPIAO_REDIS_KEY_PREFIX": f"fapiao:trace:{uuid.uuid4().hex[:12]}:",
            "FAPIAO_LOG_LEVEL": "WARNING", "FAPIAO_OTEL_EXPORTER": "otlp", **_otlp(port),
        },
    ).start()  # fmt: skip
    envoy = Envoy([node.address], tmp_path, collector=Endpoint("127.0.0.1", port))
    try:
        envoy.wait_until_healthy(1)
        seller, buyer = new_tax_id(), new_tax_id()
        key = new_key(Role.TAXPAYER, tax_ids=[seller, buyer])
        private = [f"追踪卖方{uuid.uuid4().hex[:8]}有限公司", f"追踪买方{uuid.uuid4().hex[:8]}有限公司",
                   f"杭州市西湖区追踪路{uuid.uuid4().hex[:6]}号", f"0571-{uuid.uuid4().int % 10**8:08d}",
                   f"62220{uuid.uuid4().int % 10**14:014d}"]  # fmt: skip
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("FAPIAO_", "OTEL_"))},
            **_otlp(port),
            "FAPIAO_TOKEN": key,
        }
        fleet = TracedFleet(spans, envoy.target, env, [key, *private], tmp_path / "invoice.json", node.address)
        invoice = {
            "invoice_type": "01",
            "seller": {"tax_id": seller, "name": private[0], "address": private[2], "phone": private[3],
                       "bank_name": "中国工商银行", "bank_account": private[4]},
            "buyer": {"tax_id": buyer, "name": private[1]},
            "lines": [{"item_name": "*信息技术服务*追踪", "amount": "1000.00", "tax_rate": "13%"}],
        }  # fmt: skip
        fleet.invoice_file.write_text(json.dumps(invoice, ensure_ascii=False), encoding="utf-8")
        yield fleet
    finally:
        envoy.stop()
        node.stop()


def _one_trace(spans: list[Span], root_name: str) -> list[Span]:
    (root,) = [s for s in spans if s.name == root_name and s.service == "fapiao-cli" and not s.parent]
    return [s for s in spans if s.trace_id == root.trace_id]


def _children(spans: list[Span], parent: Span, name: str | None = None, *, service: str | None = None) -> list[Span]:
    return [
        s
        for s in spans
        if s.parent == parent.span_id and (name is None or s.name == name) and (service is None or s.service == service)
    ]


def _descendants(spans: list[Span], top: Span) -> list[Span]:
    found, frontier = [], [top]
    while frontier:
        below = [s for s in spans if s.parent in {f.span_id for f in frontier}]
        found += below
        frontier = below
    return found


def _through_envoy(trace: list[Span], command: str, method: str) -> Span:
    """The fapiao server span of ``method`` under the CLI's command span, by way of its client span and Envoy's
    two spans (the call, then the attempt upstream); every span of the trace shares its trace id."""
    (root,) = [s for s in trace if s.name == f"fapiao {command}" and not s.parent]
    (client,) = _children(trace, root, method, service="fapiao-cli")
    assert client.kind == CLIENT and client.attributes["rpc.grpc.status_code"] == 0
    (ingress,) = _children(trace, client, service="envoy")
    assert ingress.kind == SERVER
    (upstream,) = _children(trace, ingress, service="envoy")
    assert upstream.kind == CLIENT
    (server,) = _children(trace, upstream, method, service="fapiao")
    assert server.kind == SERVER
    assert {s.trace_id for s in trace} == {root.trace_id}
    return server


def _database(spans: list[Span]) -> list[Span]:
    return [s for s in spans if s.attributes.get("db.system") == "postgresql" and s.kind == CLIENT]


def _redis(spans: list[Span]) -> list[Span]:
    return [s for s in spans if s.attributes.get("db.system") == "redis" and s.kind == CLIENT]


def _check_private(fleet: TracedFleet) -> None:
    exported = "\n".join(fleet.receiver.texts)
    assert fleet.secrets and all(secret not in exported for secret in fleet.secrets)
    # Statement text is the register's own SQL with its placeholders, never a value spliced in; Redis commands
    # are their name and a "?" per argument.
    sql = {s.attributes["db.statement"] for s in _database(fleet.receiver.spans)}
    assert sql and sql <= set(NAMED_QUERIES.values()), sql - set(NAMED_QUERIES.values())
    commands = [s.attributes["db.statement"] for s in _redis(fleet.receiver.spans)]
    assert commands and all(re.fullmatch(r"[A-Z]+( [A-Z]+)?( \?)*", text) for text in commands), commands
    assert not [s for s in fleet.receiver.spans if "db.statement.parameters" in s.attributes]


def test_issue_then_verify_on_a_miss_is_one_trace_each_from_the_cli_to_postgresql(fleet: TracedFleet) -> None:
    issued = fleet.fapiao("issue", "--file", str(fleet.invoice_file))
    date = "{year:04d}-{month:02d}-{day:02d}".format(**issued["issue_date"])
    answer = fleet.fapiao("verify", "--code", issued["invoice_code"], "--number", issued["invoice_number"],
                          "--date", date, "--amount", "1000.00")  # fmt: skip
    assert answer["outcome"] == "VERIFICATION_OUTCOME_MATCH"

    def complete(spans: list[Span]) -> bool:  # both commands' traces, from Envoy and the nodes too
        roots = {s.name: s.trace_id for s in spans if s.service == "fapiao-cli" and not s.parent}
        ends = {"fapiao issue": "fapiao.issue.batch", "fapiao verify": "fapiao.record.batch"}
        return all(
            name in roots
            and {"envoy", "fapiao"} <= {s.service for s in spans if s.trace_id == roots[name] and s.kind == SERVER}
            and any(s.name == last for s in spans if s.trace_id == roots[name])
            for name, last in ends.items()
        )

    spans = fleet.receiver.wait_for(complete)

    # IssueInvoice: the group commit's wait, then its batch (led by this call) with the statements, the signing
    # and the sealing under it; the cached copies dropped in Redis.
    trace = _one_trace(spans, "fapiao issue")
    server = _through_envoy(trace, "issue", ISSUE)
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["fapiao.invoice.type"] == "01"
    assert server.attributes["fapiao.principal.role"] == "TAXPAYER"
    assert server.attributes["fapiao.principal.id"].startswith("taxpayer-")
    (wait,) = _children(trace, server, "fapiao.issue.wait")
    (batch,) = _children(trace, wait, "fapiao.issue.batch")
    assert wait.attributes["fapiao.batch.lead"] is True and wait.attributes["fapiao.batch.queued_ms"] >= 0
    assert batch.attributes["fapiao.batch.size"] == batch.attributes["fapiao.batch.calls"] == 1
    below = _descendants(trace, batch)
    assert {"INSERT", "SELECT"} <= {s.name for s in _database(below)}
    # The batch's three round trips, each a span of it, with the statements under them or under the batch itself.
    trips = {s.name: s for s in _children(trace, batch) if s.name.startswith(("fapiao.issue.", "fapiao.reserve"))}
    assert set(trips) == {"fapiao.issue.claim", "fapiao.reserve_numbers", "fapiao.issue.write"}
    assert trips["fapiao.reserve_numbers"].attributes["fapiao.reserve_numbers.prefixes"] == 1
    assert [s.name for s in _database(_children(trace, trips["fapiao.reserve_numbers"]))] == ["INSERT"]
    assert all(s.parent in {batch.span_id, *(t.span_id for t in trips.values())} for s in _database(below))
    (signing,) = [s for s in below if s.name == "fapiao.sign"]
    assert signing.attributes["fapiao.sign.kind"] == "invoice" and signing.attributes["fapiao.sign.count"] == 1
    (sealing,) = [s for s in below if s.name == "fapiao.seal"]
    assert sealing.attributes["fapiao.seal.invoices"] == 1
    assert any(s.name == "DEL" for s in _redis(_descendants(trace, server)))

    # VerifyInvoice on a miss: the cache lookup went to PostgreSQL (a Redis miss and lease, the coalesced lookup
    # and its statement, the invoice opened, the fill), then the record's group commit.
    trace = _one_trace(spans, "fapiao verify")
    server = _through_envoy(trace, "verify", VERIFY)
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["fapiao.verification.outcome"] == "MATCH"
    assert server.attributes["fapiao.invoice.type"] == "01"
    assert server.attributes["fapiao.cache.tier"] == "postgresql"
    (lookup,) = _children(trace, server, "fapiao.cache.lookup")
    assert lookup.attributes["fapiao.cache.tier"] == "postgresql"
    commands = _children(trace, lookup)
    assert {"GET", "SET", "EVALSHA"} <= {s.name for s in _redis(commands)}, [s.name for s in commands]
    (lookup_wait,) = _children(trace, lookup, "fapiao.lookup.wait")
    (lookup_batch,) = _children(trace, lookup_wait, "fapiao.lookup.batch")
    (select,) = _database(_children(trace, lookup_batch))
    assert select.name == "SELECT" and "%(numbers)b" in select.attributes["db.statement"]
    assert _children(trace, lookup_batch, "fapiao.open")
    (record_wait,) = _children(trace, server, "fapiao.record.wait")
    (record_batch,) = _children(trace, record_wait, "fapiao.record.batch")
    assert _database(_children(trace, record_batch))

    _check_private(fleet)


ASYNC_CALLER = textwrap.dedent(
    """
    import asyncio, sys
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from fapiao_client import AsyncVerificationClient

    provider = TracerProvider(resource=Resource.create({"service.name": "async-caller"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)

    async def main():
        async with AsyncVerificationClient(sys.argv[1]) as client:
            with trace.get_tracer("caller").start_as_current_span("caller"):
                answer = await client.verify_invoice(invoice_code=sys.argv[2], invoice_number=sys.argv[3],
                                                     issue_date=sys.argv[4], amount_fen=100000)
        print(answer.outcome)

    asyncio.run(main())
    provider.shutdown()
    """
)


def test_an_asyncio_client_of_a_traced_application_carries_its_trace_into_the_fleet(fleet: TracedFleet) -> None:
    issued = fleet.fapiao("issue", "--file", str(fleet.invoice_file))
    date = "{year:04d}-{month:02d}-{day:02d}".format(**issued["issue_date"])
    caller = subprocess.run(
        [sys.executable, "-c", ASYNC_CALLER, fleet.target, issued["invoice_code"], issued["invoice_number"], date],
        capture_output=True, text=True, timeout=60, env=fleet.env,
    )  # fmt: skip
    assert caller.returncode == 0 and caller.stdout.strip() == "1", caller.stderr

    def arrived(spans: list[Span]) -> bool:
        caller = {s.trace_id for s in spans if s.service == "async-caller"}
        return {"envoy", "fapiao"} <= {s.service for s in spans if s.trace_id in caller and s.kind == SERVER}

    spans = fleet.receiver.wait_for(arrived)
    (root,) = [s for s in spans if s.service == "async-caller" and s.name == "caller"]
    (client,) = _children(spans, root, VERIFY, service="async-caller")
    (ingress,) = _children(spans, client, service="envoy")
    (upstream,) = _children(spans, ingress, service="envoy")
    (server,) = _children(spans, upstream, VERIFY, service="fapiao")
    assert server.trace_id == root.trace_id and server.attributes["fapiao.verification.outcome"] == "MATCH"
    _check_private(fleet)


def test_traced_streams_still_work_and_a_batch_is_traced_to_the_node(fleet: TracedFleet, tmp_path: Path) -> None:
    issued = fleet.fapiao("issue", "--file", str(fleet.invoice_file))
    date = "{year:04d}-{month:02d}-{day:02d}".format(**issued["issue_date"])
    rows = tmp_path / "batch.csv"
    rows.write_text(f"code,number,date,amount\n{issued['invoice_code']},{issued['invoice_number']},{date},1000.00\n")
    batch = subprocess.run(
        [str(fapiao_executable()), "verify-batch", str(rows), "--target", fleet.target],
        capture_output=True, text=True, timeout=60, env=fleet.env,
    )  # fmt: skip
    assert batch.returncode == 0 and "MATCH" in batch.stdout, batch.stderr
    # A blocking watch has no client span (its stream must keep cancel()), but runs and ends as without tracing.
    # (At the node itself: through Envoy, a watch cut by its own deadline may end INTERNAL, traced or not.)
    watch = subprocess.run(
        [str(fapiao_executable()), "watch", "--tax-id", issued["seller"]["tax_id"], "--count", "1", "--timeout", "1",
         "--target", fleet.node],
        capture_output=True, text=True, timeout=60, env=fleet.env,
    )  # fmt: skip
    assert watch.returncode == 124, watch.stderr

    def arrived(spans: list[Span]) -> bool:
        return any(s.service == "envoy" for s in spans if s.trace_id in _batch_traces(spans)) and any(
            s.service == "fapiao" and s.name == BATCH for s in spans
        )

    spans = fleet.receiver.wait_for(arrived)
    (trace_id,) = _batch_traces(spans)
    server = _through_envoy([s for s in spans if s.trace_id == trace_id], "verify-batch", BATCH)
    assert server.attributes["rpc.grpc.status_code"] == 0
    (lookup,) = _children(spans, server, "fapiao.cache.lookup_many")
    assert lookup.attributes["fapiao.cache.keys"] == 1
    _check_private(fleet)


BATCH = "/fapiao.v1.VerificationService/BatchVerifyInvoices"


def _batch_traces(spans: list[Span]) -> set[str]:
    return {s.trace_id for s in spans if s.service == "fapiao-cli" and s.name == "fapiao verify-batch"}
