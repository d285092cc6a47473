"""Following WatchInvoices: when the stream breaks (a worker restarts, a connection is recycled, a deploy rolls)
the watch reconnects and resumes after the last cursor it saw, so the watcher misses nothing and sees nothing
twice. The register sends a heartbeat with a fresh cursor now and then, so the cursor moves on even when nothing
happens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc

from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import lifecycle_pb2

from .errors import FapiaoError

# Only a broken stream is worth another try; anything else (a bad cursor, no such invoice) would fail again. A
# balancer whose node dies mid-stream resets the caller's stream (RST_STREAM INTERNAL_ERROR, which gRPC reports
# as INTERNAL): Envoy does so. Resuming is a read from the cursor, so a real INTERNAL costs a few bounded retries.
RECONNECT_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL})
FIRST_DELAY_SECONDS = 0.2
MAX_DELAY_SECONDS = 5.0
# Told before each pause: the failure (None: the stream ended without one), the seconds until the next attempt,
# and how many attempts in a row have failed.
OnReconnect = Callable[[FapiaoError | None, float, int], None]


class _Resumption:
    """What a watch keeps between connections: the cursor, its deadline, and the failures since the last answer."""

    def __init__(
        self,
        request: pb.WatchInvoicesRequest,
        timeout: float | None,
        reconnect_attempts: int | None,
        give_up_after: float | None = None,
        on_reconnect: OnReconnect | None = None,
    ) -> None:
        self.request = request
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.attempts = reconnect_attempts
        self.give_up_after = give_up_after
        self.on_reconnect = on_reconnect
        self.failures = 0
        self.failing_since: float | None = None  # when the register last stopped answering
        self.closed = False
        self.answering = False  # the current connection has answered at least once

    def next_request(self) -> pb.WatchInvoicesRequest:
        request = pb.WatchInvoicesRequest()
        request.CopyFrom(self.request)
        return request

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def over(self) -> bool:
        return self.closed or self.remaining() == 0.0

    def move_to(self, cursor: str) -> None:
        if cursor:
            self.request.cursor = cursor

    def connecting(self) -> None:
        self.answering = False

    def answered(self) -> None:
        self.failures = 0
        self.failing_since = None
        self.answering = True

    def finish(self, error: grpc.RpcError | None) -> None:
        """The watch is over: quietly if it was closed or its time is up, with the error if it was failing. A
        stream that was answering when its time ran out ended with its deadline, whatever the code: a proxy that
        enforces the deadline may reset the stream instead (Envoy's reset arrives as INTERNAL)."""
        if error is None or self.closed or error.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
            return
        if error.code() in RECONNECT_CODES and self.answering and self.remaining() == 0.0:
            return
        raise FapiaoError.from_rpc_error(error)

    def delay(self, error: grpc.RpcError | None) -> float:
        """Seconds to wait before reconnecting after ``error`` (None: the stream ended without one), or raise."""
        if error is not None and error.code() not in RECONNECT_CODES:
            raise FapiaoError.from_rpc_error(error)
        now = time.monotonic()
        self.failures += 1
        self.failing_since = self.failing_since if self.failing_since is not None else now
        failure = FapiaoError.from_rpc_error(error) if error is not None else None
        out_of_attempts = self.attempts is not None and self.failures > self.attempts
        out_of_time = self.give_up_after is not None and now - self.failing_since >= self.give_up_after
        if out_of_attempts or out_of_time:
            if failure is not None:
                raise failure
            raise FapiaoError(grpc.StatusCode.UNAVAILABLE, "the register keeps ending the watch without an answer")
        delay = min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** min(self.failures - 1, 10))
        remaining = self.remaining()
        if self.give_up_after is not None:  # the last try comes when the outage reaches the bound, not after it
            delay = min(delay, max(0.0, self.failing_since + self.give_up_after - now))
        delay = delay if remaining is None else min(delay, remaining)
        if self.on_reconnect is not None:
            self.on_reconnect(failure, delay, self.failures)
        return delay


class _Watch:
    def __init__(self, stub: Any, request: pb.WatchInvoicesRequest, *, timeout: float | None,
                 reconnect_attempts: int | None, metadata: Any, wait_for_ready: bool,
                 give_up_after: float | None = None, on_reconnect: OnReconnect | None = None) -> None:  # fmt: skip
        self._stub = stub
        self._state = _Resumption(request, timeout, reconnect_attempts, give_up_after, on_reconnect)
        # A callable: each reconnection sends the credentials current then (a session's token is renewed).
        self._metadata = metadata
        self._wait_for_ready = wait_for_ready
        self._call: Any = None

    @property
    def cursor(self) -> str:
        return self._state.request.cursor

    def close(self) -> None:
        """End the watch: the iteration (in this or another thread or task) stops quietly."""
        self._state.closed = True
        if self._call is not None:
            self._call.cancel()


class InvoiceWatch(_Watch):
    """The transitions of one invoice, or of every invoice of a tax id, as they happen.

    Iterate it for InvoiceEvent messages (or :meth:`responses` for the raw answers, heartbeats included).
    ``cursor`` is the position after the last event (or answer) handed to you: store it once you have handled
    that event, and pass it as ``cursor`` to a later watch to go on from there. A broken stream (UNAVAILABLE, or
    INTERNAL from a stream a proxy reset) is resumed from that cursor, pausing 0.2 s, then twice as long each
    time up to 5 s, for up to ``reconnect_attempts`` attempts in a row without an answer (None: no limit) and,
    with ``give_up_after``, for at most that many seconds without an answer; ``on_reconnect(error, delay,
    attempt)`` is told before each pause. Other failures raise FapiaoError. With a ``timeout`` the iteration
    ends once that many seconds have passed (raising the last error instead if the register was not answering).
    :meth:`close` ends it from another thread or task.
    """

    def responses(self) -> Iterator[pb.WatchInvoicesResponse]:
        for response in self._stream():
            self._state.move_to(response.cursor)
            yield response

    def __iter__(self) -> Iterator[lifecycle_pb2.InvoiceEvent]:
        for response in self._stream():
            for event in response.events:
                self._state.move_to(event.cursor)
                yield event

    def _stream(self) -> Iterator[pb.WatchInvoicesResponse]:
        state = self._state
        error = None
        while not state.over():
            self._call = self._stub.WatchInvoices(
                state.next_request(),
                timeout=state.remaining(),
                metadata=self._metadata(),
                wait_for_ready=self._wait_for_ready,
            )
            error = None
            state.connecting()
            try:
                for response in self._call:
                    state.answered()
                    yield response
                    state.move_to(response.cursor)  # the caller is done with it
            except grpc.RpcError as failure:
                error = failure
            finally:
                self._call.cancel()
            if not state.over():
                time.sleep(state.delay(error))
        state.finish(error)


class AsyncInvoiceWatch(_Watch):
    """:class:`InvoiceWatch` for asyncio: ``async for event in client.watch_invoices(...)``."""

    async def responses(self) -> AsyncIterator[pb.WatchInvoicesResponse]:
        async for response in self._stream():
            self._state.move_to(response.cursor)
            yield response

    async def __aiter__(self) -> AsyncIterator[lifecycle_pb2.InvoiceEvent]:
        async for response in self._stream():
            for event in response.events:
                self._state.move_to(event.cursor)
                yield event

    async def _stream(self) -> AsyncIterator[pb.WatchInvoicesResponse]:
        state = self._state
        error = None
        while not state.over():
            self._call = self._stub.WatchInvoices(
                state.next_request(),
                timeout=state.remaining(),
                metadata=self._metadata(),
                wait_for_ready=self._wait_for_ready,
            )
            error = None
            state.connecting()
            try:
                async for response in self._call:
                    state.answered()
                    yield response
                    state.move_to(response.cursor)  # the caller is done with it
            except grpc.RpcError as failure:
                error = failure
            except asyncio.CancelledError:
                # grpc.aio reports a call cancelled by close() as a cancelled task; only the caller's own
                # cancellation is one.
                if not state.closed:
                    raise
            finally:
                self._call.cancel()
            if not state.over():
                await asyncio.sleep(state.delay(error))
        state.finish(error)
