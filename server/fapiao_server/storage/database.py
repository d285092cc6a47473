"""Connection pools and the translation of driver failures into domain errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool

from ..domain.errors import FieldViolation, InvalidArgument, Unavailable
from .queries import query


def create_pool(
    url: str,
    *,
    min_size: int,
    max_size: int,
    acquire_timeout: float,
    statement_timeout_ms: int,
    application_name: str = "fapiao",
) -> AsyncConnectionPool:
    """An unopened pool; the caller opens it (``await pool.open(wait=True)``) and closes it on shutdown."""
    return AsyncConnectionPool(
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
        # No check on checkout: it costs a round trip per use. A connection that broke while idle fails its next
        # use (that call is UNAVAILABLE and retried by clients) and the pool replaces it; idle ones are recycled.
        max_idle=300,
    )


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn "the database cannot answer now" (down, pool exhausted, statement timeout) into ``Unavailable``, and a
    value it cannot store into ``InvalidArgument``."""
    try:
        yield
    except psycopg.OperationalError as error:
        raise Unavailable(f"the register's database is unavailable: {type(error).__name__}") from error
    except psycopg.DataError as error:
        # A value PostgreSQL cannot hold (a NUL character in text, a number out of its type's range) that no
        # check before it caught: the caller's input, not a fault of the register.
        raise InvalidArgument(
            [FieldViolation("request", "holds a value the register cannot store (e.g. a NUL character)")],
            reason="UNSTORABLE_VALUE",
        ) from error


async def database_answers(url: str, *, timeout: float) -> bool:
    """Whether PostgreSQL answers a trivial query on a fresh connection within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(query("ping"))
        return True
    except (psycopg.Error, TimeoutError, OSError):
        return False
