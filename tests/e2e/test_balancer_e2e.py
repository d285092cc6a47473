"""The fleet behind the balancer: deploy/envoy/envoy.yaml (addresses swapped for local ports) in front of two
real nodes, spreading calls over both, draining one on SIGTERM without failing a call, and carrying the
lifecycle's changes and long-lived watch streams."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from fapiao.v1 import invoice_pb2 as pb_invoice
from fapiao.v1 import invoice_service_pb2 as pb_invoice_service
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc
from fapiao.v1 import lifecycle_pb2 as pb_lifecycle
from fapiao.v1 import report_service_pb2 as pb_report
from fapiao.v1 import report_service_pb2_grpc as pb_report_grpc
from fapiao.v1 import verification_service_pb2 as pb
from fapiao.v1 import verification_service_pb2_grpc as pb_verification_grpc
from fapiao_client import FapiaoError, InvoiceClient, VerificationClient, batch_item, verify_request
from fapiao_server.domain.access import Role
from fapiao_server.domain.taxpayer import uscc_check_character
from fapiao_server.entrypoints.local_fleet.envoy import DRAIN_SCRIPT
from tests.conftest import Register
from tests.support.access import authorized
from tests.support.envoy import Envoy, require_envoy
from tests.support.fleet import issue_request, new_tax_id, pool_key
from tests.support.server import NO_QUOTAS, ServerProcess

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _node(database_url: str, redis_url: str, drain: str) -> ServerProcess:
    return ServerProcess(
        "--listen",
        "127.0.0.1:0",
        env={
            "FAPIAO_DATABASE_URL": database_url,
            "FAPIAO_REDIS_URL": redis_url,
            "FAPIAO_LOG_LEVEL": "WARNING",
            "FAPIAO_SHUTDOWN_DRAIN_DELAY_SECONDS": drain,
            **NO_QUOTAS,
        },
    ).start()


# drain.sh waits as long as Envoy's --drain-time-s at most (20 s as shipped); it ends sooner once no client is left.
DRAIN_SECONDS = 15


@pytest.fixture
def fleet(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[Envoy, list[ServerProcess]]]:
    require_envoy()
    nodes = [_node(database_url, redis_url, "6"), _node(database_url, redis_url, "6")]
    envoy = Envoy([node.address for node in nodes], tmp_path, drain_seconds=DRAIN_SECONDS)
    try:
        envoy.wait_until_healthy(2)
        yield envoy, nodes
    finally:
        envoy.stop()
        for node in nodes:
            node.stop()


def test_calls_are_spread_and_a_draining_node_fails_none(fleet, register: Register) -> None:  # type: ignore[no-untyped-def]
    envoy, nodes = fleet
    samples = register.samples("state = 1", limit=50)
    with VerificationClient(f"127.0.0.1:{envoy.port}") as client:
        for sample in samples:
            assert client.verify_invoice(**sample.request_fields()).outcome == pb.VERIFICATION_OUTCOME_MATCH
        served = {address: stats["rq_total"] for address, stats in envoy.host_stats().items()}
        assert all(count > 0 for count in served.values()), served
        nodes[0].terminate()
        calls, deadline = 0, time.monotonic() + 9
        while time.monotonic() < deadline:
            sample = samples[calls % len(samples)]
            assert client.verify_invoice(**sample.request_fields()).outcome == pb.VERIFICATION_OUTCOME_MATCH
            calls += 1
        assert nodes[0].wait(30) == 0
    assert calls > 50


def test_a_node_killed_mid_call_fails_no_read_of_a_plain_client(fleet, register: Register, verifier_key: str) -> None:  # type: ignore[no-untyped-def]
    """A SIGKILLed node resets the streams it was serving; Envoy repeats those reads on the other node, so even a
    client without retries of its own (a plain stub, as many integrations are) sees no failure."""
    envoy, nodes = fleet
    requests = [verify_request(**s.request_fields()) for s in register.samples("state = 1", limit=50)]
    failures: list[grpc.RpcError] = []
    calls = [0]
    stop = threading.Event()
    with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as opened:
        stub = pb_verification_grpc.VerificationServiceStub(authorized(opened, verifier_key))

        def caller() -> None:
            while not stop.is_set():
                try:
                    stub.VerifyInvoice(requests[calls[0] % len(requests)], timeout=10)
                except grpc.RpcError as error:
                    failures.append(error)
                calls[0] += 1

        # Enough callers that some calls are always in flight on the node when it dies.
        callers = [threading.Thread(target=caller, daemon=True) for _ in range(6)]
        for thread in callers:
            thread.start()
        time.sleep(2)
        before = calls[0]
        nodes[0].process.kill()  # type: ignore[union-attr]
        time.sleep(3)
        stop.set()
        for thread in callers:
            thread.join(15)
    assert before > 50 and calls[0] - before > 50, (before, calls[0])
    assert [f.code() for f in failures] == [], failures[:3]


def test_draining_envoy_moves_clients_off_and_lets_a_call_in_flight_finish(  # type: ignore[no-untyped-def]
    fleet, register: Register, verifier_key: str
) -> None:
    """Envoy's SIGTERM would cut the stream below off. Under drain.sh the next answer on the connection carries
    GOAWAY, the client takes its later calls to a new connection, the stream runs to its end, and once no client
    is left drain.sh ends Envoy, before the drain time runs out."""
    envoy, _nodes = fleet
    requests = [verify_request(**s.request_fields()) for s in register.samples("state = 1", limit=2)]
    outgoing: queue.Queue[pb.BatchVerifyInvoicesRequest | None] = queue.Queue()
    with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as opened:
        stub = pb_verification_grpc.VerificationServiceStub(authorized(opened, verifier_key))
        answers = stub.BatchVerifyInvoices(iter(outgoing.get, None), timeout=30)
        outgoing.put(pb.BatchVerifyInvoicesRequest(items=[batch_item(requests[0])]))
        _wait_for(lambda: envoy.counter("http.grpc_ingress.downstream_rq_active") == 1)
        started = time.monotonic()
        command = ["bash", str(DRAIN_SCRIPT), f"127.0.0.1:{envoy.admin}", str(DRAIN_SECONDS)]
        drainer = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert "is draining" in drainer.stdout.readline()  # type: ignore[union-attr]
        assert stub.VerifyInvoice(requests[1], timeout=10).outcome == pb.VERIFICATION_OUTCOME_MATCH
        assert envoy.counter("http.grpc_ingress.downstream_cx_drain_close") == 1  # that answer carried GOAWAY
        assert stub.VerifyInvoice(requests[1], timeout=10).outcome == pb.VERIFICATION_OUTCOME_MATCH
        assert envoy.counter("http.grpc_ingress.downstream_cx_total") == 2  # on a connection of its own
        outgoing.put(pb.BatchVerifyInvoicesRequest(items=[batch_item(requests[1])]))
        outgoing.put(None)
        results = [result for answer in answers for result in answer.results]
    assert [(r.index, r.verification.outcome) for r in results] == [
        (0, pb.VERIFICATION_OUTCOME_MATCH), (1, pb.VERIFICATION_OUTCOME_MATCH)
    ]  # fmt: skip
    assert drainer.wait(DRAIN_SECONDS + 10) == 0
    assert envoy.process.wait(10) == 0
    assert time.monotonic() - started < DRAIN_SECONDS


def _wait_for(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_lifecycle_goes_through_the_balancer_and_a_watch_outlives_unary_timeouts(fleet, new_key) -> None:  # type: ignore[no-untyped-def]
    """Changes reach a node through Envoy, and WatchInvoices has its own route: the 15 s timeout of unary calls
    would cut every watcher off; here a change made 16 s into the watch still arrives."""
    envoy, _nodes = fleet
    body = "91110108" + uuid.uuid4().hex[:9].upper().translate(str.maketrans("IOSVZ", "ABCDE"))
    seller = body + uscc_check_character(body)
    key = new_key(Role.TAXPAYER, tax_ids=[seller])
    with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as opened:
        channel = authorized(opened, key)
        stub = pb_grpc.InvoiceServiceStub(channel)
        invoice = stub.IssueInvoice(
            pb_invoice_service.IssueInvoiceRequest(
                request_id=str(uuid.uuid4()),
                invoice_type=pb_invoice.INVOICE_TYPE_VAT_GENERAL,
                seller=pb_invoice.Party(tax_id=seller, name="北京均衡测试有限公司"),
                buyer=pb_invoice.Party(name="张三"),
                lines=[
                    pb_invoice_service.IssueLine(item_name="*办公用品*纸", amount_fen=10000, tax_rate_basis_points=1300)
                ],
            ),
            timeout=10,
        ).invoice
        stream = stub.WatchInvoices(
            pb_invoice_service.WatchInvoicesRequest(invoice=pb_invoice_service.InvoiceSelector(id=invoice.id))
        )
        received: list[object] = []

        def read() -> None:  # the first answer (a cursor), a heartbeat at 15 s, then the event
            try:
                for response in stream:
                    received.append(response)
                    if response.events:
                        return
            except grpc.RpcError as error:
                received.append(error)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(16)
        stub.VoidInvoice(
            pb_invoice_service.VoidInvoiceRequest(
                request_id=str(uuid.uuid4()), invoice=pb_invoice_service.InvoiceSelector(id=invoice.id)
            ),
            timeout=10,
        )
        reader.join(10)
        stream.cancel()
        # Reports have a route of their own too (reads, retried); the voided invoice is counted.
        report = pb_report_grpc.ReportServiceStub(channel).SummarizeInvoices(
            pb_report.SummarizeInvoicesRequest(
                seller_tax_id=seller,
                start_date=invoice.issue_date,
                end_date=invoice.issue_date,
                group_by=[pb_report.INVOICE_GROUPING_STATE],
            ),
            timeout=10,
        )
    events = [event for response in received for event in response.events]  # type: ignore[attr-defined]
    assert [event.event_type for event in events] == [pb_lifecycle.INVOICE_EVENT_TYPE_VOIDED], received
    assert [(g.state, g.invoice_count, g.total_fen) for g in report.groups] == [
        (pb_invoice.INVOICE_STATE_VOIDED, 1, invoice.total_fen)
    ]


def test_a_tenants_file_of_bad_lines_ejects_no_node(fleet, database_url: str) -> None:  # type: ignore[no-untyped-def]
    """A file of hundreds of bad lines once made trailers too large for Envoy: it reset the upstream stream, the
    caller saw UNAVAILABLE, the SDK sent the call 5 times, and 6 such calls got a healthy node ejected (outlier
    detection counts a reset as a gateway failure). Now each call is INVALID_ARGUMENT at once, listing the first
    violations and how many more there are; nothing is retried, nothing ejected, and every node goes on serving."""
    envoy, nodes = fleet
    seller, buyer = new_tax_id(), new_tax_id("330106")
    ejected = "cluster.fapiao.outlier_detection.ejections_enforced_total"
    refusals: list[tuple[FapiaoError, float]] = []
    with InvoiceClient(f"127.0.0.1:{envoy.port}", token=pool_key(database_url)) as client:
        for _ in range(10):
            # 250 lines, each with a negative amount and a rate not in use: 500 violations, some 50 KB unbounded.
            bad = issue_request(pb_invoice.INVOICE_TYPE_VAT_SPECIAL, seller, buyer, amounts=[-1] * 250, rate=1700)
            started = time.monotonic()
            with pytest.raises(FapiaoError) as caught:
                client.issue_invoice(bad)
            refusals.append((caught.value, time.monotonic() - started))
        seen = ", ".join(f"{error.code.name} in {took:.2f} s" for error, took in refusals)
        seen += f"; nodes ejected: {envoy.counter(ejected)}"
        assert [error.code for error, _ in refusals] == [grpc.StatusCode.INVALID_ARGUMENT] * 10, seen
        for error, took in refusals:
            violations = error.field_violations
            assert 10 < len(violations) < 500 and violations[0].field == "lines[0].tax_rate_basis_points"
            assert violations[-1].field == "request" and "more invalid fields" in violations[-1].description
            assert took < 2, seen
        # Each call reached a node once: neither Envoy nor the SDK retried it.
        assert envoy.counter("cluster.fapiao.grpc.fapiao.v1.InvoiceService.IssueInvoice.total") == 10
        assert envoy.counter(ejected) == 0
        assert "failed_outlier_check" not in envoy.admin_get("/clusters")
        # Good calls still work, and on every node: issue until each one has served one.
        served = {address: stats["rq_total"] for address, stats in envoy.host_stats().items()}
        assert sorted(served) == sorted(node.address for node in nodes)
        for _ in range(30):
            good = issue_request(pb_invoice.INVOICE_TYPE_VAT_SPECIAL, seller, buyer)
            assert client.issue_invoice(good).total_fen == 11_300
            now = {address: stats["rq_total"] for address, stats in envoy.host_stats().items()}
            if all(now[address] > served[address] for address in served):
                break
        else:
            raise AssertionError(f"a node served no good call: {served} -> {now}")
    assert envoy.counter(ejected) == 0
