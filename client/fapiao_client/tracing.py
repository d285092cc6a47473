"""Client spans for the SDK's calls, with the caller's trace carried to the register (the ``traceparent``
header), once the application has set up OpenTelemetry; nothing otherwise.

"Set up" means an OpenTelemetry SDK tracer provider is installed (``trace.set_tracer_provider``) before the
client is made. The SDK never imports OpenTelemetry itself: an application that has not imported it has not set
it up, and pays nothing. The spans come from opentelemetry-instrumentation-grpc's client interceptors, installed
with ``pip install 'fapiao[otel]'``; if the application traces but that extra is missing, the clients work
untraced and say so once."""

from __future__ import annotations

import sys
import warnings
from typing import Any

# A blocking WatchInvoices call is left untraced: the instrumentation hands back a plain generator for a response
# stream, without the call's cancel(), which a watch needs to stop. (The asyncio clients trace it.)
_UNTRACED_BLOCKING = "WatchInvoices"
_warned = False


def configured() -> bool:
    """Whether the application has installed an OpenTelemetry tracer provider."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return False
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def _instrumentation() -> Any:
    global _warned
    try:
        from opentelemetry.instrumentation import grpc as instrumentation
    except ImportError:
        if not _warned:
            _warned = True
            warnings.warn(
                "OpenTelemetry is set up but opentelemetry-instrumentation-grpc is missing: fapiao calls are not "
                "traced (pip install 'fapiao[otel]')",
                RuntimeWarning,
                stacklevel=3,
            )
        return None
    return instrumentation


def trace_blocking(channel: Any) -> Any:
    """``channel`` with client spans and trace propagation, when tracing is set up."""
    if not configured() or (instrumentation := _instrumentation()) is None:
        return channel
    if instrumentation.GrpcInstrumentorClient().is_instrumented_by_opentelemetry:
        return channel  # every channel the application opens is traced already
    from opentelemetry.instrumentation.grpc import filters
    from opentelemetry.instrumentation.grpc.grpcext import intercept_channel

    interceptor = instrumentation.client_interceptor(filter_=filters.negate(filters.method_name(_UNTRACED_BLOCKING)))
    return intercept_channel(channel, interceptor)


def asyncio_interceptors() -> list[Any]:
    """Interceptors for a grpc.aio channel that give its calls client spans, when tracing is set up."""
    if not configured() or (instrumentation := _instrumentation()) is None:
        return []
    if instrumentation.GrpcAioInstrumentorClient().is_instrumented_by_opentelemetry:
        return []
    return list(instrumentation.aio_client_interceptors())
