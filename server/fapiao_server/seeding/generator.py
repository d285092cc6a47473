"""Generates realistic invoices of every type: valid codes and tax ids, priced lines, exact tax, a few voided,
certified and red-letter (reversed) invoices. Deterministic for a given seed. Numbers are not assigned here:
the writer reserves them from the same counters the register issues from, so seeding never collides.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from ..domain.calendar import BUSINESS_TZ
from ..domain.identifiers import routing_region
from ..domain.invoice import InvoiceState, Party, VehicleDetails
from ..domain.invoice_types import CHECK_CODE_TYPES, InvoiceType
from ..domain.money import format_yuan, tax_fen
from ..domain.taxpayer import USCC_ALPHABET, uscc_check_character
from . import catalogue as cat

# Relative frequency of each type in today's register: 数电 dominate, legacy types linger.
TYPE_WEIGHTS = {
    InvoiceType.DIGITAL_GENERAL: 25,
    InvoiceType.DIGITAL_SPECIAL: 20,
    InvoiceType.E_VAT_GENERAL: 12,
    InvoiceType.VAT_SPECIAL: 10,
    InvoiceType.VAT_GENERAL: 8,
    InvoiceType.TOLL: 6,
    InvoiceType.E_VAT_SPECIAL: 5,
    InvoiceType.VAT_GENERAL_ROLL: 3,
    InvoiceType.MOTOR_VEHICLE: 3,
    InvoiceType.FREIGHT_VAT_SPECIAL: 2,
    InvoiceType.USED_CAR: 2,
}
# Kind digits by type: (10-digit code digit 8 choices, 12-digit code digits 11-12 choices).
_TEN_DIGIT = {InvoiceType.VAT_SPECIAL: "15", InvoiceType.FREIGHT_VAT_SPECIAL: "27", InvoiceType.VAT_GENERAL: "36"}
_TWELVE_DIGIT = {
    InvoiceType.VAT_GENERAL: ("04", "05"),
    InvoiceType.VAT_GENERAL_ROLL: ("06", "07"),
    InvoiceType.E_VAT_GENERAL: ("11",),
    InvoiceType.TOLL: ("12",),
    InvoiceType.E_VAT_SPECIAL: ("13",),
    InvoiceType.USED_CAR: ("17",),
}
_SPECIAL = (InvoiceType.VAT_SPECIAL, InvoiceType.E_VAT_SPECIAL, InvoiceType.DIGITAL_SPECIAL)
HISTORY_DAYS = 3 * 365
VOID_SHARE, REVERSE_SHARE, CERTIFY_SHARE = 0.02, 0.02, 0.4


@dataclass(slots=True)
class SeedLine:
    item_name: str
    tax_classification_code: str
    unit: str
    quantity: str
    unit_price: str
    amount_fen: int
    tax_rate_basis_points: int
    tax_fen: int
    specification: str = ""
    # On a red invoice: the original line this line reverses.
    reverses_line: int | None = None


@dataclass(slots=True)
class SeedInvoice:
    invoice_type: InvoiceType
    prefix: str  # the invoice code, or the first five digits of a 数电 number
    issue_time: datetime
    region: str
    seller: Party
    buyer: Party
    lines: list[SeedLine]
    check_code: str
    tag: str
    issuer_name: str
    payee_name: str
    reviewer_name: str
    vehicle: VehicleDetails | None = None
    state: InvoiceState = InvoiceState.ISSUED
    voided_at: datetime | None = None
    certified_at: datetime | None = None
    reverses: int | None = None  # position, in the same batch, of the invoice this one reverses
    reversed_amount_fen: int = 0
    remarks: str = ""
    amount_fen: int = field(init=False)
    tax_fen: int = field(init=False)

    def __post_init__(self) -> None:
        self.amount_fen = sum(line.amount_fen for line in self.lines)
        self.tax_fen = sum(line.tax_fen for line in self.lines)

    @property
    def issue_date(self) -> date:
        return self.issue_time.astimezone(BUSINESS_TZ).date()

    @property
    def total_fen(self) -> int:
        return self.amount_fen + self.tax_fen


class InvoiceGenerator:
    def __init__(self, *, seed: int, now: datetime, sellers: int = 2000, buyers: int = 5000) -> None:
        self._rng = random.Random(seed)
        self._now = now
        self._types = list(TYPE_WEIGHTS)
        self._weights = list(TYPE_WEIGHTS.values())
        self._sellers = [self._company(self._rng.choice(cat.REGIONS)) for _ in range(sellers)]
        self._buyers = [self._company(self._rng.choice(cat.REGIONS)) for _ in range(buyers)]

    def _uscc(self, region: str) -> str:
        rng = self._rng
        division = region + f"{rng.randrange(1, 20):02d}"
        body = "91" + division + "".join(rng.choices(USCC_ALPHABET, k=9))
        return body + uscc_check_character(body)

    def _company(self, region: str) -> Party:
        rng = self._rng
        city = cat.CITY_NAMES[region]
        name = f"{city}{rng.choice(cat.WORDS)}{rng.choice(cat.INDUSTRIES)}{rng.choice(cat.SUFFIXES)}"
        return Party(
            tax_id=self._uscc(region),
            name=name,
            address=f"{city}市{rng.choice(cat.STREETS)}{rng.randrange(1, 999)}号",
            phone=f"0{rng.randrange(10, 999)}-{rng.randrange(10_000_000, 99_999_999)}",
            bank_name=f"{rng.choice(cat.BANKS)}{city}分行",
            bank_account=str(rng.randrange(10**15, 10**19)),
        )

    def batch(self, count: int) -> list[SeedInvoice]:
        """``count`` invoices; red-letter invoices follow the originals they reverse and count toward it."""
        out: list[SeedInvoice] = []
        while len(out) < count:
            invoice = self._invoice()
            out.append(invoice)
            if len(out) < count and invoice.state is InvoiceState.ISSUED and self._rng.random() < REVERSE_SHARE:
                out.append(self._reverse(invoice, len(out) - 1))
        return out

    def _issue_time(self, earliest: datetime | None = None) -> datetime:
        rng = self._rng
        today = self._now.astimezone(BUSINESS_TZ).date()
        start = earliest.astimezone(BUSINESS_TZ).date() if earliest else today - timedelta(days=HISTORY_DAYS)
        day = start + timedelta(days=rng.randrange((today - start).days + 1))
        moment = datetime.combine(day, time(8), BUSINESS_TZ) + timedelta(seconds=rng.randrange(12 * 3600))
        moment = min(moment.astimezone(UTC), self._now)
        return max(moment, earliest) if earliest else moment

    def _prefix(self, kind: InvoiceType, region: str, year: int) -> str:
        """A valid invoice code (legacy) or 数电 number prefix; few per (type, region, year) so numbers run dense."""
        rng = self._rng
        yy = f"{year % 100:02d}"
        if kind.digital:
            return yy + region[:2] + "2"
        batch = rng.randrange(3)
        if kind is InvoiceType.MOTOR_VEHICLE:
            return f"1{region}{yy}2{batch:04d}"
        if kind in _TEN_DIGIT and (kind not in _TWELVE_DIGIT or rng.random() < 0.5):
            return f"{region}{yy}{batch}{rng.choice(_TEN_DIGIT[kind])}00"
        return f"0{region}{yy}{batch:03d}{rng.choice(_TWELVE_DIGIT[kind])}"

    def _lines(self, kind: InvoiceType) -> tuple[list[SeedLine], VehicleDetails | None]:
        rng = self._rng
        if kind is InvoiceType.MOTOR_VEHICLE or kind is InvoiceType.USED_CAR:
            model, vehicle_type = rng.choice(cat.CARS)
            item, code, unit, rate, (low, high) = cat.VEHICLE
            price = rng.randrange(low, high) // 100 * 100
            vehicle = VehicleDetails(
                vin="L" + "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ0123456789", k=16)),
                brand_model=model,
                vehicle_type=vehicle_type,
                license_plate=f"沪{rng.choice(cat.PLATE_LETTERS)}{rng.randrange(10000, 99999)}"
                if kind is InvoiceType.USED_CAR
                else "",
            )
            # Used-car invoices print one total (车价合计) with no VAT line of their own.
            rate = 0 if kind is InvoiceType.USED_CAR else rate
            return [_line(item, code, unit, 1, price, rate, model)], vehicle
        if kind is InvoiceType.FREIGHT_VAT_SPECIAL:
            choices: tuple[tuple[str, str, str, int, tuple[int, int]], ...] = (cat.FREIGHT,)
        elif kind is InvoiceType.TOLL:
            choices = (cat.TOLL,)
        else:
            choices = cat.GOODS
        count = rng.choices((1, 2, 3, 4, 6), weights=(45, 25, 15, 10, 5))[0]
        lines = []
        for _ in range(count):
            item, code, unit, rate, (low, high) = rng.choice(choices)
            lines.append(_line(item, code, unit, rng.randrange(1, 20), rng.randrange(low, high), rate))
        return lines, None

    def _invoice(self) -> SeedInvoice:
        rng = self._rng
        kind = rng.choices(self._types, weights=self._weights)[0]
        seller = rng.choice(self._sellers)
        region = routing_region(seller.tax_id[2:6])
        issued = self._issue_time()
        lines, vehicle = self._lines(kind)
        individual = kind in (InvoiceType.DIGITAL_GENERAL, InvoiceType.E_VAT_GENERAL) and rng.random() < 0.3
        buyer = Party(tax_id="", name=rng.choice(cat.PEOPLE)) if individual else rng.choice(self._buyers)
        invoice = SeedInvoice(
            invoice_type=kind,
            prefix=self._prefix(kind, region, issued.astimezone(BUSINESS_TZ).year),
            issue_time=issued,
            region=region,
            seller=seller,
            buyer=buyer,
            lines=lines,
            check_code=self._check_code(kind),
            tag=f"{rng.randrange(0x10000):04X}",
            issuer_name=rng.choice(cat.PEOPLE),
            payee_name=rng.choice(cat.PEOPLE),
            reviewer_name=rng.choice(cat.PEOPLE),
            vehicle=vehicle,
        )
        if kind.paper and rng.random() < VOID_SHARE:
            invoice.state, invoice.voided_at = InvoiceState.VOIDED, self._same_month_after(issued)
        elif kind in _SPECIAL and rng.random() < CERTIFY_SHARE:
            invoice.certified_at = min(issued + timedelta(days=rng.randrange(1, 30)), self._now)
        return invoice

    def _check_code(self, kind: InvoiceType) -> str:
        return f"{self._rng.randrange(10**20):020d}" if kind in CHECK_CODE_TYPES else ""

    def _same_month_after(self, issued: datetime) -> datetime:
        local = issued.astimezone(BUSINESS_TZ)
        next_month = (local.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0)
        span = min(next_month.astimezone(UTC), self._now) - issued
        return issued + span * self._rng.random()

    def _reverse(self, original: SeedInvoice, position: int) -> SeedInvoice:
        """A red-letter invoice reversing all of ``original``, or one line, or a discount on one line."""
        rng = self._rng
        roll = rng.random()
        if roll < 0.6:
            lines = [_negated(line, n) for n, line in enumerate(original.lines, start=1)]
            reason = "开票有误"
        elif roll < 0.8 and len(original.lines) > 1:
            lines = [_negated(original.lines[0], 1)]
            reason = "销货退回"
        else:
            first = original.lines[0]
            share = rng.randrange(10, 60)
            amount = -(first.amount_fen * share // 100) or -1
            lines = [_line(first.item_name, first.tax_classification_code, "", 0, 0, first.tax_rate_basis_points,
                           amount_fen=amount)]  # fmt: skip
            lines[0].reverses_line = 1
            reason = "销售折让"
        issued = self._issue_time(earliest=original.issue_time)
        red = SeedInvoice(
            invoice_type=original.invoice_type,
            prefix=self._prefix(original.invoice_type, original.region, issued.astimezone(BUSINESS_TZ).year),
            issue_time=issued,
            region=original.region,
            seller=original.seller,
            buyer=original.buyer,
            lines=lines,
            check_code=self._check_code(original.invoice_type),
            tag=f"{rng.randrange(0x10000):04X}",
            issuer_name=original.issuer_name,
            payee_name=original.payee_name,
            reviewer_name=original.reviewer_name,
            vehicle=original.vehicle,
            reverses=position,
            remarks=f"红字发票 ({reason})",
        )
        original.reversed_amount_fen = -red.amount_fen
        full = original.reversed_amount_fen == original.amount_fen
        original.state = InvoiceState.FULLY_REVERSED if full else InvoiceState.PARTIALLY_REVERSED
        return red


def _line(
    item: str,
    code: str,
    unit: str,
    quantity: int,
    unit_price_fen: int,
    rate: int,
    specification: str = "",
    *,
    amount_fen: int | None = None,
) -> SeedLine:
    amount = quantity * unit_price_fen if amount_fen is None else amount_fen
    return SeedLine(
        item_name=item,
        tax_classification_code=code,
        unit=unit,
        quantity=str(quantity) if quantity else "",
        unit_price=format_yuan(unit_price_fen) if quantity else "",
        amount_fen=amount,
        tax_rate_basis_points=rate,
        tax_fen=tax_fen(amount, rate),
        specification=specification,
    )


def _negated(line: SeedLine, original_line: int) -> SeedLine:
    return SeedLine(
        item_name=line.item_name,
        tax_classification_code=line.tax_classification_code,
        unit=line.unit,
        quantity=f"-{line.quantity}" if line.quantity else "",
        unit_price=line.unit_price,
        amount_fen=-line.amount_fen,
        tax_rate_basis_points=line.tax_rate_basis_points,
        tax_fen=-line.tax_fen,
        specification=line.specification,
        reverses_line=original_line,
    )
