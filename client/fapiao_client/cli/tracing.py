"""`fapiao` commands traced from the standard OpenTelemetry variables, for an SRE following one command into the
fleet: a span for the command and a client span for each of its calls, whose ``traceparent`` the register and
Envoy continue.

On when OTEL_TRACES_EXPORTER names an exporter (``otlp``, ``console``; ``none`` is off) or, with it unset, when
OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT says where to send spans; OTEL_SDK_DISABLED=true
keeps it off. Everything else is the SDK's: OTEL_SERVICE_NAME (default ``fapiao-cli``),
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_* (OTLP over gRPC). Needs 'fapiao[otel]';
without it the command runs untraced and says so. Nothing here is imported unless tracing is on."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

DEFAULT_SERVICE_NAME = "fapiao-cli"
# A command that cannot reach the collector waits this long at most to hand over its spans, unless the
# OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT variables say otherwise (the SDK's own default is 10 s).
EXPORT_TIMEOUT_SECONDS = 2.0


def exporters_wanted(env: Mapping[str, str] = os.environ) -> list[str]:
    """The exporters the environment asks for; empty when tracing is off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [name.strip().lower() for name in env.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if named:
        return [name for name in named if name != "none"]
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return ["otlp"]
    return []


@contextlib.contextmanager
def traced(command: str, env: Mapping[str, str] = os.environ) -> Iterator[None]:
    """Run a client command in a span of its own, exported as the environment says; nothing when it says
    nothing. Spans still queued are handed over when the command ends."""
    wanted = exporters_wanted(env)
    if not wanted:
        yield
        return
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        print("fapiao: OTEL_* variables ask for tracing, but 'fapiao[otel]' is not installed; not tracing",
              file=sys.stderr)  # fmt: skip
        yield
        return
    given = OTELResourceDetector().detect().attributes
    defaults = {} if SERVICE_NAME in given else {SERVICE_NAME: DEFAULT_SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create().merge(Resource(defaults)))
    for name in wanted:
        exporter = _exporter(name, env)
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # the clients trace their calls once a provider is set (../tracing.py)
    try:
        with provider.get_tracer("fapiao_client.cli").start_as_current_span(f"fapiao {command}"):
            yield
    finally:
        provider.shutdown()


def _exporter(name: str, env: Mapping[str, str]) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)  # standard output is the command's answer (--json)
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        timed = env.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or env.get("OTEL_EXPORTER_OTLP_TIMEOUT")
        return OTLPSpanExporter() if timed else OTLPSpanExporter(timeout=EXPORT_TIMEOUT_SECONDS)
    print(f"fapiao: OTEL_TRACES_EXPORTER={name} is not supported here (otlp, console); ignoring it", file=sys.stderr)
    return None
