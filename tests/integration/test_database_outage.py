"""A worker's pool and health probe against a PostgreSQL of the test's own that it stops and restarts: calls are
refused at once while it is away (not after the acquire timeout), taken again soon after it returns, and the
connections that died meanwhile never fail a call afterwards. A statement past its time is DEADLINE_EXCEEDED's
StatementTimeout, not UNAVAILABLE."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import suppress

import pytest

from fapiao_server.domain.errors import StatementTimeout, Unavailable
from fapiao_server.storage.database import RegisterPool, create_pool, storage_errors, watch_database
from tests.support.postgres_process import PostgresProcess

pytestmark = pytest.mark.slow
POOL_SIZE = 4


@pytest.fixture(scope="module")
def postgres() -> AsyncIterator[PostgresProcess]:
    server = PostgresProcess().start()
    yield server
    server.close()


class Watched:
    """A pool as a worker runs it: the probe watching, health changes recorded."""

    def __init__(self, url: str) -> None:
        self.pool = create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE, acquire_timeout=5,
                                statement_timeout_ms=5000)  # fmt: skip
        self.url = url
        self.health: list[bool] = []
        self.changed = asyncio.Event()

    async def __aenter__(self) -> Watched:
        await self.pool.open(wait=True)
        self.task = asyncio.create_task(
            watch_database(self.url, self.pool, self._record, interval=1.0, interval_while_down=0.2)
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        self.task.cancel()
        await self.pool.close()

    async def _record(self, reachable: bool) -> None:
        self.health.append(reachable)
        self.changed.set()

    async def until_health(self, reachable: bool, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not self.health or self.health[-1] is not reachable:
                self.changed.clear()
                await self.changed.wait()

    async def ask(self) -> int:
        with storage_errors():
            async with self.pool.connection() as conn:
                return (await (await conn.execute("SELECT 1")).fetchone())[0]

    async def use_every_connection(self) -> list[BaseException | int]:
        """As many calls at once as the pool holds, so each pooled connection is handed out."""
        return await asyncio.gather(*(self._held() for _ in range(POOL_SIZE)), return_exceptions=True)

    async def hold(self, seconds: float) -> None:
        """Keep a connection busy for ``seconds`` (ends early, failing, if the server goes away)."""
        with suppress(Unavailable), storage_errors():
            async with self.pool.connection() as conn:
                await conn.execute("SELECT pg_sleep(%s)", [seconds])

    async def _held(self) -> int:
        with storage_errors():
            async with self.pool.connection() as conn:
                await conn.execute("SELECT pg_sleep(0.05)")
                return 1


async def test_an_outage_is_refused_at_once_and_the_return_costs_no_call(postgres: PostgresProcess) -> None:
    async with Watched(postgres.url()) as watched:
        assert await watched.use_every_connection() == [1] * POOL_SIZE
        postgres.stop()
        with pytest.raises(Unavailable):  # the first call finds the connection dead; the probe looks at once
            await watched.ask()
        await watched.until_health(False, timeout=5)
        for _ in range(5):
            started = time.monotonic()
            with pytest.raises(Unavailable):
                await watched.ask()
            assert time.monotonic() - started < 0.1, "refused at once while the probe says the database is away"

        postgres.start()
        back = time.monotonic()
        await watched.until_health(True, timeout=5)
        assert time.monotonic() - back < 2.0
        for _ in range(5):  # every pooled connection died with the old server: none may fail a call now
            assert await watched.use_every_connection() == [1] * POOL_SIZE


async def test_calls_already_waiting_for_a_connection_are_refused_when_the_database_goes(
    postgres: PostgresProcess,
) -> None:
    """At peak the pool has a queue: when PostgreSQL goes, the calls queued for a connection (none can be made any
    more) are refused as soon as the probe finds it away, not after the acquire timeout."""
    async with Watched(postgres.url()) as watched:
        holders = [asyncio.create_task(watched.hold(1.0)) for _ in range(POOL_SIZE)]
        await asyncio.sleep(0.2)  # every connection is taken: the next calls queue
        queued = [asyncio.create_task(_timed(watched.ask())) for _ in range(3)]
        await asyncio.sleep(0.1)
        postgres.stop()
        try:
            answers = await asyncio.gather(*queued)
        finally:
            await asyncio.gather(*holders, return_exceptions=True)
            postgres.start()
            await watched.until_health(True, timeout=10)
    assert all(isinstance(error, Unavailable) for error, _ in answers), answers
    assert max(seconds for _, seconds in answers) < 2.0, answers  # the acquire timeout is 5 s


async def _timed(call: Awaitable[object]) -> tuple[object, float]:
    started = time.monotonic()
    try:
        result: object = await call
    except Unavailable as error:
        result = error
    return result, time.monotonic() - started


async def test_a_restart_between_probes_fails_at_most_the_call_that_found_it(postgres: PostgresProcess) -> None:
    async with Watched(postgres.url()) as watched:
        assert await watched.use_every_connection() == [1] * POOL_SIZE
        postgres.stop()
        postgres.start()
        failed = 0
        for _ in range(3 * POOL_SIZE):  # one after another: each takes the next idle connection, all dead
            try:
                await watched.ask()
            except Unavailable:
                failed += 1
        assert failed == 1, "the first dead connection puts the pool on its guard: later ones are checked out checked"
        await asyncio.sleep(0.3)  # the broken connection woke the probe, which swept the pool
        for _ in range(5):
            assert await watched.use_every_connection() == [1] * POOL_SIZE
        assert watched.health == []  # it never stopped answering for long enough to be called away


async def test_one_broken_connection_costs_checkouts_a_round_trip_only_until_the_sweep(
    postgres: PostgresProcess,
) -> None:
    """A backend ended on its own (an administrator, an idle timeout) breaks one connection, not the database: the
    probe sweeps the pool and checkouts go back to costing nothing extra."""
    async with Watched(postgres.url()) as watched:
        async with watched.pool.connection() as conn:
            pid = conn.info.backend_pid
        async with watched.pool.connection() as other:
            await other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        failed = 0
        for _ in range(2 * POOL_SIZE):  # one of these finds the ended connection, and puts the pool on its guard
            try:
                await watched.ask()
            except Unavailable:
                failed += 1
        assert failed == 1
        for _ in range(100):  # the broken connection woke the probe, which sweeps the pool
            if not watched.pool.suspect:
                break
            await asyncio.sleep(0.05)
        assert not watched.pool.suspect, "checkouts would pay a round trip each for good"
        assert await watched.use_every_connection() == [1] * POOL_SIZE
        assert watched.health == []


async def test_a_statement_past_its_time_is_not_unavailable(postgres: PostgresProcess) -> None:
    pool: RegisterPool = create_pool(postgres.url(), min_size=1, max_size=1, acquire_timeout=5,
                                     statement_timeout_ms=100)  # fmt: skip
    async with pool:
        with pytest.raises(StatementTimeout), storage_errors():
            async with pool.connection() as conn:
                await conn.execute("SELECT pg_sleep(1)")
