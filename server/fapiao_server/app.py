"""The composition root: one worker process's components, wired from Settings, started and stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from grpc_health.v1 import health_pb2

from .cache.invoices import CachedInvoices, CachePolicy
from .cache.near import NearCache
from .cache.redis import RedisCache, connect
from .config import Settings
from .domain.calendar import business_date, utc_now
from .domain.errors import DomainError
from .domain.quotas import DailyVerificationLimit
from .domain.verification import VerificationPolicy
from .keys.data_keys import prepare_keys
from .keys.files import decode_key, load_or_create_key
from .keys.master_key import configured_keyring
from .keys.published import PostgresSigningKeys
from .keys.signing import signing_key
from .quotas.attempts import VerificationAttempts
from .quotas.rate_limiter import FleetRateLimiter
from .quotas.store import RedisQuotaStore
from .security.tokens import TokenSigner
from .services.administration import Administration
from .services.audit import AuditLog
from .services.authentication import Authenticator, Sessions
from .services.lifecycle import LifecycleService
from .services.ports import InvoiceLookup
from .services.reporting import ReportingService
from .services.verification import VerificationService
from .storage.access import PostgresAccess
from .storage.audit import PostgresAuditLog
from .storage.database import create_pool, storage_errors, watch_database
from .storage.invoices import PostgresInvoices
from .storage.issuing import PostgresIssuer
from .storage.lifecycle import PostgresLifecycle
from .storage.migrations import PARTITION_MONTHS_AHEAD
from .storage.notifications import listen_for_changes
from .storage.queries import query
from .storage.reporting import PostgresReports
from .storage.verification_records import GroupCommitRecorder, PostgresVerificationRecords
from .telemetry import start_tracing
from .telemetry.metrics import worker_metrics
from .transport.access_gate import AccessGate
from .transport.admin_servicer import AdminServicer
from .transport.audit_servicer import AuditServicer
from .transport.audit_trail import AuditTrail, refusal_recorder
from .transport.auth_servicer import AuthServicer
from .transport.health import HealthServicer
from .transport.invoice_servicer import InvoiceServicer
from .transport.key_servicer import RegisterKeyServicer
from .transport.overload import CallLimiter
from .transport.policy import AUDITED, REFUSALS_AUDITED
from .transport.report_servicer import ReportServicer
from .transport.server import SERVICE_NAMES, Listener, Servicers, create_server, server_credentials
from .transport.verification_servicer import VerificationServicer

log = logging.getLogger(__name__)
HEALTH_PROBE_SECONDS = 5.0
# While PostgreSQL is away: how soon after its return calls are taken again.
HEALTH_PROBE_SECONDS_WHILE_DOWN = 0.5
PARTITION_CHECK_SECONDS = 6 * 3600.0
# How often each worker voids red-letter forms past their 72 hours (every worker may; each form is voided once).
FORM_SWEEP_SECONDS = 30.0
REQUEST_SWEEP_SECONDS = 3600.0
# How soon audit events that changes wrote in their own transactions are chained when the worker that committed
# them died before its writer ran (a live worker chains its own at once).
AUDIT_OUTBOX_SECONDS = 2.0
# A person retyping a code gets a second try at once; guessing gets two tries a second per username, fleet-wide.
LOGIN_ATTEMPTS_PER_SECOND = 2.0
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


def token_signer(settings: Settings) -> TokenSigner:
    """The signer of access tokens, with the fleet's shared key (made on first start when none is configured)."""
    if settings.token_key is not None:
        key = decode_key(settings.token_key.get_secret_value(), "FAPIAO_TOKEN_KEY")
    else:
        key = load_or_create_key(settings.token_key_path)
    return TokenSigner(key, lifetime=timedelta(minutes=settings.access_token_minutes))


def listeners(settings: Settings) -> list[Listener]:
    """The main listener (TLS, or plaintext where allowed) and the mutual-TLS one when configured."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return [Listener(settings.listen)]
    chain, key = settings.tls_cert_file.read_bytes(), settings.tls_key_file.read_bytes()
    found = [Listener(settings.listen, server_credentials(chain, key))]
    if settings.mtls_listen is not None and settings.mtls_client_ca_file is not None:
        client_ca = settings.mtls_client_ca_file.read_bytes()
        found.append(Listener(settings.mtls_listen, server_credentials(chain, key, client_ca)))
    return found


def create_quota_store(settings: Settings) -> RedisQuotaStore | None:
    """Where quotas are counted fleet-wide (Redis, even with the cache off); None: each worker counts alone."""
    if not settings.redis_url:
        return None
    client = connect(
        settings.redis_url,
        timeout=settings.redis_timeout_ms / 1000,
        max_connections=settings.redis_max_connections,
    )
    return RedisQuotaStore(client, prefix=settings.redis_key_prefix)


class Application:
    """Everything one worker runs. ``start()`` returns the bound port; ``stop()`` drains and closes. ``worker`` is
    its index within its node (a label of its metrics)."""

    def __init__(self, settings: Settings, database_url: str, *, worker: int = 0) -> None:
        self.settings = settings
        self._database_url = database_url
        # Off (FAPIAO_METRICS_LISTEN=""), each hook below hands back what it is given.
        self.metrics = worker_metrics(settings.metrics_listen, worker)
        self.pool = create_pool(
            database_url,
            min_size=settings.db_pool_min,
            max_size=max(settings.db_pool_min, settings.db_pool_max),
            acquire_timeout=settings.db_acquire_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )
        # Filled with the data keys in start(); every adapter that reads or writes sealed values shares it.
        self.keyring = configured_keyring(settings)
        self.invoices, self.cache = create_invoice_lookup(settings, PostgresInvoices(self.pool, self.keyring))
        # Every worker loads the fleet's key; `fapiao serve` has created and published it before workers start.
        self.signing_key = signing_key(settings.signing_key_file, settings.data_dir)
        records = PostgresVerificationRecords(self.pool)
        self.recorder = GroupCommitRecorder(
            self.metrics.counting_records(records), on_batch=self.metrics.group_commit("verification_records")
        )
        self.quota_store = create_quota_store(settings)
        self.rate_limiter = FleetRateLimiter(
            self.quota_store,
            default_rate=settings.rate_limit_per_second,
            slice_seconds=settings.rate_limit_slice_seconds,
        )
        self.verification = VerificationService(
            self.invoices,
            self.recorder,
            records,
            policy=VerificationPolicy(window_years=settings.verification_window_years),
            attempts=VerificationAttempts(self.quota_store),
            daily_limit=DailyVerificationLimit(settings.verifications_per_invoice_per_day),
            signer=self.signing_key,
        )
        self.lifecycle = LifecycleService(
            *self.metrics.counting_lifecycle(
                PostgresLifecycle(self.pool, self.keyring, signer=self.signing_key),
                PostgresIssuer(
                    self.pool, self.keyring, signer=self.signing_key, on_batch=self.metrics.group_commit("issue")
                ),
            ),
            invalidate=None if self.cache is None else self.cache.invalidate,
        )
        # Authentication and the policy interceptor record logins and refusals here too (audit.record).
        self.audit = AuditLog(PostgresAuditLog(self.pool))
        access = PostgresAccess(self.pool, self.keyring)
        signer = token_signer(settings)
        self.authenticator = Authenticator(access, signer)
        self.administration = Administration(access, changed=self.authenticator.forget)
        sessions = Sessions(
            access,
            signer,
            refresh_lifetime_seconds=settings.refresh_token_hours * 3600,
            throttle=self._throttle_logins,
            changed=self.authenticator.forget,
        )
        self.health = HealthServicer()
        interceptors, self._tracer_provider = start_tracing(settings.otel_exporter)
        self.limiter = CallLimiter(
            max_in_flight=settings.max_calls_in_flight,
            max_queued=settings.max_calls_queued,
            max_wait=settings.max_queue_wait_ms / 1000,
        )
        self.servicers = Servicers(
            verification=VerificationServicer(self.verification),
            invoices=InvoiceServicer(self.lifecycle),
            auth=AuthServicer(sessions, self.administration),
            admin=AdminServicer(self.administration),
            keys=RegisterKeyServicer(PostgresSigningKeys(self.pool)),
            audit=AuditServicer(self.audit),
            reports=ReportServicer(ReportingService(PostgresReports(self.pool))),
        )
        self.server, self.ports = create_server(
            listeners(settings),
            self.servicers,
            self.health,
            gate=AccessGate(
                self.authenticator,
                self.rate_limiter,
                on_refusal=self.metrics.counting_refusals(refusal_recorder(self.audit)),
            ),
            max_message_bytes=settings.max_message_bytes,
            share_port=settings.workers > 1,
            limiter=self.limiter,
            interceptors=[*self.metrics.interceptors(), *interceptors],
            audit_trail=AuditTrail(self.audit, AUDITED, refusals_of=REFUSALS_AUDITED),
        )
        self.port = self.ports[0]
        self.metrics.observe(
            pool=self.pool,
            limiter=self.limiter,
            verification=self.verification,
            audit=self.audit,
            feed=self.lifecycle.feed,
            cache=self.cache,
            quota_store=self.quota_store,
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def _throttle_logins(self, username: str) -> None:
        """Login attempts per username across the fleet, in the same buckets as principals' rates (a username
        cannot be mistaken for a principal id: ids have no ':')."""
        await self.rate_limiter.admit(f"login:{username}", LOGIN_ATTEMPTS_PER_SECOND)

    async def start(self) -> int:
        await self.pool.open(wait=True, timeout=self.settings.db_acquire_timeout_seconds * 2)
        # A master key that cannot unwrap the data keys ends the start here (MasterKeyMismatch), before serving.
        await asyncio.to_thread(prepare_keys, self._database_url, self.keyring)
        # Every worker listens, so every copy of a changed invoice is dropped and every watcher hears of changes.
        listening = asyncio.Event()
        self._tasks.append(
            asyncio.create_task(
                listen_for_changes(
                    self._database_url,
                    self.cache.on_changes if self.cache is not None else None,
                    on_history=self.lifecycle.feed.wake,
                    on_access=self.authenticator.forget,
                    ready=listening,
                )
            )
        )
        await asyncio.wait_for(listening.wait(), timeout=self.settings.db_acquire_timeout_seconds * 2)
        self._tasks.append(asyncio.create_task(self.lifecycle.feed.run()))
        await self.server.start()
        await self._set_health(SERVING)
        self._tasks.append(
            asyncio.create_task(
                watch_database(
                    self._database_url,
                    self.pool,
                    self._database_health,
                    interval=HEALTH_PROBE_SECONDS,
                    interval_while_down=HEALTH_PROBE_SECONDS_WHILE_DOWN,
                )
            )
        )
        self._tasks.append(asyncio.create_task(self._every(PARTITION_CHECK_SECONDS, self._ensure_partitions)))
        self._tasks.append(asyncio.create_task(self._every(FORM_SWEEP_SECONDS, self._expire_forms)))
        self._tasks.append(asyncio.create_task(self._every(REQUEST_SWEEP_SECONDS, self.lifecycle.forget_requests)))
        self._tasks.append(asyncio.create_task(self._every(AUDIT_OUTBOX_SECONDS, self.audit.collect_outbox)))
        self._tasks.append(asyncio.create_task(self.metrics.measure_event_loop()))
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

    async def _database_health(self, reachable: bool) -> None:
        """NOT_SERVING while PostgreSQL cannot answer, so balancers route around this worker."""
        await self._set_health(SERVING if reachable else NOT_SERVING)

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
        if self.quota_store is not None:
            await self.quota_store.close()
        await self.pool.close()
        if self._tracer_provider is not None:
            self._tracer_provider.shutdown()
        self.metrics.shutdown()
