"""The composition root: one worker process's components, wired from Settings, started and stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from grpc_health.v1 import health, health_pb2

from .cache.invoices import CachedInvoices, CachePolicy
from .cache.near import NearCache
from .cache.redis import RedisCache
from .config import Settings
from .domain.calendar import business_date, utc_now
from .domain.errors import DomainError
from .domain.verification import VerificationPolicy
from .services.audit import AuditLog
from .services.lifecycle import LifecycleService
from .services.ports import InvoiceLookup
from .services.verification import VerificationService
from .storage.audit import PostgresAuditLog
from .storage.database import create_pool, database_answers, storage_errors
from .storage.invoices import PostgresInvoices
from .storage.issuing import PostgresIssuer
from .storage.lifecycle import PostgresLifecycle
from .storage.migrations import PARTITION_MONTHS_AHEAD
from .storage.notifications import listen_for_changes
from .storage.queries import query
from .storage.verification_records import GroupCommitRecorder, PostgresVerificationRecords
from .telemetry import start_tracing
from .transport.audit_servicer import AuditServicer
from .transport.audit_trail import AuditTrail
from .transport.invoice_servicer import InvoiceServicer
from .transport.server import SERVICE_NAMES, create_server
from .transport.verification_servicer import VerificationServicer

log = logging.getLogger(__name__)
HEALTH_PROBE_SECONDS = 5.0
PARTITION_CHECK_SECONDS = 6 * 3600.0
# How often each worker voids red-letter forms past their 72 hours (every worker may; each form is voided once).
FORM_SWEEP_SECONDS = 30.0
REQUEST_SWEEP_SECONDS = 3600.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def create_invoice_lookup(settings: Settings, source: PostgresInvoices) -> tuple[InvoiceLookup, CachedInvoices | None]:
    """The invoice lookup the services use, and the cache (if any) that invoice changes must reach."""
    if settings.cache == "off":
        return source, None
    near = None
    if settings.near_cache_entries:
        near = NearCache(
            max_entries=settings.near_cache_entries,
            ttl_seconds=min(settings.near_cache_ttl_seconds, settings.cache_ttl_seconds),
            negative_ttl_seconds=min(settings.near_cache_ttl_seconds, settings.cache_negative_ttl_seconds),
        )
    shared = None
    if settings.redis_url:
        shared = RedisCache(
            settings.redis_url,
            prefix=settings.redis_key_prefix,
            timeout=settings.redis_timeout_ms / 1000,
            max_connections=settings.redis_max_connections,
        )
    policy = CachePolicy(
        ttl_seconds=settings.cache_ttl_seconds, negative_ttl_seconds=settings.cache_negative_ttl_seconds
    )
    cached = CachedInvoices(source, near=near, shared=shared, policy=policy)
    return cached, cached


class Application:
    """Everything one worker runs. ``start()`` returns the bound port; ``stop()`` drains and closes."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self._database_url = database_url
        self.pool = create_pool(
            database_url,
            min_size=settings.db_pool_min,
            max_size=max(settings.db_pool_min, settings.db_pool_max),
            acquire_timeout=settings.db_acquire_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )
        self.invoices, self.cache = create_invoice_lookup(settings, PostgresInvoices(self.pool))
        records = PostgresVerificationRecords(self.pool)
        self.recorder = GroupCommitRecorder(records)
        self.verification = VerificationService(
            self.invoices,
            self.recorder,
            records,
            policy=VerificationPolicy(window_years=settings.verification_window_years),
        )
        self.lifecycle = LifecycleService(
            PostgresLifecycle(self.pool),
            PostgresIssuer(self.pool),
            invalidate=None if self.cache is None else self.cache.invalidate,
        )
        # Authentication and the policy interceptor record logins and refusals here too (audit.record).
        self.audit = AuditLog(PostgresAuditLog(self.pool))
        self.health = health.aio.HealthServicer()
        interceptors, self._tracer_provider = start_tracing(settings.otel_exporter)
        self.server, self.port = create_server(
            settings.listen,
            VerificationServicer(self.verification),
            InvoiceServicer(self.lifecycle),
            self.health,
            AuditServicer(self.audit),
            max_message_bytes=settings.max_message_bytes,
            interceptors=interceptors,
            audit_trail=AuditTrail(self.audit),
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> int:
        await self.pool.open(wait=True, timeout=self.settings.db_acquire_timeout_seconds * 2)
        # Every worker listens, so every copy of a changed invoice is dropped and every watcher hears of changes.
        listening = asyncio.Event()
        self._tasks.append(
            asyncio.create_task(
                listen_for_changes(
                    self._database_url,
                    self.cache.on_changes if self.cache is not None else None,
                    on_history=self.lifecycle.feed.wake,
                    ready=listening,
                )
            )
        )
        await asyncio.wait_for(listening.wait(), timeout=self.settings.db_acquire_timeout_seconds * 2)
        self._tasks.append(asyncio.create_task(self.lifecycle.feed.run()))
        await self.server.start()
        await self._set_health(SERVING)
        self._tasks.append(asyncio.create_task(self._probe_database()))
        self._tasks.append(asyncio.create_task(self._every(PARTITION_CHECK_SECONDS, self._ensure_partitions)))
        self._tasks.append(asyncio.create_task(self._every(FORM_SWEEP_SECONDS, self._expire_forms)))
        self._tasks.append(asyncio.create_task(self._every(REQUEST_SWEEP_SECONDS, self.lifecycle.forget_requests)))
        return self.port

    async def _expire_forms(self) -> None:
        expired = await self.lifecycle.expire_forms()
        if expired:
            log.info("voided %d red-letter forms left unanswered for 72 hours", expired)

    async def _every(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        """Run an upkeep job now and then every ``seconds``; a failure is logged and tried again next time."""
        while True:
            try:
                await job()
            except DomainError as error:  # the database is away: the next round tries again
                log.warning("upkeep %s failed: %s", getattr(job, "__name__", job), error)
            except Exception:  # a bug must not end upkeep for the worker's lifetime
                log.exception("upkeep %s failed unexpectedly", getattr(job, "__name__", job))
            await asyncio.sleep(seconds)

    async def _set_health(self, status: int) -> None:
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, status)

    async def _probe_database(self) -> None:
        """Report NOT_SERVING while PostgreSQL cannot answer, so balancers route around this worker. The probe
        uses a connection of its own: a pool busy at peak hour must not read as an outage."""
        serving = True
        while True:
            await asyncio.sleep(HEALTH_PROBE_SECONDS)
            healthy = await database_answers(self._database_url, timeout=HEALTH_PROBE_SECONDS)
            if healthy != serving:
                serving = healthy
                log.warning(
                    "database %s; health is now %s",
                    "back" if healthy else "unreachable",
                    "SERVING" if healthy else "NOT_SERVING",
                )
                await self._set_health(SERVING if healthy else NOT_SERVING)

    async def _ensure_partitions(self) -> None:
        """Keep next months' verification-record partitions created while the worker runs for months (until they
        exist, rows land in the default partition)."""
        with storage_errors():
            async with self.pool.connection() as conn:
                await conn.execute(
                    query("ensure_verification_partitions"),
                    {"start": business_date(utc_now()), "months": PARTITION_MONTHS_AHEAD},
                )

    async def stop(self) -> None:
        """Stop taking calls, let in-flight ones finish (up to the grace period), then close everything."""
        await self.health.enter_graceful_shutdown()
        await asyncio.sleep(self.settings.shutdown_drain_delay_seconds)
        self.lifecycle.feed.close()  # watchers move to another node now, with their cursors, not at the deadline
        await self.server.stop(self.settings.shutdown_grace_seconds)
        await self.recorder.close()
        await self.audit.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.cache is not None:
            await self.cache.close()
        await self.pool.close()
        if self._tracer_provider is not None:
            self._tracer_provider.shutdown()
