"""PostgreSQL's announcements: invoice changes (LISTEN fapiao_invoice_changed), so every worker can drop stale
cache; new history events (fapiao_invoice_events), so every worker's watchers hear of them; and changes to
principals and credentials (fapiao_access_changed), so every worker forgets the credentials it has checked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import psycopg

from ..domain.invoice import InvoiceKey
from ..services.ports import InvoiceChanges

CHANNEL = "fapiao_invoice_changed"
HISTORY_CHANNEL = "fapiao_invoice_events"
ACCESS_CHANNEL = "fapiao_access_changed"
log = logging.getLogger(__name__)


ChangeHandler = Callable[[InvoiceChanges], Awaitable[None]]
HistoryHandler = Callable[[], None]
AccessHandler = Callable[[], None]


def parse_announcement(payload: str) -> InvoiceChanges:
    """'code:number,code:number,...' (code '' for 数电) or '*:<txid>'."""
    if payload.startswith("*"):
        return InvoiceChanges(keys=None, bulk_id=payload)
    keys = []
    for item in payload.split(","):
        code, _, number = item.rpartition(":")
        keys.append(InvoiceKey(code, number))
    return InvoiceChanges(keys=tuple(keys))


async def listen_for_changes(
    url: str,
    on_change: ChangeHandler | None,
    *,
    on_history: HistoryHandler | None = None,
    on_access: AccessHandler | None = None,
    ready: asyncio.Event | None = None,
    retry_seconds: float = 1.0,
) -> None:
    """Forward announcements to ``on_change`` (invoice changes), ``on_history`` (new events) and ``on_access``
    (principals and credentials) until cancelled, reconnecting whenever the connection drops.

    After every (re)connection ``on_change`` first gets a ``missed`` announcement, and ``on_history`` and
    ``on_access`` a call, since anything may have happened while no one listened.
    """
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                if on_change is not None:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await on_change(InvoiceChanges(keys=None, missed=True))
                if on_history is not None:
                    await conn.execute(f"LISTEN {HISTORY_CHANNEL}")
                    on_history()
                if on_access is not None:
                    await conn.execute(f"LISTEN {ACCESS_CHANNEL}")
                    on_access()
                if ready is not None:
                    ready.set()
                async for notice in conn.notifies():
                    if notice.channel == HISTORY_CHANNEL:
                        if on_history is not None:
                            on_history()
                    elif notice.channel == ACCESS_CHANNEL:
                        if on_access is not None:
                            on_access()
                    elif on_change is not None:
                        await on_change(parse_announcement(notice.payload))
        except psycopg.OperationalError as error:
            log.warning("invoice change listener lost its connection (%s); retrying", error)
        await asyncio.sleep(retry_seconds)
