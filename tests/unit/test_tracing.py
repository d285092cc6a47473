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
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from fapiao_client.cli.tracing import exporters_wanted
from fapiao_server.coalescing import Coalescer
from fapiao_server.domain.errors import NotFound, Unavailable
from fapiao_server.telemetry import spans
from fapiao_server.telemetry.tracing import CallSpans, PlannedTraceIds, SampledCalls, calls_only, service_resource
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


async def test_a_batch_says_how_long_it_lingered_so_a_calls_queued_time_can_be_split(
    recorded: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = recorded
    release = asyncio.Event()

    async def process(items: list[int]) -> list[int]:
        await release.wait()
        return items

    batches: Coalescer[int, int] = Coalescer(process, max_batch=10, linger=0.05, traced_as="fapiao.test")
    tracer = provider.get_tracer("test")

    async def call(number: int) -> list[int]:
        with tracer.start_as_current_span(f"call {number}", kind=trace.SpanKind.SERVER):
            return await batches.submit([number])

    first = asyncio.create_task(call(1))  # from idle: goes at once, never lingers
    await asyncio.sleep(0.01)
    second = asyncio.create_task(call(2))  # arrives during the first batch: the next one lingers
    await asyncio.sleep(0.01)
    release.set()
    assert (await first, await second) == ([1], [2])

    alone, following = sorted(
        (s for s in exporter.get_finished_spans() if s.name == "fapiao.test.batch"), key=lambda s: s.start_time
    )
    assert alone.attributes["fapiao.batch.linger_ms"] == 0
    assert following.attributes["fapiao.batch.linger_ms"] >= 45
    (wait,) = [
        s for s in exporter.get_finished_spans() if s.name == "fapiao.test.wait" and s.start_time > alone.start_time
    ]
    # Its queued time is the rest of the batch before it plus the linger.
    assert wait.attributes["fapiao.batch.queued_ms"] >= wait.attributes["fapiao.batch.linger_ms"] >= 45


async def test_a_call_cancelled_before_its_batch_leaves_the_batch_alone(
    recorded: tuple[TracerProvider, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    provider, exporter = recorded
    tracer, release = provider.get_tracer("test"), asyncio.Event()

    async def process(items: list[int]) -> list[int]:
        await release.wait()
        return items

    batches: Coalescer[int, int] = Coalescer(process, max_batch=10, traced_as="fapiao.test")

    async def call(number: int) -> list[int]:
        with tracer.start_as_current_span(f"call {number}", kind=trace.SpanKind.SERVER):
            return await batches.submit([number])

    first = asyncio.create_task(call(1))
    await asyncio.sleep(0.01)
    gone, kept = asyncio.create_task(call(2)), asyncio.create_task(call(3))  # both queue for the next batch
    await asyncio.sleep(0.01)
    gone.cancel()  # its caller went away: its wait span ends now, before its batch starts
    release.set()
    assert (await first, await kept) == ([1], [3])
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")], caplog.records
    second = max(
        (s for s in exporter.get_finished_spans() if s.name == "fapiao.test.batch"), key=lambda s: s.start_time
    )
    assert second.attributes["fapiao.batch.size"] == 2 and second.attributes["fapiao.batch.calls"] == 1


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


async def test_only_the_calls_the_sampler_picks_do_any_tracing_work_and_they_are_traced_whole() -> None:
    """SampledCalls decides before any span exists; the SDK must then agree with it (the same trace id), and an
    unpicked call must run with instrumentation off, yet with its caller's trace current for its log lines."""
    exporter, ids = InMemorySpanExporter(), PlannedTraceIds()
    sampler = ParentBased(TraceIdRatioBased(0.5))
    provider = TracerProvider(sampler=calls_only(sampler), id_generator=ids)  # as start_tracing makes it
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans.enable(provider.get_tracer("test"))
    seen: list[tuple[bool, int]] = []  # per call: instrumentation on, the current trace id

    async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        with spans.span("fapiao.inner"):
            seen.append((is_instrumentation_enabled(), trace.get_current_span().get_span_context().trace_id))
        return request

    handler = grpc.unary_unary_rpc_method_handler(call)
    server = grpc.aio.server(
        interceptors=[SampledCalls(sampler, ids, aio_server_interceptor(tracer_provider=provider))]
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Calls", {"Call": handler}),))
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for _ in range(20):  # health checks: never traced, whatever the sampler says
                await channel.unary_unary("/grpc.health.v1.Health/Check")(b"x")
            assert not any(on for on, _ in seen)
            del seen[:]
            method = channel.unary_unary("/test.Calls/Call")
            for _ in range(200):  # no caller trace: the ratio decides
                await method(b"x")
            roots = len(seen)
            for sampled in (True, False):  # a caller's decision is followed
                context = trace.set_span_in_context(trace.NonRecordingSpan(trace.SpanContext(
                    trace_id=ids.generate_trace_id(), span_id=ids.generate_span_id(), is_remote=True,
                    trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED if sampled else 0),
                )))  # fmt: skip
                carrier: dict[str, str] = {}
                TraceContextTextMapPropagator().inject(carrier, context)
                for _ in range(5):
                    await method(b"x", metadata=tuple(carrier.items()))
                assert all(on is sampled for on, _ in seen[-5:])
                expected = trace.get_current_span(context).get_span_context().trace_id
                assert all(trace_id == expected for _, trace_id in seen[-5:])  # the caller's trace, either way
    finally:
        await server.stop(None)
        spans.disable()
        provider.shutdown()
    picked = sum(on for on, _ in seen[:roots])
    assert 50 <= picked <= 150  # about half (binomial, 200 calls: 7 standard deviations either way)
    finished = exporter.get_finished_spans()
    servers = [s for s in finished if s.kind is trace.SpanKind.SERVER]
    # Every call picked, and only those, has its server span and its own span under it: the SDK agreed each time.
    assert len(servers) == picked + 5 and len(finished) == 2 * len(servers)
    picked_ids = {trace_id for on, trace_id in seen if on}
    assert {s.context.trace_id for s in servers} == picked_ids


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
