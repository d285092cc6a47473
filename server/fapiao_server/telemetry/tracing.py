"""OpenTelemetry tracing for a worker: a server span per RPC (health checks excluded) continuing the caller's
trace, a child span per PostgreSQL statement and per Redis command, and the register's own spans (spans.py),
exported as configured.

Configured the standard way: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the service (``fapiao`` when
neither does), OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG choose the sampler (parentbased_always_on when
unset: a sampled caller is traced end to end, an unsampled one not at all), OTEL_EXPORTER_OTLP_* say where
spans go, OTEL_BSP_* how they are batched, OTEL_SDK_DISABLED=true turns it all off. FAPIAO_OTEL_EXPORTER is the
switch: with ``none`` (the default) the SDK is not even imported, and nothing is installed or patched.

Upkeep (health probes, sweeps, the audit writer, LISTEN) is not traced: only a call may start a trace
(CallsOnly), so a fleet's traces are its calls and not a trace every two seconds per worker."""

from __future__ import annotations

import contextlib
import inspect
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from importlib import metadata
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import trace
from opentelemetry.trace import Span

from . import spans
from .rpc import HEALTH, SERVER_ERRORS, final_status

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler, SamplingResult
    from opentelemetry.trace import Link, SpanKind, TraceState
    from opentelemetry.util.types import Attributes

DEFAULT_SERVICE_NAME = "fapiao"


class Tracing:
    """What start_tracing installed, undone by ``shutdown()`` (which also exports the spans still queued)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider

    def shutdown(self) -> None:
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        spans.disable()
        PsycopgInstrumentor().uninstrument()
        RedisInstrumentor().uninstrument()
        self.provider.shutdown()


def start_tracing(exporter: str) -> tuple[list[grpc.aio.ServerInterceptor], Tracing | None]:
    """Interceptors to install (outermost first) and what to shut down; nothing at all when tracing is off, so
    an untraced fleet pays nothing for it."""
    if exporter == "none" or os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return [], None
    from opentelemetry.instrumentation.grpc import aio_server_interceptor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.trace import TracerProvider, sampling
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # The sampler OTEL_TRACES_SAMPLER names (the SDK's own parsing; parentbased_always_on when unset).
    configured = sampling._get_from_env_or_default()
    ids = PlannedTraceIds()
    provider = TracerProvider(resource=service_resource(), sampler=calls_only(configured), id_generator=ids)
    provider.add_span_processor(BatchSpanProcessor(_exporter(exporter)))
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)  # for libraries that trace through the global provider
    # Statement text with its placeholders only: the instrumentation's default is not to capture parameters
    # (they carry names, addresses, bank accounts); said here so that no one turns it on by accident. No
    # sqlcommenter: it would change every statement's text and defeat the server's prepared statements.
    PsycopgInstrumentor().instrument(tracer_provider=provider, capture_parameters=False, enable_commenter=False)
    # Commands are recorded as "GET ?" / "EVALSHA ? ? ?": the instrumentation never records arguments.
    RedisInstrumentor().instrument(tracer_provider=provider)
    spans.enable(provider.get_tracer("fapiao_server"))
    server_spans = aio_server_interceptor(tracer_provider=provider)  # (SampledCalls leaves out health checks)
    return [SampledCalls(configured, ids, server_spans)], Tracing(provider)


def service_resource() -> Resource:
    """OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES as given; where they say nothing, ``fapiao``, this worker
    (host and process id, so a span says which worker of which node served it) and the installed version."""
    from opentelemetry.sdk.resources import (
        SERVICE_INSTANCE_ID,
        SERVICE_NAME,
        SERVICE_VERSION,
        OTELResourceDetector,
        Resource,
    )

    given = OTELResourceDetector().detect().attributes
    ours = {SERVICE_NAME: DEFAULT_SERVICE_NAME, SERVICE_INSTANCE_ID: f"{socket.gethostname()}-{os.getpid()}"}
    with contextlib.suppress(metadata.PackageNotFoundError):
        ours[SERVICE_VERSION] = metadata.version("fapiao")
    return Resource.create().merge(Resource({key: value for key, value in ours.items() if key not in given}))


def calls_only(sampler: Sampler) -> Sampler:
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
    from opentelemetry.trace import SpanKind

    class CallsOnly(Sampler):
        """``sampler``'s decision, except that a span with no parent starts a trace only if it is a call's
        server span: statements and commands of upkeep (or of anything else outside a call) are dropped."""

        def should_sample(
            self,
            parent_context: Context | None,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Attributes = None,
            links: Sequence[Link] | None = None,
            trace_state: TraceState | None = None,
        ) -> SamplingResult:
            if kind is not SpanKind.SERVER and not trace.get_current_span(parent_context).get_span_context().is_valid:
                return SamplingResult(Decision.DROP)
            return sampler.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return f"CallsOnly{{{sampler.get_description()}}}"

    return CallsOnly()


def _exporter(kind: str) -> SpanExporter:
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers and TLS from the standard OTEL_EXPORTER_OTLP_* variables


# The trace id a call's sampling was decided with (SampledCalls), for the SDK to give its server span.
_PLANNED_TRACE_ID: ContextVar[int] = ContextVar("fapiao_planned_trace_id", default=0)


if TYPE_CHECKING:
    from opentelemetry.sdk.trace.id_generator import IdGenerator as _IdGenerator
else:
    # At runtime a plain class, so that importing this module does not import the SDK (tracing off imports none
    # of it); the provider only calls the methods. The checker still sees, and checks, an IdGenerator.
    _IdGenerator = object


class PlannedTraceIds(_IdGenerator):
    """The SDK's id generator (it calls generate_trace_id, generate_span_id and is_trace_id_random): random ids,
    as the SDK's own, except that a call's server span gets the trace id SampledCalls decided its sampling with,
    so that a ratio sampler's decision (a function of the trace id) comes out the same both times."""

    def __init__(self) -> None:
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        return self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        planned = _PLANNED_TRACE_ID.get()
        if planned:
            _PLANNED_TRACE_ID.set(0)
            return planned
        return self._random.generate_trace_id()

    def is_trace_id_random(self) -> bool:
        return True


class SampledCalls(grpc.aio.ServerInterceptor):
    """The one tracing interceptor. It decides, before any span exists, whether the call will be sampled: the
    configured sampler, on the caller's trace context and the trace id the call will get. A picked call goes
    through the gRPC instrumentation's interceptor (``instrumented``, its server span) and CallSpans. Any other
    call skips both and runs with instrumentation suppressed, so that neither the psycopg and Redis
    instrumentations nor the register's own spans do any work for it: with 1% of calls sampled, the other 99%
    cost next to nothing (docs/performance.md, "Observability"). Its log lines still name the caller's trace,
    which stays current. Health checks are never traced."""

    def __init__(self, sampler: Sampler, ids: PlannedTraceIds, instrumented: grpc.aio.ServerInterceptor) -> None:
        from opentelemetry import context, propagate
        from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY

        self._sampler, self._ids, self._instrumented = sampler, ids, instrumented
        self._call_spans = CallSpans()
        self._context, self._extract = context, propagate.extract
        self._untraced = _SUPPRESS_INSTRUMENTATION_KEY

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        context = self._context
        # A context attached here is left attached on purpose: this runs in the call's own task, as its handler
        # will, and the task (with its context) ends with the call.
        method = handler_call_details.method
        if method.startswith(HEALTH):
            context.attach(context.set_value(self._untraced, True))
            return await continuation(handler_call_details)
        carrier = {key: value for key, value in handler_call_details.invocation_metadata or () if type(value) is str}
        parent = self._extract(carrier, context=context.get_current())
        caller = trace.get_current_span(parent).get_span_context()
        trace_id = caller.trace_id if caller.is_valid else self._ids.generate_trace_id()
        if self._sampler.should_sample(parent, trace_id, method, trace.SpanKind.SERVER).decision.is_sampled():
            if not caller.is_valid:
                _PLANNED_TRACE_ID.set(trace_id)

            async def with_call_spans(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
                return await self._call_spans.intercept_service(continuation, details)

            return await self._instrumented.intercept_service(with_call_spans, handler_call_details)
        context.attach(context.set_value(self._untraced, True, parent))
        return await continuation(handler_call_details)


class CallSpans(grpc.aio.ServerInterceptor):
    """Runs just inside the instrumentation's interceptor, whose server span is current here: makes that span
    the call's (spans.annotate_call) and records the status the call ended with. The instrumentation learns a
    status only from context.abort() and set_code(); the register answers errors with abort_with_status(), which
    it does not see, so without this every refused or failed call would read as OK."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(HEALTH):
            return handler
        return _wrapped(handler)


def _finished(span: Span, context: grpc.aio.ServicerContext, failure: BaseException | None) -> None:
    code = final_status(context, failure)
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code in SERVER_ERRORS:
        span.set_status(trace.Status(trace.StatusCode.ERROR, code.name))


def _unary(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        span = trace.get_current_span()
        token, failure = spans.bind_call(span), None
        try:
            return await behavior(request, context)
        except BaseException as error:
            failure = error
            raise
        finally:
            spans.unbind_call(token)
            _finished(span, context, failure)

    return call


def _streaming(behavior: Callable[..., Any]) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):  # it answers with context.write()
        return _unary(behavior)

    async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        span = trace.get_current_span()
        token, failure = spans.bind_call(span), None
        try:
            async for response in behavior(request, context):
                yield response
        except BaseException as error:
            failure = error
            raise
        finally:
            # A stream abandoned mid-way may be closed from another context, where the token does not belong.
            with contextlib.suppress(ValueError):
                spans.unbind_call(token)
            _finished(span, context, failure)

    return call


def _wrapped(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    kinds = {"request_deserializer": handler.request_deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary), **kinds)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(_streaming(handler.unary_stream), **kinds)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(_unary(handler.stream_unary), **kinds)
    return grpc.stream_stream_rpc_method_handler(_streaming(handler.stream_stream), **kinds)
