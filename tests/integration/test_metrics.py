"""The metrics' parts on real ports and a real database: the RPC histogram as a gRPC server records it (each
call's final status, whatever ended it), a node's page merging its workers' pages over HTTP (and saying which
did not answer), and the lifecycle counted from what its transactions commit."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fapiao_server.domain.access import Principal, Role
from fapiao_server.domain.errors import FailedPrecondition
from fapiao_server.domain.invoice import Party
from fapiao_server.domain.issuing import IssueRequest, LineRequest
from fapiao_server.domain.lifecycle import ReversalItem
from fapiao_server.domain.red_letter import RedLetterReason, TradeParty
from fapiao_server.services.lifecycle import LifecycleService
from fapiao_server.storage.issuing import PostgresIssuer
from fapiao_server.storage.lifecycle import PostgresLifecycle
from fapiao_server.telemetry.metrics import WorkerMetrics
from fapiao_server.telemetry.node_metrics import NodeMetrics
from tests.support.invoices import new_request_id, tax_id
from tests.support.keys import keyring_of
from tests.support.services import free_port

SERVICE = "test.Probe"


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for n, found, v in samples(text) if n == name and labels.items() <= found.items())


# --- RPCs ------------------------------------------------------------------------------------------------------


async def _ok(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def _not_found(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    raise AssertionError("abort returns no more")


async def _broken(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise RuntimeError("a bug")


async def _slow(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.sleep(5)
    return request


async def _stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for _ in range(3):
        yield request


async def _set_code(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
    return request


def _methods() -> grpc.GenericRpcHandler:
    unary = {name: grpc.unary_unary_rpc_method_handler(handler)
             for name, handler in (("Ok", _ok), ("NotFound", _not_found), ("Broken", _broken), ("Slow", _slow),
                                   ("SetCode", _set_code))}  # fmt: skip
    return grpc.method_handlers_generic_handler(
        SERVICE, {**unary, "Stream": grpc.unary_stream_rpc_method_handler(_stream)}
    )


async def test_every_call_is_recorded_with_the_status_it_ended_with() -> None:
    metrics = WorkerMetrics()
    server = grpc.aio.server(interceptors=metrics.interceptors())
    server.add_generic_rpc_handlers((_methods(),))
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:

            async def call(method: str, timeout: float = 5.0) -> grpc.StatusCode:
                try:
                    await channel.unary_unary(f"/{SERVICE}/{method}")(b"x", timeout=timeout)
                except grpc.aio.AioRpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

            assert [await call("Ok"), await call("Ok")] == [grpc.StatusCode.OK] * 2
            assert await call("NotFound") == grpc.StatusCode.NOT_FOUND
            assert await call("Broken") == grpc.StatusCode.UNKNOWN
            assert await call("SetCode") == grpc.StatusCode.INVALID_ARGUMENT
            assert await call("Slow", timeout=0.2) == grpc.StatusCode.DEADLINE_EXCEEDED
            assert await call("NoSuchMethod") == grpc.StatusCode.UNIMPLEMENTED
            assert [m async for m in channel.unary_stream(f"/{SERVICE}/Stream")(b"x")] == [b"x"] * 3
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        await asyncio.sleep(0.3)  # the slow call's handler learns of its cancellation
        text = generate_latest(metrics.registry).decode()
    finally:
        await server.stop(None)
        metrics.shutdown()
    counts = {
        (labels["rpc_method"], labels["rpc_response_status_code"], labels.get("error_type", "")): v
        for name, labels, v in samples(text)
        if name == "rpc_server_call_duration_seconds_count"
    }
    assert counts == {
        (f"{SERVICE}/Ok", "OK", ""): 2,
        (f"{SERVICE}/NotFound", "NOT_FOUND", ""): 1,  # the caller's: no error.type
        (f"{SERVICE}/Broken", "UNKNOWN", "UNKNOWN"): 1,
        (f"{SERVICE}/SetCode", "INVALID_ARGUMENT", ""): 1,
        (f"{SERVICE}/Slow", "DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED"): 1,
        (f"{SERVICE}/Stream", "OK", ""): 1,
    }  # no health check, and no series for a method nobody registered
    assert {labels["rpc_system_name"] for name, labels, _ in samples(text) if name.startswith("rpc_")} == {"grpc"}
    assert value(text, "rpc_server_call_duration_seconds_bucket", rpc_method=f"{SERVICE}/Slow", le="0.1") == 0
    assert value(text, "rpc_server_call_duration_seconds_bucket", rpc_method=f"{SERVICE}/Slow", le="0.25") == 1


# --- a node's one page -------------------------------------------------------------------------------------------


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()


def test_a_node_page_merges_its_workers_and_counts_those_that_answered() -> None:
    workers = [WorkerMetrics(worker=0), WorkerMetrics(worker=1)]
    node = NodeMetrics("127.0.0.1:0", workers=3)
    try:
        for index, worker in enumerate(workers):
            node.worker_at(index, worker.serve())
            for _ in range(index + 1):
                worker.rpc_duration.labels(str(index), "grpc", "test.Probe/Ok", "OK", "").observe(0.002)
        node.worker_at(2, free_port())  # a worker that is restarting: nothing listens there
        node.worker_restarted()
        text = _get(f"http://127.0.0.1:{node.port}/metrics")
    finally:
        node.close()
        for worker in workers:
            worker.shutdown()
    assert text.count("# TYPE rpc_server_call_duration_seconds histogram") == 1  # one family, both workers' series
    by_worker = {
        labels["fapiao_worker"]: v
        for name, labels, v in samples(text)
        if name == "rpc_server_call_duration_seconds_count"
    }
    assert by_worker == {"0": 1, "1": 2}
    assert value(text, "fapiao_node_workers", state="configured") == 3
    assert value(text, "fapiao_node_workers", state="reporting") == 2
    assert value(text, "fapiao_node_worker_restarts_total") == 1


def test_a_node_whose_metrics_address_is_taken_does_not_start() -> None:
    node = NodeMetrics("127.0.0.1:0", workers=1)
    try:
        with pytest.raises(OSError):
            NodeMetrics(f"127.0.0.1:{node.port}", workers=1)
    finally:
        node.close()


# --- the lifecycle -----------------------------------------------------------------------------------------------


async def test_lifecycle_changes_are_counted_once_they_commit(pool: Any) -> None:
    metrics = WorkerMetrics()
    service = LifecycleService(
        *metrics.counting_lifecycle(PostgresLifecycle(pool, keyring_of(pool)), PostgresIssuer(pool, keyring_of(pool)))
    )
    seller, buyer = tax_id("110108"), tax_id("310115")
    actor = Principal("metrics-tester", Role.TAXPAYER, frozenset({seller, buyer}))

    async def issue(kind: int) -> Any:
        request = IssueRequest(
            invoice_type=kind,
            seller=Party(seller, "北京测试科技有限公司"),
            buyer=Party(buyer, "上海采购有限公司"),
            lines=(LineRequest("*计算机设备*服务器", 100_000, 1300),),
        )
        return await service.issue(request, actor=actor, request_id=new_request_id())

    paper = await issue(4)
    again = new_request_id()
    await service.void(paper.id, reason="wrong buyer", actor=actor, request_id=again)
    await service.void(paper.id, reason="wrong buyer", actor=actor, request_id=again)  # a retry changes nothing
    with pytest.raises(FailedPrecondition):  # refused, rolled back: counts nothing
        await service.void(paper.id, reason="twice", actor=actor, request_id=new_request_id())
    original = await issue(1)
    opened = await service.create_form(
        original.id, reason=RedLetterReason.GOODS_RETURNED, initiator=TradeParty.SELLER,
        items=(ReversalItem(1, 10_000),), remarks="", actor=actor, request_id=new_request_id(),
    )  # fmt: skip
    await service.issue_red(opened.id, actor=actor, request_id=new_request_id())
    text = generate_latest(metrics.registry).decode()
    metrics.shutdown()
    assert value(text, "fapiao_invoices_issued_total", colour="blue", invoice_type="04") == 1
    assert value(text, "fapiao_invoices_issued_total", colour="blue", invoice_type="01") == 1
    assert value(text, "fapiao_invoices_issued_total", colour="red", invoice_type="01") == 1
    assert value(text, "fapiao_invoices_voided_total") == 1
    assert value(text, "fapiao_invoices_reversed_total", extent="partial") == 1
    assert value(text, "fapiao_invoices_reversed_total", extent="full") == 0
    assert value(text, "fapiao_red_letter_forms_total", state=opened.state.name) == 1
    assert value(text, "fapiao_red_letter_forms_total") == 1
