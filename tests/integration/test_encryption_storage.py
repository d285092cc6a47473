"""Personal details at rest on real PostgreSQL: what a copy of the table shows, what readers get back, values
moved between rows or columns, rotation under a steady stream of new invoices, and workers meeting a data key
created after they started. A database of this module's own, so rotations here touch no other test's rows."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from fapiao_server.domain.access import EVERYTHING, Principal, Role
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.domain.invoice import Invoice, Party
from fapiao_server.domain.issuing import IssueRequest, LineRequest
from fapiao_server.keys.data_keys import prepare_keys
from fapiao_server.keys.encryption import (
    SEALED_INVOICE_COLUMNS,
    Keyring,
    MasterKey,
    MasterKeyMismatch,
    UndecryptableValue,
)
from fapiao_server.keys.rotation import key_usage, reencrypt, start_rotation
from fapiao_server.services.lifecycle import LifecycleService
from fapiao_server.storage.bulk import seed_register
from fapiao_server.storage.invoices import PostgresInvoices
from fapiao_server.storage.issuing import PostgresIssuer
from fapiao_server.storage.lifecycle import PostgresLifecycle
from fapiao_server.storage.migrations import migrate
from fapiao_server.storage.notifications import CHANNEL
from tests.support.invoices import new_request_id, tax_id
from tests.support.keys import new_keyring, shared_keyring
from tests.support.services import fresh_database
from tests.support.signing import fleet_signing_key

SEEDED = 600
SELLER = Party(
    tax_id(),
    "北京保密科技有限公司",
    "北京市海淀区中关村大街27号",
    "010-62345678",
    "招商银行北京分行",
    "6214830112345678",
)
BUYER = Party(
    tax_id("310115"),
    "上海隐私贸易有限公司",
    "上海市浦东新区世纪大道100号",
    "021-58889999",
    "工商银行",
    "6222020200112233",
)
PEOPLE = {"issuer_name": "王开票", "payee_name": "李收款", "reviewer_name": "赵复核"}


@pytest.fixture(scope="module")
def own_database(pg_admin_url: str) -> Iterator[str]:
    with fresh_database(pg_admin_url, "encryption") as url:
        migrate(url, today=business_date(utc_now()))
        seed_register(
            url, SEEDED, shared_keyring(url), seed=11, now=utc_now(), batch_size=200, signer=fleet_signing_key()
        )
        yield url


class Worker:
    """What one worker holds: its own pool and keyring, and the adapters on them."""

    def __init__(self, pool: AsyncConnectionPool, keyring: Keyring) -> None:
        self.keyring = keyring
        self.invoices = PostgresInvoices(pool, keyring)
        self.lifecycle = LifecycleService(PostgresLifecycle(pool, keyring), PostgresIssuer(pool, keyring))

    async def issue(self, seller: Party = SELLER) -> Invoice:
        request = IssueRequest(
            invoice_type=32, seller=seller, buyer=BUYER, lines=(LineRequest("*信息技术服务*软件", 100_000, 600),),
            **PEOPLE,
        )  # fmt: skip
        seller = Principal("seller", Role.TAXPAYER, frozenset({request.seller.tax_id}))
        return await self.lifecycle.issue(request, actor=seller, request_id=new_request_id())


@contextlib.asynccontextmanager
async def worker(url: str) -> AsyncIterator[Worker]:
    async with AsyncConnectionPool(url, min_size=1, max_size=4, kwargs={"autocommit": True}) as pool:
        yield Worker(pool, new_keyring(url))


def raw_row(url: str, invoice_id: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("SELECT *, invoices::text AS whole FROM invoices WHERE id = %s", (invoice_id,)).fetchone()
    assert row is not None
    return row


def assert_parties(invoice: Invoice) -> None:
    assert invoice.seller == SELLER and invoice.buyer == BUYER
    assert (invoice.issuer_name, invoice.payee_name, invoice.reviewer_name) == tuple(PEOPLE.values())


async def test_rows_hold_no_plaintext_and_reads_return_it(own_database: str) -> None:
    async with worker(own_database) as w:
        issued = await w.issue()
        row = raw_row(own_database, issued.id)
        secrets = [*(getattr(SELLER, f) for f in ("name", "address", "phone", "bank_name", "bank_account")),
                   *(getattr(BUYER, f) for f in ("name", "address", "phone", "bank_name", "bank_account")),
                   *PEOPLE.values()]  # fmt: skip
        for secret in secrets:
            assert secret.encode() not in b"".join(bytes(row[c]) for c in SEALED_INVOICE_COLUMNS), secret
            assert secret not in row["whole"] and secret.encode().hex() not in row["whole"], secret
        # What lookups and reports use stays clear.
        assert row["seller_tax_id"] == SELLER.tax_id and row["total_fen"] == issued.total_fen
        assert row["data_key_id"] == w.keyring.primary_id
        assert_parties((await w.invoices.get_many([issued.key]))[issued.key])
        assert_parties(await w.lifecycle.get(issued.id, EVERYTHING))


async def test_a_value_moved_to_another_row_or_column_does_not_open(own_database: str) -> None:
    async with worker(own_database) as w:
        first, second = await w.issue(), await w.issue()
        kept = (raw_row(own_database, second.id)["buyer_name"], raw_row(own_database, first.id)["seller_phone"])
        with psycopg.connect(own_database, autocommit=True) as conn:
            conn.execute(
                "UPDATE invoices SET buyer_name = (SELECT buyer_name FROM invoices WHERE id = %s) WHERE id = %s",
                (first.id, second.id),
            )
            conn.execute("UPDATE invoices SET seller_phone = buyer_phone WHERE id = %s", (first.id,))
        try:
            with pytest.raises(UndecryptableValue, match=rf"invoices\.buyer_name of row {second.id}"):
                await w.invoices.get_many([second.key])
            with pytest.raises(UndecryptableValue, match=rf"invoices\.seller_phone of row {first.id}"):
                await w.lifecycle.get(first.id, EVERYTHING)
            # Lookups sharing a query with a damaged row still get their own answers.
            sound = await w.issue()
            damaged, fine = await asyncio.gather(
                w.invoices.get(second.key), w.invoices.get(sound.key), return_exceptions=True
            )
            assert isinstance(damaged, UndecryptableValue) and isinstance(fine, Invoice)
            assert_parties(fine)
        finally:  # the rotation tests below must find every row intact
            with psycopg.connect(own_database, autocommit=True) as conn:
                conn.execute("UPDATE invoices SET buyer_name = %s WHERE id = %s", (kept[0], second.id))
                conn.execute("UPDATE invoices SET seller_phone = %s WHERE id = %s", (kept[1], first.id))
        assert_parties(await w.lifecycle.get(first.id, EVERYTHING))


async def test_a_worker_opens_rows_sealed_with_a_key_created_after_it_started(own_database: str) -> None:
    async with worker(own_database) as writer, worker(own_database) as reader:
        before = reader.keyring.primary_id
        rotated = start_rotation(own_database, new_keyring(own_database))  # `fapiao keys rotate`, elsewhere
        issued = await writer.issue()  # the writer's next write seals with the new key
        assert raw_row(own_database, issued.id)["data_key_id"] == rotated == writer.keyring.primary_id
        assert reader.keyring.primary_id == before  # nothing told the reader yet
        assert_parties((await reader.invoices.get_many([issued.key]))[issued.key])
        assert reader.keyring.primary_id == rotated


async def test_rotation_under_steady_issuing_moves_every_row_and_loses_none(own_database: str) -> None:
    with psycopg.connect(own_database, autocommit=True) as conn:
        # A row as migration 0006 carries it over: plaintext behind version byte 0, no key.
        conn.execute(
            "UPDATE invoices SET buyer_name = '\\x00'::bytea || convert_to('迁移前的买方', 'UTF8'), data_key_id = NULL"
            " WHERE id = (SELECT min(id) FROM invoices)"
        )
        (carried_id,) = conn.execute("SELECT min(id) FROM invoices").fetchone() or (0,)
        (total_before,) = conn.execute("SELECT count(*) FROM invoices").fetchone() or (0,)
    issued: list[Invoice] = []
    async with worker(own_database) as w:
        stop = asyncio.Event()

        async def keep_issuing() -> None:
            while not stop.is_set():
                issued.append(await w.issue())

        writing = asyncio.create_task(keep_issuing())
        await asyncio.sleep(0.2)
        rotator = new_keyring(own_database)
        old_keys = {k.key_id for k in key_usage(own_database) if k.state in ("primary", "retiring")}
        new_key = await asyncio.to_thread(start_rotation, own_database, rotator)
        retired = await asyncio.to_thread(reencrypt, own_database, rotator, batch_rows=50)
        await asyncio.sleep(0.2)
        stop.set()
        await writing
        assert len(issued) > 10, "the writer must keep issuing while the rotation runs"
        assert set(retired) == old_keys
        usage = {k.key_id: k for k in key_usage(own_database)}
        with psycopg.connect(own_database, autocommit=True) as conn:
            (total_after,) = conn.execute("SELECT count(*) FROM invoices").fetchone() or (0,)
        assert total_after == total_before + len(issued)
        # Rows the writer added after the re-encryption finished are on the new key too.
        assert usage[new_key].state == "primary" and usage[new_key].invoices == total_after
        assert all(usage[k].state == "retired" and usage[k].invoices == 0 for k in old_keys)
        assert None not in usage  # the carried-over row was sealed as well
        found = await w.invoices.get_many([i.key for i in issued])
        assert len(found) == len(issued)
        for invoice in found.values():
            assert_parties(invoice)
        carried = await w.lifecycle.get(carried_id, EVERYTHING)
        assert carried.buyer.name == "迁移前的买方"
        assert raw_row(own_database, carried_id)["data_key_id"] == new_key


async def test_reencryption_is_not_an_invoice_change(own_database: str) -> None:
    with psycopg.connect(own_database, autocommit=True) as conn:
        before = dict(conn.execute("SELECT id, updated_at FROM invoices").fetchall())
    rotator = new_keyring(own_database)
    start_rotation(own_database, rotator)
    async with await psycopg.AsyncConnection.connect(own_database, autocommit=True) as listener:
        await listener.execute(f"LISTEN {CHANNEL}")
        await asyncio.to_thread(reencrypt, own_database, rotator, batch_rows=100)
        with psycopg.connect(own_database, autocommit=True) as conn:
            conn.execute("SELECT pg_notify(%s, 'marker')", (CHANNEL,))
        heard = [n.payload async for n in _notifications(listener)]
    assert heard == ["marker"], "re-encryption announced invoice changes"
    with psycopg.connect(own_database, autocommit=True) as conn:
        after = dict(conn.execute("SELECT id, updated_at FROM invoices").fetchall())
        (keys,) = conn.execute("SELECT count(DISTINCT data_key_id) FROM invoices").fetchone() or (0,)
    assert after == before and keys == 1


async def _notifications(conn: psycopg.AsyncConnection[Any]) -> AsyncIterator[psycopg.Notify]:
    async for notice in conn.notifies(timeout=5):
        yield notice
        if notice.payload == "marker":
            return


def test_a_worker_with_another_master_key_refuses_to_start(own_database: str) -> None:
    stranger = Keyring(MasterKey(os.urandom(32)))
    with pytest.raises(MasterKeyMismatch, match="cannot unwrap data key"):
        prepare_keys(own_database, stranger)


class Interrupted(Exception):
    pass


def test_an_interrupted_reencryption_resumes_where_it_stopped(own_database: str) -> None:
    rotator = new_keyring(own_database)
    new_key = start_rotation(own_database, rotator)

    def stop_after_first_batch(moved: int) -> None:
        raise Interrupted(moved)

    with pytest.raises(Interrupted):
        reencrypt(own_database, rotator, batch_rows=25, on_batch=stop_after_first_batch)
    usage = {k.key_id: k for k in key_usage(own_database)}
    assert usage[new_key].invoices == 25  # the first batch committed, nothing after it
    assert sum(k.invoices for k in usage.values() if k.state == "retiring") > 0
    resumed = new_keyring(own_database)  # a new process: `fapiao keys rotate --resume`
    moved: list[int] = []
    retired = reencrypt(own_database, resumed, batch_rows=100, on_batch=moved.append)
    usage = {k.key_id: k for k in key_usage(own_database)}
    assert usage[new_key].invoices == sum(k.invoices for k in usage.values()) == 25 + sum(moved)
    assert retired and all(usage[k].state == "retired" for k in retired)
