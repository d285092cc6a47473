"""OpenTelemetry tracing: a server span per RPC (health checks excluded), exported as configured."""

from __future__ import annotations

import os
import socket

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter


def _exporter(kind: str) -> SpanExporter:
    if kind == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers and TLS from the standard OTEL_EXPORTER_OTLP_* variables


def start_tracing(exporter: str) -> tuple[list[grpc.aio.ServerInterceptor], TracerProvider | None]:
    """Interceptors to install and the provider to shut down; nothing at all when tracing is off, so an
    untraced fleet pays nothing for it."""
    if exporter == "none":
        return [], None
    resource = Resource.create(
        {"service.name": "fapiao", "service.instance.id": f"{socket.gethostname()}-{os.getpid()}"}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(_exporter(exporter)))
    trace.set_tracer_provider(provider)
    interceptor = aio_server_interceptor(tracer_provider=provider, filter_=filters.negate(filters.health_check()))
    return [interceptor], provider
