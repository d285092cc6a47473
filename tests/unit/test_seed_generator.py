"""The seed generator produces invoices the register's own rules accept."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from fapiao_server.domain.calendar import BUSINESS_TZ, business_date
from fapiao_server.domain.identifiers import PROVINCE_CODES, parse_digital_number, parse_invoice_code
from fapiao_server.domain.invoice import InvoiceState
from fapiao_server.domain.invoice_types import CHECK_CODE_TYPES, InvoiceType
from fapiao_server.domain.money import tax_fen
from fapiao_server.domain.taxpayer import check_tax_id
from fapiao_server.seeding.generator import InvoiceGenerator, SeedInvoice

SEED = 20261127
COUNT = 2000
NOWS = {
    "mid-month": datetime(2026, 11, 27, 2, 30, 15, 123456, tzinfo=UTC),
    # 00:30 on 1 March in Shanghai while still February in UTC: month and year edges in the business zone.
    "month-edge": datetime(2026, 2, 28, 16, 30, tzinfo=UTC),
    "new-year": datetime(2025, 12, 31, 16, 5, tzinfo=UTC),
}


@pytest.fixture(scope="module", params=list(NOWS))
def now(request: pytest.FixtureRequest) -> datetime:
    return NOWS[request.param]


@pytest.fixture(scope="module")
def batch(now: datetime) -> list[SeedInvoice]:
    return InvoiceGenerator(seed=SEED, now=now).batch(COUNT)


def local_month(moment: datetime) -> tuple[int, int]:
    local = moment.astimezone(BUSINESS_TZ)
    return local.year, local.month


def test_batch_size_and_every_type(batch: list[SeedInvoice]) -> None:
    assert len(batch) == COUNT
    assert set(Counter(invoice.invoice_type for invoice in batch)) == set(InvoiceType)


def test_legacy_prefix_is_a_valid_code_of_the_invoice_type(batch: list[SeedInvoice], now: datetime) -> None:
    today = business_date(now)
    for invoice in (i for i in batch if not i.invoice_type.digital):
        code = parse_invoice_code(invoice.prefix, today)
        assert code.invoice_type is invoice.invoice_type, invoice.prefix
        assert code.routing_region == invoice.region, invoice.prefix
        assert code.year == invoice.issue_date.year % 100, invoice.prefix


def test_digital_prefix(batch: list[SeedInvoice], now: datetime) -> None:
    today = business_date(now)
    for invoice in (i for i in batch if i.invoice_type.digital):
        prefix = invoice.prefix
        assert len(prefix) == 5 and prefix.isascii() and prefix.isdigit(), prefix
        assert prefix[2:4] in PROVINCE_CODES, prefix
        assert prefix[2:4] == invoice.region[:2], prefix
        number = parse_digital_number(prefix + "000000000000001", today)
        assert number.year == invoice.issue_date.year % 100, prefix


def test_tax_ids_pass_the_check(batch: list[SeedInvoice]) -> None:
    for invoice in batch:
        assert check_tax_id(invoice.seller.tax_id) == invoice.seller.tax_id
        assert len(invoice.seller.tax_id) == 18
        if invoice.buyer.tax_id:
            assert check_tax_id(invoice.buyer.tax_id) == invoice.buyer.tax_id


def test_line_tax_and_totals(batch: list[SeedInvoice]) -> None:
    for invoice in batch:
        assert invoice.lines
        for line in invoice.lines:
            assert line.tax_fen == tax_fen(line.amount_fen, line.tax_rate_basis_points)
        assert invoice.amount_fen == sum(line.amount_fen for line in invoice.lines)
        assert invoice.tax_fen == sum(line.tax_fen for line in invoice.lines)
        assert invoice.total_fen == invoice.amount_fen + invoice.tax_fen


def test_check_codes_only_where_printed(batch: list[SeedInvoice]) -> None:
    for invoice in batch:
        if invoice.invoice_type in CHECK_CODE_TYPES:
            assert len(invoice.check_code) == 20 and invoice.check_code.isdigit()
        else:
            assert invoice.check_code == ""


def test_reversed_invoices(batch: list[SeedInvoice]) -> None:
    reds = [(position, invoice) for position, invoice in enumerate(batch) if invoice.reverses is not None]
    reversed_states = {InvoiceState.PARTIALLY_REVERSED, InvoiceState.FULLY_REVERSED}
    originals = [position for position, invoice in enumerate(batch) if invoice.state in reversed_states]
    assert reds, "the batch should hold red-letter invoices"
    assert sorted(red.reverses for _, red in reds) == originals  # one red invoice per reversed original
    states = Counter()
    for position, red in reds:
        assert red.reverses < position
        original = batch[red.reverses]
        assert original.reverses is None
        assert red.invoice_type is original.invoice_type
        assert red.amount_fen < 0
        assert all(line.amount_fen < 0 for line in red.lines)
        assert original.reversed_amount_fen == -red.amount_fen
        assert 0 < original.reversed_amount_fen <= original.amount_fen
        full = original.reversed_amount_fen == original.amount_fen
        assert original.state is (InvoiceState.FULLY_REVERSED if full else InvoiceState.PARTIALLY_REVERSED)
        assert red.issue_time >= original.issue_time
        states[original.state] += 1
    assert set(states) == reversed_states


def test_voided_invoices(batch: list[SeedInvoice], now: datetime) -> None:
    voided = [invoice for invoice in batch if invoice.state is InvoiceState.VOIDED]
    assert voided, "the batch should hold voided invoices"
    for invoice in voided:
        assert invoice.invoice_type.paper
        assert invoice.voided_at is not None
        assert invoice.issue_time <= invoice.voided_at <= now
        assert local_month(invoice.voided_at) == local_month(invoice.issue_time)
        assert invoice.certified_at is None
        assert invoice.reversed_amount_fen == 0
    assert all(i.voided_at is None for i in batch if i.state is not InvoiceState.VOIDED)


def test_nothing_after_now(batch: list[SeedInvoice], now: datetime) -> None:
    today = business_date(now)
    for invoice in batch:
        assert invoice.issue_time.tzinfo is not None
        assert invoice.issue_time <= now
        assert invoice.issue_date <= today
        if invoice.certified_at is not None:
            assert invoice.issue_time <= invoice.certified_at <= now


def test_same_seed_same_batch() -> None:
    now = NOWS["mid-month"]
    first = InvoiceGenerator(seed=SEED, now=now).batch(COUNT)
    assert InvoiceGenerator(seed=SEED, now=now).batch(COUNT) == first
    assert InvoiceGenerator(seed=SEED + 1, now=now).batch(100) != first[:100]
