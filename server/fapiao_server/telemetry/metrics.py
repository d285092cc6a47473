"""The metrics of one worker, rendered in Prometheus's text format (docs/observability.md, "Metrics").

Nothing on the hot path goes through the OpenTelemetry SDK's synchronous instruments: a record copies, checks and
hashes its attributes and allocates a measurement each time (7 us alone, 20 us and more inside a busy worker), and
the Python API has no bound instruments. Measured on warm-cache VerifyInvoice (bench/observability.py), one such record
per call cost about 10% more CPU per call, and so did the two per group commit. So:

- Every count (verifications, cache lookups, quota, access and admission refusals, Redis fallbacks, lifecycle
  changes) is a plain integer incremented in place, by the component that owns it or by a thin decorator of its
  port, and reaches the SDK through observable instruments, read only when Prometheus scrapes. So is every gauge
  (connection pool, calls in flight and queued, open watches, the audit queue).
- The histograms recorded per call or per batch (``rpc.server.call.duration``, the semantic conventions' RPC
  server histogram; group-commit sizes and waits) are prometheus_client histograms bound once per label set
  (0.7 us a record, no allocation), named as the OpenTelemetry exporter names its instruments.
- The event loop's lag, four times a second, is an SDK histogram.

The worker's event loop only writes; the scrape runs in the HTTP server's thread and only reads.

Labels are bounded by construction: method names of registered handlers only, status names, enum names, fplx
codes, a pool name. No invoice number, tax id, principal or peer ever becomes a label.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import grpc
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.exemplar import AlwaysOffExemplarFilter
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, disable_created_metrics, start_http_server
from prometheus_client import Histogram as BoundHistogram

from ..coalescing import BatchObserver
from ..domain.errors import QuotaExceeded
from ..domain.events import EventType, NewEvent
from ..domain.invoice import Invoice, InvoiceState
from ..domain.invoice_types import InvoiceType
from ..domain.quotas import INVOICE_VERIFICATIONS_PER_DAY, RATE_LIMIT
from ..domain.red_letter import FormState
from ..domain.verification import VerificationRecord
from .rpc import HEALTH, SERVER_ERRORS, final_status

METER = "fapiao_server"
# The resource attribute naming the worker within its node; the reader turns it into a label on every series
# (fapiao_worker), so the node's merged /metrics keeps each worker's series apart.
WORKER_ATTRIBUTE = "fapiao.worker"
# The semantic conventions' boundaries for rpc.server.call.duration, with 1 and 2.5 ms in front: a warm
# VerifyInvoice answers in about a millisecond, and the latency SLO's threshold (0.1 s) must be a boundary.
RPC_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
GROUP_COMMIT_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 5000)
GROUP_COMMIT_WAIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
EVENT_LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
EVENT_LOOP_PROBE_SECONDS = 0.25
# Access refusals are counted by ErrorInfo reason, a fixed set in the code; past this many a new one is "_OTHER".
MAX_REASONS = 32


class Counts:
    """Counts by key (a tuple of enum members and such): one int per key, incremented in place, and an
    observable instrument's callback that reports them with attributes made from each key (once per key).
    ``keys`` are reported from the start, at zero, so rates and alerts have a series before the first event."""

    def __init__(self, attributes: Callable[[Any], Mapping[str, str]], keys: Iterable[Hashable] = ()) -> None:
        self._attributes = attributes
        self._counts: dict[Hashable, int] = dict.fromkeys(keys, 0)
        self._labels: dict[Hashable, dict[str, str]] = {}

    def add(self, key: Hashable, amount: int = 1) -> None:
        counts = self._counts
        counts[key] = counts.get(key, 0) + amount

    def known(self, key: Hashable) -> bool:
        return key in self._counts

    def __len__(self) -> int:
        return len(self._counts)

    def observe(self, _options: CallbackOptions) -> list[Observation]:
        observations = []
        for key, count in tuple(self._counts.items()):  # a snapshot: the event loop may add a key meanwhile
            labels = self._labels.get(key)
            if labels is None:
                labels = self._labels[key] = dict(self._attributes(key))
            observations.append(Observation(count, labels))
        return observations


def _type_code(kind: InvoiceType | None) -> str:
    return kind.code if kind is not None else "unknown"


class WorkerMetrics:
    """The instruments of one worker, its own Prometheus registry, and the hooks the composition root installs
    (each hands back what it wraps). ``worker`` is the worker's index within its node."""

    enabled = True

    def __init__(self, worker: int = 0) -> None:
        # prometheus_client's histograms would add a _created series each; OpenTelemetry's have none.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        self.worker = str(worker)
        reader = PrometheusMetricReader(
            disable_target_info=True,  # the node's job/instance labels say where a series comes from
            scope_info_enabled=False,  # one meter: otel_scope_* labels would only lengthen every series
            resource_attribute_filter=lambda key: key == WORKER_ATTRIBUTE,
            registry=self.registry,
        )
        self._provider = MeterProvider(
            metric_readers=[reader],
            resource=Resource.create({"service.name": "fapiao", WORKER_ATTRIBUTE: str(worker)}),
            # Prometheus's text format carries no exemplars: sampling them would be work for nothing.
            exemplar_filter=AlwaysOffExemplarFilter(),
        )
        self._meter = self._provider.get_meter(METER)
        self._server: Any = None
        meter = self._meter
        # rpc.server.call.duration (unit s), its attributes as labels, as the OpenTelemetry exporter names them.
        self.rpc_duration = BoundHistogram(
            "rpc_server_call_duration_seconds",
            "Duration of incoming RPCs (streams: their whole life), by method and status",
            ["fapiao_worker", "rpc_system_name", "rpc_method", "rpc_response_status_code", "error_type"],
            buckets=RPC_DURATION_BUCKETS,
            registry=self.registry,
        )
        self._batch_size = BoundHistogram(
            "fapiao_group_commit_size",
            "Items per group commit (verification records, issued invoices)",
            ["fapiao_worker", "batcher"],
            buckets=GROUP_COMMIT_SIZE_BUCKETS,
            registry=self.registry,
        )
        self._batch_wait = BoundHistogram(
            "fapiao_group_commit_wait_seconds",
            "How long the oldest call of a group commit waited for it to start",
            ["fapiao_worker", "batcher"],
            buckets=GROUP_COMMIT_WAIT_BUCKETS,
            registry=self.registry,
        )
        self._loop_lag = meter.create_histogram(
            "fapiao.event_loop.lag",
            unit="s",
            description="How late the worker's event loop ran a timer: time every other callback waited too",
            explicit_bucket_boundaries_advisory=EVENT_LOOP_LAG_BUCKETS,
        )
        self.verifications = Counts(
            lambda key: {"outcome": key[0].name, "invoice_type": _type_code(key[1]), "channel": key[2].name}
        )
        meter.create_observable_counter(
            "fapiao.verifications",
            [self.verifications.observe],
            unit="{verification}",
            description="Verifications recorded (each is answered once its record is), by outcome, asked invoice "
            "type and channel",
        )
        self.issued = Counts(lambda key: {"invoice_type": _type_code(key[0]), "colour": key[1]})
        meter.create_observable_counter(
            "fapiao.invoices.issued",
            [self.issued.observe],
            unit="{invoice}",
            description="Invoices issued: blue (IssueInvoice) and red (IssueRedInvoice), by invoice type",
        )
        self.voided = Counts(lambda _: {}, keys=[()])
        meter.create_observable_counter(
            "fapiao.invoices.voided", [self.voided.observe], unit="{invoice}", description="Invoices voided"
        )
        self.reversed = Counts(lambda key: {"extent": key}, keys=["partial", "full"])
        meter.create_observable_counter(
            "fapiao.invoices.reversed",
            [self.reversed.observe],
            unit="{invoice}",
            description="Blue invoices reversed by a red one, by whether the reversal left anything (partial)",
        )
        self.forms = Counts(lambda state: {"state": state.name}, keys=list(FormState))
        meter.create_observable_counter(
            "fapiao.red_letter.forms",
            [self.forms.observe],
            unit="{form}",
            description="Red-letter forms entering each state (created into their first state, then each change)",
        )
        self.rate_limited = 0  # the gate's RATE_LIMIT refusals; the daily limit's are the verification use case's
        self.access_refusals = Counts(lambda reason: {"reason": reason})
        meter.create_observable_counter(
            "fapiao.access.refusals",
            [self.access_refusals.observe],
            unit="{call}",
            description="Calls the access gate refused for their credentials or role, by ErrorInfo reason",
        )

    # -- hooks for the composition root --------------------------------------------------------------------------

    def interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        """To install outermost, so refusals by admission control and the access gate are timed too."""
        return [RpcMetrics(self.rpc_duration, self.worker)]

    def group_commit(self, batcher: str) -> BatchObserver:
        """The observer of one Coalescer's batches (``batcher`` names it: verification_records, issue)."""
        size = self._batch_size.labels(self.worker, batcher).observe
        wait = self._batch_wait.labels(self.worker, batcher).observe

        def observe(items: int, waited: float, _processing: float) -> None:
            size(items)
            wait(waited)

        return observe

    def counting_records(self, records: Any) -> Any:
        """The verification records' store (PostgresVerificationRecords), counting what it commits."""
        return _CountedRecords(records, self.verifications)

    def counting_lifecycle(self, store: Any, issuer: Any) -> tuple[Any, Any]:
        """The lifecycle service's store and issuer, counting what their transactions commit."""
        return _CountedLifecycleStore(store, self), _CountedIssuer(issuer, self.issued)

    def counting_refusals(self, on_refusal: Callable[[Any], None] | None) -> Callable[[Any], None]:
        """The access gate's refusal callback, counting each refusal (then passing it on)."""
        access = self.access_refusals

        def count(refusal: Any) -> None:
            error = refusal.error
            if isinstance(error, QuotaExceeded):
                self.rate_limited += 1
            else:
                reason = error.reason
                access.add(reason if access.known(reason) or len(access) < MAX_REASONS else "_OTHER")
            if on_refusal is not None:
                on_refusal(refusal)

        return count

    def observe(
        self,
        *,
        pool: Any,
        limiter: Any,
        verification: Any,
        audit: Any,
        feed: Any,
        cache: Any | None = None,
        quota_store: Any | None = None,
    ) -> None:
        """Report these parts' own counts and sizes, read at each scrape."""
        meter = self._meter
        pool_name = {"db.client.connection.pool.name": "fapiao"}
        used, idle = (
            {**pool_name, "db.client.connection.state": "used"},
            {**pool_name, "db.client.connection.state": "idle"},
        )

        def connections(_options: CallbackOptions) -> list[Observation]:
            stats = pool.get_stats()
            size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
            return [Observation(size - available, used), Observation(available, idle)]

        meter.create_observable_up_down_counter(
            "db.client.connection.count",
            [connections],
            unit="{connection}",
            description="PostgreSQL connections of the worker's pool, by state (used, idle)",
        )
        meter.create_observable_up_down_counter(
            "db.client.connection.max",
            [lambda _: [Observation(pool.get_stats().get("pool_max", 0), pool_name)]],
            unit="{connection}",
            description="The most connections the pool may open (FAPIAO_DB_POOL_MAX)",
        )
        meter.create_observable_up_down_counter(
            "db.client.connection.pending_requests",
            [lambda _: [Observation(pool.get_stats().get("requests_waiting", 0), pool_name)]],
            unit="{request}",
            description="Calls waiting for a connection of the pool",
        )
        meter.create_observable_counter(
            "db.client.connection.timeouts",
            [lambda _: [Observation(pool.get_stats().get("requests_errors", 0), pool_name)]],
            unit="{timeout}",
            description="Requests for a connection that failed: waited past FAPIAO_DB_ACQUIRE_TIMEOUT_SECONDS, or "
            "refused while the database was unreachable",
        )
        meter.create_observable_counter(
            "fapiao.db.connection.wait",
            [lambda _: [Observation(pool.get_stats().get("requests_wait_ms", 0) / 1000, pool_name)]],
            unit="s",
            description="Time calls spent waiting for a pooled connection, in all",
        )
        meter.create_observable_up_down_counter(
            "fapiao.db.reachable",
            [lambda _: [Observation(int(pool.reachable), pool_name)]],
            unit="1",
            description="1 while the worker's health probe reaches PostgreSQL, 0 while it refuses calls for want of it",
        )

        def admission(_options: CallbackOptions) -> list[Observation]:
            return [Observation(limiter.in_flight, {"state": "in_flight"}),
                    Observation(limiter.queued, {"state": "queued"})]  # fmt: skip

        meter.create_observable_up_down_counter(
            "fapiao.admission.calls",
            [admission],
            unit="{call}",
            description="Calls holding a place (in_flight) or waiting for one (queued), per worker",
        )
        meter.create_observable_up_down_counter(
            "fapiao.admission.limit",
            [
                lambda _: [
                    Observation(limiter.max_in_flight, {"state": "in_flight"}),
                    Observation(limiter.max_queued, {"state": "queued"}),
                ]
            ],
            unit="{call}",
            description="FAPIAO_MAX_CALLS_IN_FLIGHT and FAPIAO_MAX_CALLS_QUEUED",
        )
        meter.create_observable_counter(
            "fapiao.admission.refusals",
            [lambda _: [Observation(limiter.refused)]],
            unit="{call}",
            description="Calls refused RESOURCE_EXHAUSTED (SERVER_OVERLOADED): no place free and the queue full, or "
            "waited past FAPIAO_MAX_QUEUE_WAIT_MS",
        )

        def quota_refusals(_options: CallbackOptions) -> list[Observation]:
            daily = verification.daily_limit_refusals
            return [Observation(self.rate_limited, {"quota": RATE_LIMIT}),
                    Observation(daily, {"quota": INVOICE_VERIFICATIONS_PER_DAY})]  # fmt: skip

        meter.create_observable_counter(
            "fapiao.quota.refusals",
            [quota_refusals],
            unit="{call}",
            description="Calls (and batch items) refused RESOURCE_EXHAUSTED by a quota: RATE_LIMIT, "
            "INVOICE_VERIFICATIONS_PER_DAY",
        )
        meter.create_observable_up_down_counter(
            "fapiao.watch.streams",
            [lambda _: [Observation(feed.watchers)]],
            unit="{stream}",
            description="Open WatchInvoices streams",
        )
        meter.create_observable_up_down_counter(
            "fapiao.audit.queue",
            [lambda _: [Observation(audit.pending)]],
            unit="{event}",
            description="Audit events queued in the worker, not yet committed to the audit log",
        )
        meter.create_observable_counter(
            "fapiao.audit.dropped",
            [lambda _: [Observation(audit.dropped)]],
            unit="{event}",
            description="Audit events given up because the queue was full while the database was away",
        )
        if cache is not None:
            self._observe_cache(cache, quota_store)
        elif quota_store is not None:
            self._observe_fallbacks(None, quota_store)

    def _observe_cache(self, cache: Any, quota_store: Any | None) -> None:
        stats = cache.stats
        near, shared = cache.has_near, cache.has_shared

        def lookups(_options: CallbackOptions) -> list[Observation]:
            found = []
            if near:
                found += [Observation(stats.near_hits, {"tier": "near", "result": "hit"}),
                          Observation(stats.near_misses, {"tier": "near", "result": "miss"})]  # fmt: skip
            if shared:
                found += [Observation(stats.hits, {"tier": "redis", "result": "hit"}),
                          Observation(stats.misses, {"tier": "redis", "result": "miss"}),
                          Observation(stats.unavailable, {"tier": "redis", "result": "error"})]  # fmt: skip
            found.append(Observation(stats.loads, {"tier": "postgresql", "result": "load"}))
            return found

        self._meter.create_observable_counter(
            "fapiao.cache.lookups",
            [lookups],
            unit="{lookup}",
            description="Invoice lookups by cache tier and result: near (this worker) and redis hit or miss, redis "
            "error (Redis unusable: PostgreSQL answered), postgresql load (read from the register)",
        )
        self._observe_fallbacks(stats if shared else None, quota_store)

    def _observe_fallbacks(self, cache_stats: Any | None, quota_store: Any | None) -> None:
        def fallbacks(_options: CallbackOptions) -> list[Observation]:
            found = []
            if cache_stats is not None:
                found.append(Observation(cache_stats.unavailable, {"use": "cache"}))
            if quota_store is not None:
                found.append(Observation(quota_store.unavailable, {"use": "quotas"}))
            return found

        self._meter.create_observable_counter(
            "fapiao.redis.fallbacks",
            [fallbacks],
            unit="{call}",
            description="Redis calls that failed or were skipped (breaker open), so PostgreSQL (cache) or the "
            "worker's memory (quotas) answered instead",
        )

    async def measure_event_loop(self, interval: float = EVENT_LOOP_PROBE_SECONDS) -> None:
        """Until cancelled: sleep ``interval`` and record how much later than asked the loop woke up."""
        loop = asyncio.get_running_loop()
        record = self._loop_lag.record
        while True:
            started = loop.time()
            await asyncio.sleep(interval)
            record(max(0.0, loop.time() - started - interval))

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve this worker's /metrics (for its node's supervisor, on loopback); returns the bound port."""
        self._server, _ = start_http_server(port, host, registry=self.registry)
        return int(self._server.server_port)

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._provider.shutdown()


class NoMetrics:
    """Metrics off (FAPIAO_METRICS_LISTEN=""): every hook hands back what it was given; nothing is measured."""

    enabled = False
    registry = None

    def interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return []

    def group_commit(self, batcher: str) -> BatchObserver | None:
        return None

    def counting_records(self, records: Any) -> Any:
        return records

    def counting_lifecycle(self, store: Any, issuer: Any) -> tuple[Any, Any]:
        return store, issuer

    def counting_refusals(self, on_refusal: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
        return on_refusal

    def observe(self, **_parts: Any) -> None:
        pass

    async def measure_event_loop(self) -> None:
        pass

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> int | None:
        return None

    def shutdown(self) -> None:
        pass


def worker_metrics(listen: str, worker: int = 0) -> WorkerMetrics | NoMetrics:
    """The metrics of a worker whose node serves them at ``listen`` ("" when metrics are off)."""
    return WorkerMetrics(worker) if listen else NoMetrics()


# -- RPCs ----------------------------------------------------------------------------------------------------------


class RpcMetrics(grpc.aio.ServerInterceptor):
    """Times every call of a registered method but health checks (Kubernetes and Envoy probe every few seconds;
    they would outnumber real calls on a quiet node) and records it with its final status. Unregistered methods
    get no handler and are answered UNIMPLEMENTED by gRPC itself, so a caller cannot make up label values."""

    def __init__(self, histogram: BoundHistogram, worker: str = "0") -> None:
        self._histogram = histogram
        self._worker = worker
        self._bound: dict[tuple[str, grpc.StatusCode], Callable[[float], None]] = {}

    def observer(self, method: str, code: grpc.StatusCode) -> Callable[[float], None]:
        """The histogram bound to calls of ``method`` (its gRPC path) that ended with ``code``, bound once."""
        found = self._bound.get((method, code))
        if found is None:
            error_type = code.name if code in SERVER_ERRORS else ""  # empty: no error.type (Prometheus: no label)
            found = self._histogram.labels(self._worker, "grpc", method[1:], code.name, error_type).observe
            self._bound[(method, code)] = found
        return found

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(HEALTH):
            return handler
        return _timed(handler, method, self)

    def done(self, method: str, started: float, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
        self.observer(method, final_status(context, error))(time.perf_counter() - started)


def _timed(handler: grpc.RpcMethodHandler, method: str, rpc: RpcMetrics) -> grpc.RpcMethodHandler:
    """``handler`` with its call timed from start to its last message, whatever its kind."""
    done = rpc.done
    if handler.unary_unary:  # nearly every call: the least built per call
        behaviour = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                answer = await behaviour(request, context)
            except BaseException as error:
                done(method, started, context, error)
                raise
            done(method, started, context, None)
            return answer

        return grpc.unary_unary_rpc_method_handler(unary, handler.request_deserializer, handler.response_serializer)
    kinds = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }

    def coroutine(behaviour: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                answer = await behaviour(request, context)
            except BaseException as error:
                done(method, started, context, error)
                raise
            done(method, started, context, None)
            return answer

        return timed

    def generator(behaviour: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def timed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            try:
                async for response in behaviour(request, context):
                    yield response
            except BaseException as error:
                done(method, started, context, error)
                raise
            done(method, started, context, None)

        return timed

    def wrap(behaviour: Callable[..., Any]) -> Callable[..., Any]:
        return generator(behaviour) if inspect.isasyncgenfunction(behaviour) else coroutine(behaviour)

    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream), **kinds)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(wrap(handler.stream_unary), **kinds)
    return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream), **kinds)


# -- Counting decorators of ports ------------------------------------------------------------------------------


class _CountedRecords:
    """The verification records' store under the group commits: counts each record once its batch committed, so
    the counts are the history's (a call cancelled while its batch was being written is counted too: its record
    stands)."""

    def __init__(self, inner: Any, counts: Counts) -> None:
        self._inner = inner
        self._add = counts.add

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def insert(self, records: Sequence[VerificationRecord]) -> list[None]:
        done = await self._inner.insert(records)
        add = self._add
        for record in records:
            add((record.outcome, record.invoice_type, record.channel))
        return done


class _CountedIssuer:
    """services.ports.InvoiceIssuer: counts the blue invoices issued (a replayed request issues nothing)."""

    def __init__(self, inner: Any, issued: Counts) -> None:
        self._inner = inner
        self._add = issued.add

    async def issue(self, item: Any) -> Any:
        result = await self._inner.issue(item)
        if isinstance(result, Invoice):
            self._add((result.invoice_type, "blue"))
        return result


class _CountedTransaction:
    """A LifecycleTransaction that keeps the events it appends (and the types of the invoices it inserts), for
    counting once the transaction has committed."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.events: list[NewEvent] = []
        self.types: dict[int, InvoiceType] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def append(self, events: Sequence[NewEvent]) -> None:
        await self._inner.append(events)
        self.events.extend(events)

    async def insert_invoices(self, *args: Any, **kwargs: Any) -> list[Invoice]:
        invoices = await self._inner.insert_invoices(*args, **kwargs)
        self.types.update((invoice.id, invoice.invoice_type) for invoice in invoices)
        return invoices


class _CountedLifecycleStore:
    """services.ports.LifecycleStore: counts voids, reversals, red invoices and red-letter form changes from the
    events of each transaction that committed (a rolled back one counts nothing)."""

    def __init__(self, inner: Any, metrics: WorkerMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[_CountedTransaction]:
        async with self._inner.transaction() as inner:
            counted = _CountedTransaction(inner)
            yield counted
        self._count(counted)

    def _count(self, transaction: _CountedTransaction) -> None:
        metrics = self._metrics
        for event in transaction.events:
            kind = event.event_type
            if kind is EventType.VOIDED:
                metrics.voided.add(())
            elif kind is EventType.REVERSED:
                metrics.reversed.add("full" if event.state_after is InvoiceState.FULLY_REVERSED else "partial")
            elif kind is EventType.ISSUED and event.state_before is None:
                metrics.issued.add((transaction.types.get(event.invoice_id), "red"))
            if event.form_state_after is not None:
                metrics.forms.add(event.form_state_after)
