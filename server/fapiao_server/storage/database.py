"""Connection pools, what a worker knows of PostgreSQL's health, and the translation of driver failures into
domain errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from ..domain.errors import FieldViolation, InvalidArgument, StatementTimeout, Unavailable
from .queries import query

log = logging.getLogger(__name__)


class DatabaseUnreachable(psycopg.OperationalError):
    """PostgreSQL did not answer the worker's last health probe: the call is refused at once."""


class RegisterPool(AsyncConnectionPool):
    """A pool that knows what the health probe (``watch_database``) knows.

    While PostgreSQL is unreachable a call is refused at once (UNAVAILABLE, retry) instead of waiting out the
    acquire timeout, which outlasted the callers' own deadlines. Once a connection broke, or PostgreSQL was away
    or restarted, every connection is checked as it is handed out (one empty round trip) until a sweep of the
    idle ones finds them sound, so connections that died while idle never fail a call after the database is back.
    In steady state a checkout costs nothing more."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, check=self._check_if_suspect, **kwargs)
        self.reachable = True
        self._suspect = False
        self.trouble = asyncio.Event()  # a connection broke: the probe should look now, not at its next round

    async def getconn(self, timeout: float | None = None) -> Any:
        if not self.reachable:
            raise DatabaseUnreachable("PostgreSQL did not answer the last health probe")
        return await super().getconn(timeout)

    async def putconn(self, conn: Any) -> None:
        if conn.broken:
            self._suspect = True
            self.trouble.set()
        await super().putconn(conn)

    async def _check_if_suspect(self, conn: Any) -> None:
        if self._suspect:
            await self.check_connection(conn)

    async def recover(self) -> None:
        """Drop every idle connection that no longer works, then trust checkouts again."""
        self._suspect = True
        await self.check()
        self._suspect = False
        self.reachable = True

    async def lost(self) -> None:
        """PostgreSQL stopped answering: refuse checkouts, including those already queued for a connection, which
        no one can make any more and which would otherwise wait out the acquire timeout (at peak, a queue's worth
        of calls stalling for seconds)."""
        self._suspect = True
        self.reachable = False
        # psycopg_pool fails its queue only on close(), and as close() does: take the waiting clients out under the
        # pool's lock, then fail each (tests/integration/test_database_outage.py holds this to the installed pool).
        async with self._lock:
            waiting = list(self._waiting)
            self._waiting.clear()
        for client in waiting:
            await client.fail(
                DatabaseUnreachable("PostgreSQL stopped answering while the call waited for a connection")
            )

    @property
    def suspect(self) -> bool:
        """Checkouts are being checked: a connection broke, or the database was away, since the last sweep."""
        return self._suspect


def create_pool(
    url: str,
    *,
    min_size: int,
    max_size: int,
    acquire_timeout: float,
    statement_timeout_ms: int,
    application_name: str = "fapiao",
) -> RegisterPool:
    """An unopened pool; the caller opens it (``await pool.open(wait=True)``) and closes it on shutdown."""
    return RegisterPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=acquire_timeout,
        open=False,
        name=application_name,
        kwargs={
            "autocommit": True,
            "application_name": application_name,
            # A stuck query must not hold a worker's connection (and its callers) forever.
            "options": f"-c statement_timeout={statement_timeout_ms}",
        },
        max_idle=300,
    )


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn "the database cannot answer now" (down, pool exhausted) into ``Unavailable``, a statement that ran out
    of its time into ``StatementTimeout``, and a value it cannot store into ``InvalidArgument``."""
    try:
        yield
    except psycopg.errors.QueryCanceled as error:
        # Not UNAVAILABLE: retried on another node it would take as long again, three times the work.
        raise StatementTimeout("the request took longer than the register allows one statement") from error
    except psycopg.OperationalError as error:
        raise Unavailable(f"the register's database is unavailable: {type(error).__name__}") from error
    except psycopg.DataError as error:
        # A value PostgreSQL cannot hold (a NUL character in text, a number out of its type's range) that no
        # check before it caught: the caller's input, not a fault of the register.
        raise InvalidArgument(
            [FieldViolation("request", "holds a value the register cannot store (e.g. a NUL character)")],
            reason="UNSTORABLE_VALUE",
        ) from error


async def postmaster_started(url: str, *, timeout: float) -> tuple[bool, datetime | None]:
    """Whether the PostgreSQL at ``url`` answers on a fresh connection within ``timeout`` seconds, and when it
    started (a different answer than last time: it restarted, and every pooled connection died). A refusal with an
    SQLSTATE (too many clients, a database starting up) is an answer too: the server is there."""
    try:
        async with asyncio.timeout(timeout):
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                row = await (await conn.execute(query("ping"))).fetchone()
        return True, row[0] if row else None
    except psycopg.Error as error:
        return error.sqlstate is not None, None
    except (TimeoutError, OSError):
        return False, None


async def watch_database(
    url: str,
    pool: RegisterPool,
    on_change: Callable[[bool], Awaitable[None]],
    *,
    interval: float,
    interval_while_down: float,
) -> None:
    """Probe PostgreSQL every ``interval`` seconds (every ``interval_while_down`` while it is away, and at once
    when a pooled connection breaks) on a connection of its own: a pool busy at peak hour must not read as an
    outage. Tells ``pool`` and ``on_change`` (health) when it goes and comes back."""
    started: datetime | None = None
    while True:
        answered, answer = await postmaster_started(url, timeout=interval)
        if not answered:
            if pool.reachable:
                log.warning("database unreachable; calls are refused until it answers again")
                await pool.lost()
                await on_change(False)
        elif not pool.reachable or (None not in (started, answer) and answer != started):
            log.warning("database %s; dropping connections that did not survive", "back" if not pool.reachable
                        else "restarted")  # fmt: skip
            was_reachable = pool.reachable
            await pool.recover()
            if not was_reachable:
                await on_change(True)
        elif pool.suspect:  # one connection broke (a backend ended, a network blip): sweep, then trust again
            await pool.recover()
        if answer is not None:
            started = answer
        pool.trouble.clear()
        with suppress(TimeoutError):
            await asyncio.wait_for(pool.trouble.wait(), interval if pool.reachable else interval_while_down)
