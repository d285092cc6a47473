"""ReportService/SummarizeInvoices end to end against a real server and PostgreSQL: the totals equal, to the fen,
what the register lists for the same invoices (red invoices negative, voided ones counted); groups come in the
order asked; a taxpayer reports on its own tax ids only and a tax officer on its regions; bad requests name their
fields."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from datetime import date, timedelta
from typing import Any

import grpc
import psycopg
import pytest
from google.type import date_pb2

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as ivs
from fapiao.v1 import invoice_service_pb2_grpc as ivs_grpc
from fapiao.v1 import lifecycle_pb2 as lc
from fapiao.v1 import report_service_pb2 as rs
from fapiao.v1 import report_service_pb2_grpc as rs_grpc
from fapiao_client import FapiaoError
from fapiao_server.domain.access import Role
from fapiao_server.domain.calendar import business_date, utc_now
from tests.support.fleet import by_id, channel, issue_request, new_request_id, new_tax_id, pool_key
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow
AUDIT_WAIT = 10.0  # seconds; the audit log writes in batches within ~200 ms
TYPE, STATE, MONTH, REGION = (rs.INVOICE_GROUPING_TYPE, rs.INVOICE_GROUPING_STATE, rs.INVOICE_GROUPING_MONTH,
                              rs.INVOICE_GROUPING_REGION)  # fmt: skip


def pb_date(day: date) -> date_pb2.Date:
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def around_today() -> tuple[date_pb2.Date, date_pb2.Date]:
    """Yesterday to tomorrow in Asia/Shanghai, so a run across midnight still covers what it issued."""
    today = business_date(utc_now())
    return pb_date(today - timedelta(days=1)), pb_date(today + timedelta(days=1))


def summary(**fields: Any) -> rs.SummarizeInvoicesRequest:
    start, end = around_today()
    return rs.SummarizeInvoicesRequest(**({"start_date": start, "end_date": end} | fields))


def totals(invoices: Iterable[invoice_pb2.Invoice], key: Any) -> dict[Any, tuple[int, int, int, int]]:
    """What the register's own listing says each group holds: count, amount, tax, total."""
    found: defaultdict[Any, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for invoice in invoices:
        group = found[key(invoice)]
        for index, value in enumerate((1, invoice.amount_fen, invoice.tax_fen, invoice.total_fen)):
            group[index] += value
    return {k: (v[0], v[1], v[2], v[3]) for k, v in found.items()}


def figures(group: rs.InvoiceTotals) -> tuple[int, int, int, int]:
    return group.invoice_count, group.amount_fen, group.tax_fen, group.total_fen


class Register:
    """The taxpayer's invoice stub and report stubs of any principal, on the test server."""

    def __init__(self, server: ServerProcess, taxpayer_key: str) -> None:
        self._server = server
        self._channels: list[grpc.aio.Channel] = []
        self.invoices = ivs_grpc.InvoiceServiceStub(self._open(taxpayer_key))
        self.reports = rs_grpc.ReportServiceStub(self._open(taxpayer_key))

    def _open(self, key: str) -> grpc.aio.Channel:
        self._channels.append(channel(self._server.address, key))
        return self._channels[-1]

    def reports_as(self, key: str) -> rs_grpc.ReportServiceStub:
        return rs_grpc.ReportServiceStub(self._open(key))

    async def close(self) -> None:
        for opened in self._channels:
            await opened.close()


@pytest.fixture
async def register(server: ServerProcess, database_url: str) -> AsyncIterator[Register]:
    opened = Register(server, pool_key(database_url))
    yield opened
    await opened.close()


async def issue(register: Register, kind: int, seller: str, buyer: str, amounts: tuple[int, ...]) -> Any:
    return (await register.invoices.IssueInvoice(issue_request(kind, seller, buyer, amounts))).invoice


async def listed(register: Register, seller: str) -> list[invoice_pb2.Invoice]:
    answer = await register.invoices.ListInvoices(ivs.ListInvoicesRequest(seller_tax_id=seller, page_size=1000))
    return list(answer.invoices)


async def refused(stub: rs_grpc.ReportServiceStub, request: rs.SummarizeInvoicesRequest) -> FapiaoError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SummarizeInvoices(request)
    return FapiaoError.from_rpc_error(caught.value)


@pytest.fixture
async def seller_books(register: Register) -> tuple[str, str, list[invoice_pb2.Invoice]]:
    """A seller with four invoices to one buyer: two paper ones (one voided), an electronic special one reversed
    in full by a red invoice. Returns the seller, the buyer and what the register lists for the seller."""
    seller, buyer = new_tax_id("330106"), new_tax_id("440305")
    general = await issue(register, invoice_pb2.INVOICE_TYPE_VAT_GENERAL, seller, buyer, (12_345, 678))
    voided = await issue(register, invoice_pb2.INVOICE_TYPE_VAT_GENERAL, seller, buyer, (5_000,))
    special = await issue(register, invoice_pb2.INVOICE_TYPE_E_VAT_SPECIAL, seller, buyer, (1_000_001,))
    await register.invoices.VoidInvoice(ivs.VoidInvoiceRequest(request_id=new_request_id(), invoice=by_id(voided.id)))
    form = await register.invoices.CreateRedLetterForm(
        ivs.CreateRedLetterFormRequest(
            request_id=new_request_id(),
            invoice=by_id(special.id),
            reason=lc.RED_LETTER_REASON_ISSUED_IN_ERROR,
            initiator=lc.TRADE_PARTY_SELLER,
        )
    )
    red = ivs.IssueRedInvoiceRequest(request_id=new_request_id(), form_id=form.form.id)
    await register.invoices.IssueRedInvoice(red)
    invoices = await listed(register, seller)
    assert len(invoices) == 4 and general.id in {i.id for i in invoices}
    return seller, buyer, invoices


async def test_totals_equal_the_listing_to_the_fen_in_the_order_asked(
    register: Register, seller_books: tuple[str, str, list[invoice_pb2.Invoice]]
) -> None:
    seller, _, invoices = seller_books
    answer = await register.reports.SummarizeInvoices(summary(seller_tax_id=seller, group_by=[STATE, TYPE]))
    expected = totals(invoices, lambda i: (i.state, i.invoice_type))
    assert [(g.state, g.invoice_type) for g in answer.groups] == sorted(expected), "ordered by state, then type"
    assert {(g.state, g.invoice_type): figures(g) for g in answer.groups} == expected
    assert figures(answer.total) == totals(invoices, lambda _: "all")["all"]
    # After the full reversal the special invoice and its red invoice cancel out, the voided one still counts.
    assert answer.total.amount_fen == 12_345 + 678 + 5_000

    by_type = await register.reports.SummarizeInvoices(summary(seller_tax_id=seller, group_by=[TYPE]))
    assert {g.invoice_type: figures(g) for g in by_type.groups} == totals(invoices, lambda i: i.invoice_type)
    assert all(not g.state and not g.month and not g.region_code for g in by_type.groups), "only what was asked"

    by_month = await register.reports.SummarizeInvoices(summary(seller_tax_id=seller, group_by=[MONTH, REGION]))
    assert {(g.month, g.region_code): figures(g) for g in by_month.groups} == totals(
        invoices, lambda i: (f"{i.issue_date.year:04d}-{i.issue_date.month:02d}", i.region_code)
    )

    only_voided = await register.reports.SummarizeInvoices(
        summary(seller_tax_id=seller, state=invoice_pb2.INVOICE_STATE_VOIDED)
    )
    assert figures(only_voided.total) == (1, 5_000, 650, 5_650)
    assert [figures(g) for g in only_voided.groups] == [figures(only_voided.total)], "no grouping: one group"


async def test_a_buyer_reports_on_what_it_bought(
    register: Register, seller_books: tuple[str, str, list[invoice_pb2.Invoice]]
) -> None:
    _, buyer, invoices = seller_books
    answer = await register.reports.SummarizeInvoices(summary(buyer_tax_id=buyer, group_by=[TYPE]))
    assert {g.invoice_type: figures(g) for g in answer.groups} == totals(invoices, lambda i: i.invoice_type)


# 9999-12-31 is a common "open end"; the day after it is not a date Python can hold, and once answered INTERNAL.
@pytest.mark.parametrize(("first", "last"), [(date(2020, 1, 1), date(2020, 12, 31)), (date(9999, 1, 1), date.max)])
async def test_an_empty_range_is_zero_not_an_error(
    register: Register, seller_books: tuple[str, str, list[invoice_pb2.Invoice]], first: date, last: date
) -> None:
    seller, _, _ = seller_books
    answer = await register.reports.SummarizeInvoices(
        summary(seller_tax_id=seller, start_date=pb_date(first), end_date=pb_date(last))
    )
    assert not answer.groups and figures(answer.total) == (0, 0, 0, 0)


async def test_a_tax_officer_reports_on_its_regions_only(
    register: Register, new_key: Any, seller_books: tuple[str, str, list[invoice_pb2.Invoice]]
) -> None:
    seller, buyer, invoices = seller_books
    region = invoices[0].region_code
    officer = register.reports_as(new_key(Role.TAX_OFFICER, regions=[region]))
    elsewhere = register.reports_as(new_key(Role.TAX_OFFICER, regions=["5400"]))

    in_region = await officer.SummarizeInvoices(summary(region_code=region, group_by=[REGION]))
    assert [g.region_code for g in in_region.groups] == [region]
    assert in_region.total.invoice_count >= len(invoices)
    # Naming a tax id, an officer is told what happened in its regions: all of this seller's invoices, none of them
    # for an officer elsewhere (the buyer is in another region, but the invoices are the seller's region's).
    named = await officer.SummarizeInvoices(summary(seller_tax_id=seller))
    assert figures(named.total) == totals(invoices, lambda _: "all")["all"]
    assert figures((await elsewhere.SummarizeInvoices(summary(buyer_tax_id=buyer))).total) == (0, 0, 0, 0)

    error = await refused(elsewhere, summary(region_code=region))
    assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_THE_REGION_OFFICER")


async def test_taxpayers_report_on_their_own_tax_ids_only(
    register: Register,
    new_key: Any,
    database_url: str,
    seller_books: tuple[str, str, list[invoice_pb2.Invoice]],
) -> None:
    seller, _, invoices = seller_books
    stranger_id = f"report-stranger-{uuid.uuid4().hex[:8]}"
    stranger = register.reports_as(new_key(Role.TAXPAYER, tax_ids=[new_tax_id("510104")], principal_id=stranger_id))
    error = await refused(stranger, summary(seller_tax_id=seller))
    assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_THE_TAXPAYER")
    assert await audited_refusals(database_url, stranger_id) == [("DENIED", "NOT_THE_TAXPAYER")]
    error = await refused(register.reports, summary(region_code=invoices[0].region_code))
    assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_THE_REGION_OFFICER")
    verifier = register.reports_as(new_key(Role.VERIFIER))
    error = await refused(verifier, summary(seller_tax_id=seller))
    assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")


async def audited_refusals(database_url: str, actor: str) -> list[tuple[str, str]]:
    """The audit log's SummarizeInvoices rows of ``actor`` (outcome, reason), once the batched writer has them."""
    deadline = asyncio.get_running_loop().time() + AUDIT_WAIT
    while True:
        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT outcome, details->>'reason' FROM audit_events WHERE actor = %s AND action = %s ORDER BY id",
                (actor, "/fapiao.v1.ReportService/SummarizeInvoices"),
            ).fetchall()
        if rows or asyncio.get_running_loop().time() > deadline:
            return [(outcome, reason) for outcome, reason in rows]
        await asyncio.sleep(0.1)


async def test_a_request_without_dates_names_both(register: Register) -> None:
    error = await refused(register.reports, rs.SummarizeInvoicesRequest(seller_tax_id=new_tax_id()))
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_SUMMARY")
    assert [violation.field for violation in error.field_violations] == ["start_date", "end_date"]


@pytest.mark.parametrize(
    ("fields", "violations"),
    [
        ({}, ["seller_tax_id"]),
        ({"seller_tax_id": "SELLER", "region_code": "1100"}, ["seller_tax_id"]),
        ({"region_code": "11"}, ["region_code"]),
        ({"region_code": "1100", "group_by": [TYPE, TYPE]}, ["group_by"]),
        ({"region_code": "1100", "group_by": [9]}, ["group_by[0]"]),
        ({"region_code": "1100", "state": 99, "invoice_type": 5}, ["state", "invoice_type"]),
        ({"region_code": "1100", "start_date": pb_date(date(2025, 1, 1)), "end_date": pb_date(date(2026, 1, 2))},
         ["end_date"]),
        ({"region_code": "1100", "start_date": pb_date(date(2026, 2, 1)), "end_date": pb_date(date(2026, 1, 1))},
         ["end_date"]),
        ({"region_code": "1100", "end_date": date_pb2.Date(year=2026, month=2, day=30)}, ["end_date"]),
    ],
)  # fmt: skip
async def test_a_bad_request_names_its_fields(
    register: Register, fields: dict[str, Any], violations: list[str]
) -> None:
    fields = {key: new_tax_id() if value == "SELLER" else value for key, value in fields.items()}
    error = await refused(register.reports, summary(**fields))
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_SUMMARY")
    assert [violation.field for violation in error.field_violations] == violations
