"""The invoice clients against a scripted fake register (a real gRPC server in this process): a change is resent
with the same request id, refusals are not resent, and a watch resumes from the last cursor it handed out."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from fapiao.v1 import invoice_pb2, lifecycle_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc
from fapiao_client import AsyncInvoiceClient, FapiaoError, InvoiceClient

NUMBER = "25312000000000000001"
Connection = tuple[list[pb.WatchInvoicesResponse], grpc.StatusCode | None]  # what one watch call sends, how it ends


class FakeRegister(pb_grpc.InvoiceServiceServicer):
    """Answers VoidInvoice after failing as scripted, and each WatchInvoices call as scripted."""

    def __init__(self) -> None:
        self.void_requests: list[pb.VoidInvoiceRequest] = []
        self.void_failures: list[grpc.StatusCode] = []
        self.watch_requests: list[pb.WatchInvoicesRequest] = []
        self.watch_script: list[Connection] = []

    def VoidInvoice(self, request: pb.VoidInvoiceRequest, context: grpc.ServicerContext) -> pb.VoidInvoiceResponse:
        self.void_requests.append(request)
        if self.void_failures:
            context.abort(self.void_failures.pop(0), "scripted failure")
        return pb.VoidInvoiceResponse(invoice=invoice_pb2.Invoice(invoice_number=NUMBER, state=2))

    def WatchInvoices(
        self, request: pb.WatchInvoicesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchInvoicesResponse]:
        self.watch_requests.append(request)
        responses, end = self.watch_script.pop(0) if self.watch_script else ([], grpc.StatusCode.UNAVAILABLE)
        yield from responses
        if end is not None:
            context.abort(end, "scripted end")
        while context.is_active():  # a live stream with nothing more to say
            time.sleep(0.01)


@pytest.fixture
def register() -> Iterator[tuple[FakeRegister, str]]:
    fake = FakeRegister()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_InvoiceServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield fake, f"127.0.0.1:{port}"
    server.stop(0)


def _events(*cursors: str) -> list[lifecycle_pb2.InvoiceEvent]:
    return [lifecycle_pb2.InvoiceEvent(id=cursor, cursor=cursor) for cursor in cursors]


def _answer(cursor: str, *event_cursors: str) -> pb.WatchInvoicesResponse:
    return pb.WatchInvoicesResponse(events=_events(*event_cursors), cursor=cursor)


# --- changes -------------------------------------------------------------------------------------------------


def test_a_change_is_resent_with_the_same_request_id(register: tuple[FakeRegister, str]) -> None:
    fake, address = register
    fake.void_failures = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED]
    with InvoiceClient(address) as client:
        voided = client.void_invoice(NUMBER, reason="wrong buyer")
        assert voided.state == invoice_pb2.INVOICE_STATE_VOIDED
        first_ids = {request.request_id for request in fake.void_requests}
        client.void_invoice(NUMBER)
    assert len(fake.void_requests) == 4
    (request_id,) = first_ids
    assert uuid.UUID(request_id).version == 4
    assert fake.void_requests[-1].request_id != request_id, "each intended change gets its own id"
    assert fake.void_requests[0].invoice.invoice_number == NUMBER and fake.void_requests[0].reason == "wrong buyer"


def test_a_given_request_id_is_the_one_sent_and_resent(register: tuple[FakeRegister, str]) -> None:
    fake, address = register
    fake.void_failures = [grpc.StatusCode.UNAVAILABLE] * 5
    mine = str(uuid.uuid4())
    with InvoiceClient(address) as client, pytest.raises(FapiaoError) as failed:
        client.void_invoice(NUMBER, request_id=mine)
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE
    assert [request.request_id for request in fake.void_requests] == [mine] * 5


@pytest.mark.parametrize("code", [grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND])
def test_refusals_are_not_resent(register: tuple[FakeRegister, str], code: grpc.StatusCode) -> None:
    fake, address = register
    fake.void_failures = [code]
    with InvoiceClient(address) as client, pytest.raises(FapiaoError) as refused:
        client.void_invoice(NUMBER)
    assert refused.value.code == code and len(fake.void_requests) == 1


async def test_the_async_client_resends_with_the_same_request_id(register: tuple[FakeRegister, str]) -> None:
    fake, address = register
    fake.void_failures = [grpc.StatusCode.ABORTED, grpc.StatusCode.UNAVAILABLE]
    async with AsyncInvoiceClient(address) as client:
        voided = await client.void_invoice(pb.InvoiceSelector(id="12"))
    assert voided.state == invoice_pb2.INVOICE_STATE_VOIDED
    assert len({request.request_id for request in fake.void_requests}) == 1 and len(fake.void_requests) == 3
    assert fake.void_requests[0].invoice.id == "12"


# --- watching ------------------------------------------------------------------------------------------------


def test_a_broken_watch_resumes_after_the_last_cursor(register: tuple[FakeRegister, str]) -> None:
    fake, address = register
    fake.watch_script = [
        ([_answer("c0"), _answer("c1", "c1")], grpc.StatusCode.UNAVAILABLE),
        ([_answer("c1"), _answer("c3", "c2", "c3")], None),
    ]
    with InvoiceClient(address) as client:
        watch = client.watch_invoices(tax_id="91110108MA01ABCD0B", cursor="c-start", timeout=20)
        seen = []
        for event in watch:
            seen.append(event.id)
            if len(seen) == 3:
                break
        watch.close()
    assert seen == ["c1", "c2", "c3"]
    assert [request.cursor for request in fake.watch_requests] == ["c-start", "c1"]
    assert all(request.tax_id == "91110108MA01ABCD0B" for request in fake.watch_requests)
    assert watch.cursor == "c3"


def test_the_cursor_is_after_the_last_event_handed_out(register: tuple[FakeRegister, str]) -> None:
    fake, address = register
    fake.watch_script = [([_answer("c0"), _answer("c3", "c1", "c2", "c3")], None)]
    with InvoiceClient(address) as client:
        watch = client.watch_invoices(NUMBER, timeout=20)
        events = iter(watch)
        assert [next(events).id, next(events).id] == ["c1", "c2"]
        assert watch.cursor == "c2", "c3 was not handed out yet; resuming from c2 must deliver it"
        watch.close()
    assert fake.watch_requests[0].invoice.invoice_number == NUMBER and fake.watch_requests[0].cursor == ""


def test_a_watch_ends_quietly_at_its_timeout(register: tuple[FakeRegister, str]) -> None:
    fake, address = register
    fake.watch_script = [([_answer("c0")], None)]
    started = time.monotonic()
    with InvoiceClient(address) as client:
        watch = client.watch_invoices(tax_id="91110108MA01ABCD0B", timeout=0.5)
        heartbeats = list(watch.responses())
    assert time.monotonic() - started < 5
    assert [answer.cursor for answer in heartbeats] == ["c0"] and watch.cursor == "c0"


def test_close_ends_a_watch_from_another_thread(register: tuple[FakeRegister, str]) -> None:
    fake, address = register
    fake.watch_script = [([_answer("c0")], None)]
    with InvoiceClient(address) as client:
        watch = client.watch_invoices(tax_id="91110108MA01ABCD0B")
        threading.Timer(0.3, watch.close).start()
        assert list(watch) == []


def test_a_watch_that_cannot_go_on_raises(register: tuple[FakeRegister, str]) -> None:
    fake, address = register
    fake.watch_script = [([], grpc.StatusCode.NOT_FOUND)]
    with InvoiceClient(address) as client, pytest.raises(FapiaoError) as refused:
        list(client.watch_invoices(NUMBER, timeout=20))
    assert refused.value.code == grpc.StatusCode.NOT_FOUND and len(fake.watch_requests) == 1

    fake.watch_requests.clear()  # unscripted calls fail with UNAVAILABLE, without an answer
    with InvoiceClient(address) as client, pytest.raises(FapiaoError) as unavailable:
        list(client.watch_invoices(NUMBER, timeout=20, reconnect_attempts=2))
    assert unavailable.value.code == grpc.StatusCode.UNAVAILABLE and len(fake.watch_requests) == 3

    with InvoiceClient(address) as client, pytest.raises(FapiaoError):
        list(client.watch_invoices(NUMBER, timeout=0.5))  # time runs out while failing: the failure, not silence


async def test_the_async_watch_resumes_after_the_last_cursor(register: tuple[FakeRegister, str]) -> None:
    fake, address = register
    fake.watch_script = [
        ([_answer("c0"), _answer("c1", "c1")], grpc.StatusCode.UNAVAILABLE),
        ([_answer("c2", "c2")], None),
    ]
    async with AsyncInvoiceClient(address) as client:
        watch = client.watch_invoices(tax_id="91110108MA01ABCD0B", timeout=20)
        seen = []
        async for event in watch:
            seen.append(event.id)
            if len(seen) == 2:
                break
        watch.close()
    assert seen == ["c1", "c2"] and [request.cursor for request in fake.watch_requests] == ["", "c1"]


async def test_close_ends_an_async_watch_quietly_from_another_task(register: tuple[FakeRegister, str]) -> None:
    """Closing cancels the call under way; the task iterating the watch must see the end, not a CancelledError."""
    fake, address = register
    fake.watch_script = [([_answer("c0")], None)]
    async with AsyncInvoiceClient(address) as client:
        watch = client.watch_invoices(tax_id="91110108MA01ABCD0B")

        async def follow() -> list[str]:
            return [answer.cursor async for answer in watch.responses()]

        following = asyncio.create_task(follow())
        await asyncio.sleep(0.3)
        watch.close()
        assert await asyncio.wait_for(following, 5) == ["c0"]


def test_a_watch_reset_by_a_proxy_resumes_after_the_last_cursor(register: tuple[FakeRegister, str]) -> None:
    """A balancer whose upstream dies mid-stream resets the caller's stream (RST_STREAM INTERNAL_ERROR), which gRPC
    reports as INTERNAL; the watch is a read resumed from its cursor, so it goes on as after UNAVAILABLE."""
    fake, address = register
    fake.watch_script = [
        ([_answer("c0"), _answer("c1", "c1")], grpc.StatusCode.INTERNAL),
        ([_answer("c2", "c2")], None),
    ]
    with InvoiceClient(address) as client:
        watch = client.watch_invoices(tax_id="91110108MA01ABCD0B", timeout=20)
        seen = []
        for event in watch:
            seen.append(event.id)
            if len(seen) == 2:
                break
        watch.close()
    assert seen == ["c1", "c2"] and [request.cursor for request in fake.watch_requests] == ["", "c1"]


class _Ended(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "stream ended"

    def trailing_metadata(self) -> tuple[()]:
        return ()


def test_a_stream_cut_at_its_deadline_by_a_proxy_ends_the_watch_quietly() -> None:
    """Envoy enforces the call's deadline by resetting the stream (INTERNAL), racing the client's own
    DEADLINE_EXCEEDED: a watch that was answering until its time ran out ended as planned. One that never answered
    was failing, and says so."""
    from fapiao_client.watching import _Resumption

    state = _Resumption(pb.WatchInvoicesRequest(), timeout=0.01, reconnect_attempts=5)
    state.connecting()
    state.answered()
    time.sleep(0.02)
    state.finish(_Ended(grpc.StatusCode.INTERNAL))  # quietly

    state.connecting()  # a new connection that never answered before the time ran out
    with pytest.raises(FapiaoError) as failing:
        state.finish(_Ended(grpc.StatusCode.UNAVAILABLE))
    assert failing.value.code == grpc.StatusCode.UNAVAILABLE

    with pytest.raises(FapiaoError):  # time left: a cut stream is not the end of the watch
        _Resumption(pb.WatchInvoicesRequest(), timeout=60, reconnect_attempts=5).finish(
            _Ended(grpc.StatusCode.INTERNAL)
        )
