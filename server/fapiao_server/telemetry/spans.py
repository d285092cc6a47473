"""The spans and attributes the register's own code adds to a call's trace: its waits (coalesced lookups, group
commits), which cache tier answered, signing and sealing, and what the call was about (principal, invoice type,
verification outcome).

Every helper returns at once while tracing is off (one global lookup): ``tracing.start_tracing`` enables them,
so an untraced fleet pays a few function calls per RPC and installs nothing. No helper is ever given personal
data (names, addresses, phones, bank accounts) or a credential: attributes are ids, kinds, counts and outcomes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, suppress_instrumentation
from opentelemetry.trace import Link, Span, Tracer

_tracer: Tracer | None = None
_NOTHING: contextlib.nullcontext[None] = contextlib.nullcontext()
# The server span of the call being served, so attributes about the call land on it from however deep they are
# learnt (the cache tier is known three spans down).
_CALL: ContextVar[Span | None] = ContextVar("fapiao_call_span", default=None)


def enable(tracer: Tracer) -> None:
    global _tracer
    _tracer = tracer


def disable() -> None:
    global _tracer
    _tracer = None


def active() -> bool:
    return _tracer is not None


def _live() -> Tracer | None:
    """The tracer, unless tracing is off or the current call is one SampledCalls (tracing.py) left unsampled: then
    its instrumentation is suppressed, and so are the register's own spans."""
    if _tracer is None or not is_instrumentation_enabled():
        return None
    return _tracer


def span(name: str, attributes: dict[str, Any] | None = None) -> contextlib.AbstractContextManager[Span | None]:
    """A child of the current span for the block (the block's exceptions mark it failed), or nothing."""
    if (tracer := _live()) is None:
        return _NOTHING
    return tracer.start_as_current_span(name, attributes=attributes)


def note(key: str, value: str | bool | int | float) -> None:
    """Set an attribute on the current span (ours or an instrumentation's)."""
    if _live() is not None:
        trace.get_current_span().set_attribute(key, value)


def bind_call(call_span: Span) -> Token[Span | None]:
    return _CALL.set(call_span)


def unbind_call(token: Token[Span | None]) -> None:
    _CALL.reset(token)


def annotate_call(key: str, value: str | bool | int | float) -> None:
    """Set an attribute on the server span of the call being served (searchable per call in any backend)."""
    if _tracer is not None and (call_span := _CALL.get()) is not None:
        call_span.set_attribute(key, value)


def current_ids() -> tuple[str, str] | None:
    """The current trace id and span id in hex (as backends show them), for log lines; None when untraced."""
    if _tracer is None:
        return None
    found = trace.get_current_span().get_span_context()
    if not found.is_valid:
        return None
    return format(found.trace_id, "032x"), format(found.span_id, "016x")


class Joined:
    """One call's place in a coalesced batch (coalescing.Coalescer): the trace context it was submitted from,
    and for a traced batch its wait span, which lasts until the call has its result."""

    __slots__ = ("context", "since", "wait")

    def __init__(self, context: otel_context.Context, wait: Span | None) -> None:
        self.context = context
        self.wait = wait
        self.since = time.monotonic()


def join(batch_name: str | None) -> Joined | None:
    """Called where a call submits to a batch; None while tracing is off. ``batch_name`` None: the batch opens
    no spans of its own, but its work (Redis commands) still goes in the trace of the call that started it."""
    if (tracer := _live()) is None:
        return None
    here = otel_context.get_current()
    wait = None if batch_name is None else tracer.start_span(f"{batch_name}.wait", context=here)
    return Joined(here, wait)


def waiting(joined: Joined | None) -> contextlib.AbstractContextManager[Any]:
    """Around the call's wait for its batch: ends the wait span (failed if the wait raised)."""
    if joined is None or joined.wait is None:
        return _NOTHING
    return trace.use_span(joined.wait, end_on_exit=True)


def batch(
    batch_name: str | None, joined: Sequence[Joined | None], size: int, lingered: float = 0.0
) -> contextlib.AbstractContextManager[Any]:
    """Around one batch's work, in the batch's runner task: see _traced_batch. ``lingered``: the seconds the
    runner waited before taking this batch so that more calls would join it (part of every call's queued time)."""
    if _tracer is None:
        return _NOTHING
    present = [j for j in joined if j is not None]
    if not present:  # none of its calls is sampled: its statements are not worth a span either
        return suppress_instrumentation()
    if batch_name is None:
        return _attached(present[0].context)
    return _traced_batch(_tracer, batch_name, present, size, lingered)


@contextlib.contextmanager
def _attached(context: otel_context.Context) -> Iterator[None]:
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def _traced_batch(tracer: Tracer, batch_name: str, calls: list[Joined], size: int, lingered: float) -> Iterator[None]:
    """One batch serves many calls, each in its own trace. Its span (and the SQL under it) is a child of the
    first sampled call's wait span, so that call's trace reads whole, top to bottom, like an uncoalesced call;
    it links to every other call's wait span, and each of those links back to it, so any call's trace leads to
    the batch that served it in one click. Had the batch been a trace of its own linked from every call, no
    call's trace would show its own SQL; a child of every call cannot be (a span has one parent)."""
    started = time.monotonic()
    # Every call that joined traced, unless tracing started amid the batch; less those whose wait is over: a call
    # cancelled (its caller gone) before its batch started has ended its wait span, which takes nothing more.
    calls = [j for j in calls if j.wait is not None and j.wait.is_recording()]
    if not calls:
        with suppress_instrumentation():
            yield
        return
    lead = next((j for j in calls if j.wait is not None and j.wait.get_span_context().trace_flags.sampled), calls[0])
    assert lead.wait is not None
    links = [Link(j.wait.get_span_context()) for j in calls if j.wait is not None and j is not lead]
    attributes = {
        "fapiao.batch.size": size,
        "fapiao.batch.calls": len(calls),
        "fapiao.batch.linger_ms": round(lingered * 1000, 3),
    }
    name = f"{batch_name}.batch"
    with (
        _attached(trace.set_span_in_context(lead.wait, lead.context)),
        tracer.start_as_current_span(name, links=links, attributes=attributes) as batch_span,
    ):
        here = batch_span.get_span_context()
        for call in calls:
            if call.wait is None:
                continue
            call.wait.set_attributes(
                {
                    **attributes,
                    "fapiao.batch.queued_ms": round((started - call.since) * 1000, 3),
                    "fapiao.batch.lead": call is lead,
                }
            )
            if call is not lead:
                call.wait.add_link(here)
        yield
