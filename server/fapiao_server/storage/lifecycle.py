"""The invoice lifecycle in PostgreSQL: changes as transactions that lock the invoice first, forms, the
append-only history, request ids, and reads for listings and watchers."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ..domain.access import EVERYTHING, Scope
from ..domain.audit import AuditEvent
from ..domain.calendar import business_date
from ..domain.errors import Aborted, FailedPrecondition
from ..domain.events import START, EventPosition, EventType, InvoiceEvent, NewEvent
from ..domain.invoice import Invoice, InvoiceKey, InvoiceLine, InvoiceReference, InvoiceState
from ..domain.invoice_types import InvoiceType
from ..domain.issuing import InvoiceDraft, finish, identifiers, number_prefix
from ..domain.lifecycle import InvoiceFacts, period_of
from ..domain.red_letter import FormState, RedLetterForm, RedLetterReason, TradeParty
from ..domain.signing import Signer, signed
from ..keys.data_keys import follow_primary
from ..keys.encryption import Keyring
from ..services.ports import EventFilter, FormFilter, InvoiceFilter, InvoiceRef, RequestClaim, UsedRequest
from ..telemetry import spans
from .audit import record_with_change
from .database import storage_errors
from .invoices import line_from_values, read_invoices
from .queries import query


@contextlib.contextmanager
def change_errors() -> Iterator[None]:
    """Map what PostgreSQL refuses in a change: lost races and lock cycles are ABORTED (retry as is); a
    constraint the rules should have caught is FAILED_PRECONDITION naming the constraint, never INTERNAL."""
    try:
        yield
    except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.LockNotAvailable) as error:
        raise Aborted(f"a concurrent change to the same invoice won ({type(error).__name__}); retry") from error
    except pg_errors.UniqueViolation as error:
        if error.diag.constraint_name == "red_letter_forms_one_open_per_invoice":
            raise Aborted("another red-letter form was entered against the invoice at the same time") from error
        raise FailedPrecondition(
            f"the register refused the change: {error.diag.message_primary}",
            reason="REGISTER_CONSTRAINT",
            subject=error.diag.constraint_name or "",
        ) from error
    except psycopg.IntegrityError as error:
        raise FailedPrecondition(
            f"the register refused the change: {error.diag.message_primary}",
            reason="REGISTER_CONSTRAINT",
            subject=error.diag.constraint_name or "",
        ) from error


def _reference(row: dict[str, Any], prefix: str, id_column: str) -> InvoiceReference | None:
    if row[id_column] is None:
        return None
    return InvoiceReference(
        row[id_column], InvoiceType(row[f"{prefix}_type"]), row[f"{prefix}_code"], row[f"{prefix}_number"]
    )


def form_from_row(row: dict[str, Any]) -> RedLetterForm:
    original = _reference(row, "original", "original_invoice_id")
    assert original is not None  # the column is NOT NULL
    return RedLetterForm(
        id=row["id"],
        original_invoice=original,
        reason=RedLetterReason(row["reason"]),
        state=FormState(row["state"]),
        initiator=TradeParty(row["initiator"]),
        seller_tax_id=row["seller_tax_id"],
        buyer_tax_id=row["buyer_tax_id"],
        lines=tuple(line_from_values(values) for values in row["lines"]),
        amount_fen=row["amount_fen"],
        tax_fen=row["tax_fen"],
        total_fen=row["total_fen"],
        create_time=row["created_at"],
        update_time=row["updated_at"],
        expire_time=row["expires_at"],
        red_invoice=_reference(row, "red", "red_invoice_id"),
        remarks=row["remarks"],
    )


def event_from_row(row: dict[str, Any]) -> InvoiceEvent:
    def form_state(value: int | None) -> FormState | None:
        return None if value is None else FormState(value)

    return InvoiceEvent(
        position=EventPosition(row["xid"], row["id"]),
        event_type=EventType(row["event_type"]),
        invoice=InvoiceReference(
            row["invoice_id"], InvoiceType(row["invoice_type"]), row["invoice_code"], row["invoice_number"]
        ),
        seller_tax_id=row["seller_tax_id"],
        buyer_tax_id=row["buyer_tax_id"],
        region_code=row["region_code"],
        actor=row["actor"],
        event_time=row["occurred_at"],
        state_after=InvoiceState(row["state_after"]),
        state_before=None if row["state_before"] is None else InvoiceState(row["state_before"]),
        reason=row["reason"],
        form_id=row["form_id"],
        form_state_before=form_state(row["form_state_before"]),
        form_state_after=form_state(row["form_state_after"]),
        reversed_amount_fen=row["reversed_amount_fen"],
        red_invoice=_reference(row, "red", "red_invoice_id"),
    )


def _lines_params(lines: Sequence[InvoiceLine]) -> dict[str, list[Any]]:
    return {
        "line_numbers": [line.line_number for line in lines],
        "item_names": [line.item_name for line in lines],
        "classifications": [line.tax_classification_code for line in lines],
        "specifications": [line.specification for line in lines],
        "units": [line.unit for line in lines],
        "quantities": [line.quantity or None for line in lines],
        "unit_prices": [line.unit_price or None for line in lines],
        "amounts": [line.amount_fen for line in lines],
        "rates": [line.tax_rate_basis_points for line in lines],
        "taxes": [line.tax_fen for line in lines],
    }


def scoped(scope: Scope, **params: Any) -> dict[str, Any]:
    """``params`` plus the parameters of fapiao_in_scope: what the calling principal may see."""
    return params | {"everything": scope.everything, "tax_ids": sorted(scope.tax_ids), "regions": sorted(scope.regions)}


async def _documents(
    conn: psycopg.AsyncConnection[Any], ids: Sequence[int], keyring: Keyring, scope: Scope = EVERYTHING
) -> dict[int, Invoice]:
    found = await read_invoices(conn, query("invoices_by_ids"), scoped(scope, ids=list(ids)), keyring)
    return {invoice.id: invoice for invoice in found}


async def _forms(
    conn: psycopg.AsyncConnection[Any], ids: Sequence[int], scope: Scope = EVERYTHING
) -> dict[int, RedLetterForm]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("forms"), scoped(scope, ids=list(ids)))
        return {row["id"]: form_from_row(row) for row in await cur.fetchall()}


async def _events(conn: psycopg.AsyncConnection[Any], ids: Sequence[int]) -> list[InvoiceEvent]:
    if not ids:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query("events"), {"ids": list(ids)})
        return [event_from_row(row) for row in await cur.fetchall()]


async def _lock(conn: psycopg.AsyncConnection[Any], ref: InvoiceRef, scope: Scope = EVERYTHING) -> int | None:
    """Lock the invoice's row (every change does this first); its id, or None if there is no such invoice in
    ``scope``."""
    if isinstance(ref, InvoiceKey):
        params = scoped(scope, number=ref.invoice_number, code=ref.invoice_code)
        statement = query("lock_invoice_by_key")
    else:
        params, statement = scoped(scope, id=ref), query("lock_invoice_by_id")
    row = await (await conn.execute(statement, params)).fetchone()
    return None if row is None else row[0]


async def _facts(conn: psycopg.AsyncConnection[Any], invoice: Invoice) -> InvoiceFacts:
    period = period_of(invoice.issue_date)
    (reported,) = await (
        await conn.execute(query("period_reported"), {"tax_id": invoice.seller.tax_id, "period": period})
    ).fetchone() or (False,)
    row = await (await conn.execute(query("open_form_of"), {"id": invoice.id})).fetchone()
    open_form = None if row is None else (await _forms(conn, [row[0]])).get(row[0])
    by_line = {
        number: (amount, tax)
        for number, amount, tax in await (await conn.execute(query("reversed_by_line"), {"id": invoice.id})).fetchall()
    }
    return InvoiceFacts(period_reported=bool(reported), open_form=open_form, reversed_by_line=by_line)


async def insert_invoices(
    conn: psycopg.AsyncConnection[Any],
    drafts: Sequence[InvoiceDraft],
    now: datetime,
    keyring: Keyring,
    signer: Signer | None,
    *,
    ids: Sequence[int] = (),
) -> list[Invoice]:
    """Give each draft the next number under its prefix and an id (taken here unless ``ids`` are given), sign it
    (unless there is no ``signer``), and store it with its lines, personal details sealed with the current primary
    data key. In pipeline mode the inserts are only queued: they reach PostgreSQL with whatever the caller sends
    next."""
    day = business_date(now)
    prefixes = [number_prefix(d.invoice_type, d.region, day) for d in drafts]
    counts = Counter(prefixes)
    primary = await conn.execute(query("primary_data_key"))  # in pipeline mode it rides with the reservation
    # The span includes any wait for another transaction holding the same counters.
    with spans.span("fapiao.reserve_numbers", {"fapiao.reserve_numbers.prefixes": len(counts)}):
        reserved = await (
            await conn.execute(
                query("reserve_number_blocks"), {"prefixes": list(counts), "counts": list(counts.values())}
            )
        ).fetchall()
    await follow_primary(conn, keyring, await primary.fetchone())
    following = {prefix: next_value - counts[prefix] for prefix, next_value in reserved}
    if not ids:
        ids = [
            row[0] for row in await (await conn.execute(query("next_invoice_ids"), {"count": len(drafts)})).fetchall()
        ]
    invoices = []
    for draft, prefix, invoice_id in zip(drafts, prefixes, ids, strict=True):
        code, number = identifiers(draft.invoice_type, prefix, following[prefix])
        following[prefix] += 1
        invoices.append(finish(draft, invoice_id=invoice_id, code=code, number=number, now=now))
    if signer is not None:
        counted = {
            "fapiao.sign.kind": "invoice",
            "fapiao.sign.count": len(invoices),
            "fapiao.sign.key_id": signer.key_id,
        }
        with spans.span("fapiao.sign", counted):
            invoices = [signed(invoice, signer) for invoice in invoices]
    await conn.execute(query("insert_invoices"), _invoice_params(invoices, drafts, keyring))
    lines = [(inv.id, line, rev) for inv, d in zip(invoices, drafts, strict=True) for line, rev in _with_reversal(d)]
    params = _lines_params([line for _, line, _ in lines])
    params["invoice_ids"] = [invoice_id for invoice_id, _, _ in lines]
    params["reverses"] = [rev for _, _, rev in lines]
    await conn.execute(query("insert_invoice_lines"), params)
    return invoices


def _with_reversal(draft: InvoiceDraft) -> Iterator[tuple[InvoiceLine, int | None]]:
    reverses: Sequence[int | None] = draft.reverses_lines or [None] * len(draft.lines)
    yield from zip(draft.lines, reverses, strict=True)


def _invoice_params(invoices: Sequence[Invoice], drafts: Sequence[InvoiceDraft], keyring: Keyring) -> dict[str, Any]:
    def column(get: Any) -> list[Any]:
        return [get(inv) for inv in invoices]

    with spans.span("fapiao.seal", {"fapiao.seal.invoices": len(invoices), "fapiao.seal.key_id": keyring.primary_id}):
        sealed = [keyring.seal_invoice(inv.id, inv) for inv in invoices]

    def secret(name: str) -> list[bytes]:
        return [values[name] for values in sealed]

    return {
        "ids": column(lambda i: i.id),
        "invoice_types": column(lambda i: int(i.invoice_type)),
        "invoice_codes": column(lambda i: i.invoice_code),
        "invoice_numbers": column(lambda i: i.invoice_number),
        "issue_dates": column(lambda i: i.issue_date),
        "issue_times": column(lambda i: i.issue_time),
        "region_codes": column(lambda i: i.region_code),
        "seller_tax_ids": column(lambda i: i.seller.tax_id),
        "seller_names": secret("seller_name"),
        "seller_addresses": secret("seller_address"),
        "seller_phones": secret("seller_phone"),
        "seller_bank_names": secret("seller_bank_name"),
        "seller_bank_accounts": secret("seller_bank_account"),
        "buyer_tax_ids": column(lambda i: i.buyer.tax_id),
        "buyer_names": secret("buyer_name"),
        "buyer_addresses": secret("buyer_address"),
        "buyer_phones": secret("buyer_phone"),
        "buyer_bank_names": secret("buyer_bank_name"),
        "buyer_bank_accounts": secret("buyer_bank_account"),
        "amounts": column(lambda i: i.amount_fen),
        "taxes": column(lambda i: i.tax_fen),
        "check_codes": column(lambda i: i.check_code),
        "qr_payloads": column(lambda i: i.qr_payload),
        "remarks": column(lambda i: i.remarks),
        "issuer_names": secret("issuer_name"),
        "payee_names": secret("payee_name"),
        "reviewer_names": secret("reviewer_name"),
        "vins": column(lambda i: i.vehicle.vin if i.vehicle else None),
        "brand_models": column(lambda i: i.vehicle.brand_model if i.vehicle else None),
        "vehicle_types": column(lambda i: i.vehicle.vehicle_type if i.vehicle else None),
        "license_plates": column(lambda i: i.vehicle.license_plate if i.vehicle else None),
        "original_ids": column(lambda i: i.original_invoice.id if i.original_invoice else None),
        "form_ids": [d.red_letter_form_id for d in drafts],
        "data_key_id": keyring.primary_id,
        "signature_key_ids": column(lambda i: i.signature.key_id if i.signature else None),
        "signatures": column(lambda i: i.signature.signature if i.signature else None),
    }


async def append_events(conn: psycopg.AsyncConnection[Any], events: Sequence[NewEvent]) -> None:
    if not events:
        return

    def column(get: Any) -> list[Any]:
        return [get(e) for e in events]

    def optional_int(value: Any) -> int | None:
        return None if value is None else int(value)

    await conn.execute(
        query("insert_events"),
        {
            "event_types": column(lambda e: int(e.event_type)),
            "invoice_ids": column(lambda e: e.invoice_id),
            "sellers": column(lambda e: e.seller_tax_id),
            "buyers": column(lambda e: e.buyer_tax_id),
            "regions": column(lambda e: e.region_code),
            "actors": column(lambda e: e.actor),
            "reasons": column(lambda e: e.reason),
            "states_before": column(lambda e: optional_int(e.state_before)),
            "states_after": column(lambda e: int(e.state_after)),
            "form_ids": column(lambda e: e.form_id),
            "form_states_before": column(lambda e: optional_int(e.form_state_before)),
            "form_states_after": column(lambda e: optional_int(e.form_state_after)),
            "reversed": column(lambda e: e.reversed_amount_fen),
            "red_invoice_ids": column(lambda e: e.red_invoice_id),
        },
    )


async def claim_requests(
    conn: psycopg.AsyncConnection[Any], claims: Sequence[RequestClaim]
) -> dict[tuple[str, str], UsedRequest]:
    """Claim request ids (in a stable order, so two batches never wait on each other in a cycle); return the
    ones committed earlier by other changes."""
    if not claims:
        return {}
    ordered = sorted(claims, key=lambda c: (c.caller, c.request_id))
    params = {
        "callers": [c.caller for c in ordered],
        "request_ids": [uuid.UUID(c.request_id) for c in ordered],
        "fingerprints": [c.fingerprint for c in ordered],
    }
    owned = {(caller, rid) for caller, rid in await (await conn.execute(query("claim_requests"), params)).fetchall()}
    taken = [c for c in ordered if (c.caller, c.request_id) not in owned]
    if not taken:
        return {}
    rows = await (
        await conn.execute(
            query("requests_used"),
            {"callers": [c.caller for c in taken], "request_ids": [uuid.UUID(c.request_id) for c in taken]},
        )
    ).fetchall()
    return {(caller, rid): UsedRequest(bytes(fingerprint), result) for caller, rid, fingerprint, result in rows}


async def finish_requests(conn: psycopg.AsyncConnection[Any], results: Sequence[tuple[RequestClaim, int]]) -> None:
    if results:
        await conn.execute(
            query("finish_requests"),
            {
                "callers": [c.caller for c, _ in results],
                "request_ids": [uuid.UUID(c.request_id) for c, _ in results],
                "result_ids": [result for _, result in results],
            },
        )


class PostgresLifecycleTransaction:
    def __init__(self, conn: psycopg.AsyncConnection[Any], keyring: Keyring, signer: Signer | None = None) -> None:
        self._conn = conn
        self._keyring = keyring
        self._signer = signer

    async def claim(self, claims: Sequence[RequestClaim]) -> dict[tuple[str, str], UsedRequest]:
        return await claim_requests(self._conn, claims)

    async def finish(self, results: Sequence[tuple[RequestClaim, int]]) -> None:
        await finish_requests(self._conn, results)

    async def lock_invoice(self, ref: InvoiceRef, scope: Scope) -> Invoice | None:
        invoice_id = await _lock(self._conn, ref, scope)
        if invoice_id is None:
            return None
        return (await _documents(self._conn, [invoice_id], self._keyring)).get(invoice_id)

    async def facts(self, invoice: Invoice) -> InvoiceFacts:
        return await _facts(self._conn, invoice)

    async def set_state(
        self, invoice_id: int, state: InvoiceState, now: datetime, *, reversed_amount_fen: int | None = None
    ) -> None:
        await self._conn.execute(
            query("set_invoice_state"),
            {"id": invoice_id, "state": int(state), "now": now, "reversed_amount_fen": reversed_amount_fen},
        )

    async def certify(self, invoice_id: int, now: datetime) -> None:
        await self._conn.execute(query("certify_invoice"), {"id": invoice_id, "now": now})

    async def lock_form(self, form_id: int, scope: Scope) -> RedLetterForm | None:
        row = await (await self._conn.execute(query("lock_form"), scoped(scope, id=form_id))).fetchone()
        if row is None:
            return None
        await _lock(self._conn, row[0])  # the invoice first, as every change does
        return (await _forms(self._conn, [form_id])).get(form_id)

    async def insert_form(self, form: RedLetterForm) -> RedLetterForm:
        row = await (
            await self._conn.execute(
                query("insert_form"),
                {
                    "original_id": form.original_invoice.id,
                    "reason": int(form.reason),
                    "state": int(form.state),
                    "initiator": int(form.initiator),
                    "seller": form.seller_tax_id,
                    "buyer": form.buyer_tax_id,
                    "amount": form.amount_fen,
                    "tax": form.tax_fen,
                    "remarks": form.remarks,
                    "now": form.create_time,
                    "expires_at": form.expire_time,
                },
            )
        ).fetchone()
        assert row is not None  # INSERT ... RETURNING
        params: dict[str, Any] = _lines_params(form.lines)
        params["form_id"] = row[0]
        await self._conn.execute(query("insert_form_lines"), params)
        return (await _forms(self._conn, [row[0]]))[row[0]]

    async def set_form_state(self, form_id: int, state: FormState, *, red_invoice_id: int | None = None) -> None:
        await self._conn.execute(
            query("set_form_state"), {"id": form_id, "state": int(state), "red_invoice_id": red_invoice_id}
        )

    async def insert_invoices(self, drafts: Sequence[InvoiceDraft], now: datetime) -> list[Invoice]:
        return await insert_invoices(self._conn, drafts, now, self._keyring, self._signer)

    async def append(self, events: Sequence[NewEvent]) -> None:
        await append_events(self._conn, events)

    async def audit(self, events: Sequence[AuditEvent]) -> None:
        await record_with_change(self._conn, events)


class PostgresLifecycle:
    """The lifecycle store (services.ports.LifecycleStore). Invoices it issues (red ones) are signed by
    ``signer``; without one they are stored unsigned."""

    def __init__(self, pool: AsyncConnectionPool, keyring: Keyring, *, signer: Signer | None = None) -> None:
        self._pool = pool
        self._keyring = keyring
        self._signer = signer

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresLifecycleTransaction]:
        with storage_errors(), change_errors():
            async with self._pool.connection() as conn, conn.transaction():
                yield PostgresLifecycleTransaction(conn, self._keyring, self._signer)

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        with storage_errors():
            async with self._pool.connection() as conn:
                yield conn

    async def invoices(self, ids: Sequence[int]) -> dict[int, Invoice]:
        async with self._read() as conn:
            return await _documents(conn, ids, self._keyring)

    async def invoice(self, ref: InvoiceRef, scope: Scope) -> Invoice | None:
        if isinstance(ref, InvoiceKey):  # by key in one statement
            params = scoped(scope, number=ref.invoice_number, code=ref.invoice_code)
            async with self._read() as conn:
                found = await read_invoices(conn, query("visible_invoice_by_key"), params, self._keyring)
            return found[0] if found else None
        async with self._read() as conn:
            return (await _documents(conn, [ref], self._keyring, scope)).get(ref)

    async def facts(self, invoice: Invoice) -> InvoiceFacts:
        async with self._read() as conn:
            return await _facts(conn, invoice)

    async def list_invoices(
        self, where: InvoiceFilter, scope: Scope, *, limit: int, after: tuple[datetime, int] | None
    ) -> list[Invoice]:
        params = scoped(scope) | {
            "seller": where.seller_tax_id,
            "buyer": where.buyer_tax_id,
            "region": where.region,
            "state": None if where.state is None else int(where.state),
            "invoice_type": None if where.invoice_type is None else int(where.invoice_type),
            "start_date": where.start_date,
            "end_date": where.end_date,
            "after_time": after and after[0],
            "after_id": after and after[1],
            "limit": limit,
        }
        # Each listing walks the index of the party it is for (the seller's when both are given), or the region's.
        if where.seller_tax_id:
            statement = query("list_seller_invoices")
        elif where.buyer_tax_id:
            statement = query("list_buyer_invoices")
        else:
            statement = query("list_region_invoices")
        async with self._read() as conn:
            return await read_invoices(conn, statement, params, self._keyring)

    async def forms(self, ids: Sequence[int], scope: Scope = EVERYTHING) -> dict[int, RedLetterForm]:
        async with self._read() as conn:
            return await _forms(conn, ids, scope)

    async def list_forms(
        self, where: FormFilter, scope: Scope, *, limit: int, after: tuple[datetime, int] | None
    ) -> list[RedLetterForm]:
        params = scoped(scope) | {
            "seller": where.seller_tax_id,
            "buyer": where.buyer_tax_id,
            "invoice_id": where.invoice_id,
            "state": None if where.state is None else int(where.state),
            "after_time": after and after[0],
            "after_id": after and after[1],
            "limit": limit,
        }
        if where.invoice_id is not None:
            statement = query("list_invoice_forms")
        elif where.seller_tax_id is not None:
            statement = query("list_seller_forms")
        else:
            statement = query("list_buyer_forms")
        async with self._read() as conn:
            ids = [row[0] for row in await (await conn.execute(statement, params)).fetchall()]
            found = await _forms(conn, ids)
        return [found[i] for i in ids if i in found]

    async def expired_forms(self, now: datetime, *, limit: int) -> list[int]:
        async with self._read() as conn:
            rows = await (await conn.execute(query("expired_forms"), {"now": now, "limit": limit})).fetchall()
        return [row[0] for row in rows]

    async def report_period(
        self, tax_id: str, period: date, actor: str, *, audit: Sequence[AuditEvent] = ()
    ) -> datetime:
        params = {"tax_id": tax_id, "period": period, "actor": actor}
        with storage_errors():
            async with self._pool.connection() as conn, conn.transaction():
                row = await (await conn.execute(query("report_period"), params)).fetchone()
                if row is None:
                    # A concurrent report of the same period committed while this statement ran: ON CONFLICT
                    # waited for it and skipped, but the statement's snapshot predates it. A new statement sees it
                    # (READ COMMITTED: each statement of the transaction takes a snapshot of its own).
                    row = await (await conn.execute(query("report_period"), params)).fetchone()
                await record_with_change(conn, audit)
        assert row is not None  # inserted or already there, committed before this second statement began
        return row[0]

    async def invoice_events(self, invoice_id: int, *, after: EventPosition, limit: int) -> list[InvoiceEvent]:
        params = {"invoice_id": invoice_id, "after_xid": after.xid, "after_id": after.id, "limit": limit}
        async with self._read() as conn:
            ids = [row[0] for row in await (await conn.execute(query("invoice_event_ids"), params)).fetchall()]
            return await _events(conn, ids)

    async def stable_events(self, where: EventFilter | None, *, after: EventPosition, limit: int) -> list[InvoiceEvent]:
        params: dict[str, Any] = {"after_xid": after.xid, "after_id": after.id, "limit": limit}
        if where is None:
            statement = query("stable_event_ids")
        elif where.invoice_id is not None:
            statement, params["invoice_id"] = query("stable_invoice_event_ids"), where.invoice_id
        elif where.tax_id is not None:
            statement, params["tax_id"] = query("stable_tax_id_event_ids"), where.tax_id
        else:
            statement, params["region"] = query("stable_region_event_ids"), where.region
        async with self._read() as conn:
            ids = [row[0] for row in await (await conn.execute(statement, params)).fetchall()]
            return await _events(conn, ids)

    async def stable_head(self) -> EventPosition:
        async with self._read() as conn:
            row = await (await conn.execute(query("stable_head"))).fetchone()
        return START if row is None else EventPosition(row[0], row[1])

    async def forget_requests(self, before: datetime) -> int:
        async with self._read() as conn:
            cursor = await conn.execute(query("forget_old_requests"), {"before": before})
            return cursor.rowcount
