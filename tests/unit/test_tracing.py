"""Tracing's own decisions, with spans kept in memory: which spans may start a trace, what names the service, how
a coalesced batch's span connects to the calls it serves, the status a call's span ends with, and when `fapiao`
commands trace."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

from fapiao_client.cli.tracing import exporters_wanted
from fapiao_server.coalescing import Coalescer
from fapiao_server.domain.errors import NotFound, Unavailable
from fapiao_server.telemetry import spans
from fapiao_server.telemetry.tracing import CallSpans, calls_only, service_resource
from fapiao_server.transport.errors import unary_errors


@pytest.fixture
def recorded() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A provider as the server makes it (calls only, parent-based), spans kept in memory, our spans enabled."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=calls_only(ParentBased(ALWAYS_ON)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans.enable(provider.get_tracer("test"))
    try:
        yield provider, exporter
    finally:
        spans.disable()
        provider.shutdown()


def test_only_a_call_starts_a_trace(recorded: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = recorded
    tracer = provider.get_tracer("test")
    tracer.start_span("SELECT", kind=trace.SpanKind.CLIENT).end()  # upkeep: a statement outside any call
    tracer.start_span("fapiao.cache.lookup").end()
    with tracer.start_as_current_span("/fapiao.v1.VerificationService/VerifyInvoice", kind=trace.SpanKind.SERVER):
        tracer.start_span("SELECT", kind=trace.SpanKind.CLIENT).end()
    assert sorted(s.name for s in exporter.get_finished_spans()) == [
        "/fapiao.v1.VerificationService/VerifyInvoice",
        "SELECT",
    ]
    assert "CallsOnly{ParentBased" in provider.sampler.get_description()


def test_the_service_is_named_as_configured_and_fapiao_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    named = service_resource().attributes
    assert named["service.name"] == "fapiao" and named["service.instance.id"]
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=register,deployment.environment=staging")
    assert service_resource().attributes["service.name"] == "register"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "fapiao-beijing")
    configured = service_resource().attributes
    assert configured["service.name"] == "fapiao-beijing" and configured["deployment.environment"] == "staging"


async def test_a_batch_reads_in_its_first_calls_trace_and_is_linked_from_the_others(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = recorded
    tracer = provider.get_tracer("test")
    release = asyncio.Event()

    async def process(items: list[int]) -> list[int]:
        await release.wait()
        with tracer.start_as_current_span("INSERT", kind=trace.SpanKind.CLIENT):
            return [item * 2 for item in items]

    batches: Coalescer[int, int] = Coalescer(process, max_batch=10, traced_as="fapiao.test")

    async def call(number: int) -> list[int]:
        with tracer.start_as_current_span(f"call {number}", kind=trace.SpanKind.SERVER):
            return await batches.submit([number])

    first = asyncio.create_task(call(1))  # its batch starts at once and waits for `release`
    await asyncio.sleep(0.01)
    later = [asyncio.create_task(call(n)) for n in (2, 3)]  # these queue for the next batch
    await asyncio.sleep(0.01)
    release.set()
    assert [await first, *[await task for task in later]] == [[2], [4], [6]]

    by_name = {s.name: s for s in exporter.get_finished_spans() if not s.name.startswith("fapiao.test")}
    waits = {s.parent.span_id: s for s in exporter.get_finished_spans() if s.name == "fapiao.test.wait"}
    batch_spans = [s for s in exporter.get_finished_spans() if s.name == "fapiao.test.batch"]
    assert len(batch_spans) == 2
    calls = {n: waits[by_name[f"call {n}"].context.span_id] for n in (1, 2, 3)}
    alone, shared = sorted(batch_spans, key=lambda s: s.attributes["fapiao.batch.calls"])
    # The first call's batch is its own child; the second batch is the child of call 2's wait and links call 3's.
    assert alone.parent.span_id == calls[1].context.span_id and alone.context.trace_id == calls[1].context.trace_id
    assert shared.parent.span_id == calls[2].context.span_id
    assert [link.context.span_id for link in shared.links] == [calls[3].context.span_id]
    assert [link.context.span_id for link in calls[3].links] == [shared.context.span_id]
    assert calls[3].attributes["fapiao.batch.lead"] is False and calls[2].attributes["fapiao.batch.lead"] is True
    assert shared.attributes["fapiao.batch.size"] == 2 and calls[3].attributes["fapiao.batch.queued_ms"] > 0
    # The statements of each batch are children of that batch's span, in the leading call's trace.
    inserts = [s for s in exporter.get_finished_spans() if s.name == "INSERT"]
    assert sorted(s.parent.span_id for s in inserts) == sorted(s.context.span_id for s in batch_spans)


async def test_an_untraced_fleet_opens_no_span_and_keeps_no_context() -> None:
    assert not spans.active()
    assert spans.join("fapiao.test") is None
    batches: Coalescer[int, int] = Coalescer(lambda items: asyncio.sleep(0, items), max_batch=10, traced_as="x")
    assert await batches.submit([1, 2]) == [1, 2]


def _method(error: Exception | None) -> grpc.GenericRpcHandler:
    """One method that answers as the register's servicers do: a domain error becomes its status through
    abort_with_status()."""

    @unary_errors
    async def call(self: object, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        spans.annotate_call("fapiao.test", "annotated")
        if error is not None:
            raise error
        return request

    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: call(None, request, context))
    return grpc.method_handlers_generic_handler("test.Calls", {"Call": handler})


@pytest.mark.parametrize(
    ("error", "code", "failed"),
    [(None, grpc.StatusCode.OK, False), (NotFound("no such thing"), grpc.StatusCode.NOT_FOUND, False),
     (Unavailable("database away"), grpc.StatusCode.UNAVAILABLE, True)],
)  # fmt: skip
async def test_a_calls_span_ends_with_the_status_the_caller_got(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
    error: Exception | None,
    code: grpc.StatusCode,
    failed: bool,
) -> None:
    provider, exporter = recorded
    server = grpc.aio.server(interceptors=[aio_server_interceptor(tracer_provider=provider), CallSpans()])
    server.add_generic_rpc_handlers((_method(error),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) if error else contextlib.nullcontext():
                await channel.unary_unary("/test.Calls/Call")(b"hello")
    finally:
        await server.stop(None)
    (span,) = exporter.get_finished_spans()
    assert span.kind is trace.SpanKind.SERVER and span.attributes["rpc.grpc.status_code"] == code.value[0]
    assert span.attributes["fapiao.test"] == "annotated"
    assert (span.status.status_code is trace.StatusCode.ERROR) is failed
    if error is not None:
        assert span.attributes["fapiao.error.reason"] == error.reason  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ],
)
def test_fapiao_commands_trace_when_the_otel_variables_say_where_to(env: dict[str, str], wanted: list[str]) -> None:
    assert exporters_wanted(env) == wanted
