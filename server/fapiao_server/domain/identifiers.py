"""Invoice codes, numbers, 数电 numbers and check codes (docs/domain.md section 1).

Each parser returns a value object or raises ``ValueError`` with a sentence fit for a field violation; the
caller decides the field name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .invoice_types import InvoiceType

# Kind digits 11-12 of a 12-digit VAT-system code (first digit 0). "13" -> 08 is our unconfirmed reading.
_TWELVE_DIGIT_KINDS = {
    "04": InvoiceType.VAT_GENERAL,
    "05": InvoiceType.VAT_GENERAL,
    "06": InvoiceType.VAT_GENERAL_ROLL,
    "07": InvoiceType.VAT_GENERAL_ROLL,
    "11": InvoiceType.E_VAT_GENERAL,
    "12": InvoiceType.TOLL,
    "13": InvoiceType.E_VAT_SPECIAL,
    "17": InvoiceType.USED_CAR,
}
# Digit 8 of a 10-digit code.
_TEN_DIGIT_KINDS = {
    "1": InvoiceType.VAT_SPECIAL,
    "5": InvoiceType.VAT_SPECIAL,
    "3": InvoiceType.VAT_GENERAL,
    "6": InvoiceType.VAT_GENERAL,
    "2": InvoiceType.FREIGHT_VAT_SPECIAL,
    "7": InvoiceType.FREIGHT_VAT_SPECIAL,
}
# Historic 12-digit e-invoice codes that do not follow the kind rule.
_HISTORIC_E_GENERAL_CODES = frozenset({"144031539110", "131001570151", "133011501118", "111001571071"})
# 计划单列市: routed on their own rather than to their province.
_SEPARATELY_PLANNED_CITIES = frozenset({"2102", "3302", "3502", "3702", "4403"})
# Province-level division codes (GB/T 2260), the first two digits of a region and digits 3-4 of a 数电 number.
PROVINCE_CODES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
    ]
)


@dataclass(frozen=True, slots=True)
class InvoiceCode:
    """A legacy 发票代码 with what it encodes."""

    code: str
    region: str  # 4 digits, e.g. "1100"
    year: int  # two-digit year as printed, e.g. 16
    invoice_type: InvoiceType

    @property
    def routing_region(self) -> str:
        return routing_region(self.region)


def routing_region(region: str) -> str:
    """The bureau an invoice of ``region`` is routed to: its province (XX00) or a separately planned city."""
    return region if region in _SEPARATELY_PLANNED_CITIES else region[:2] + "00"


def _check_year(two_digits: str, today: date) -> int:
    year = int(two_digits)
    if year == 0:
        raise ValueError(f"year digits {two_digits!r} are not a valid year")
    if year > today.year % 100:
        raise ValueError(f"year digits {two_digits!r} are later than the current year {today.year}")
    return year


def _check_province(two_digits: str) -> None:
    if two_digits not in PROVINCE_CODES:
        raise ValueError(f"region {two_digits!r} is not a province-level division code")


def parse_invoice_code(code: str, today: date) -> InvoiceCode:
    """Parse a 10- or 12-digit invoice code; the type must be derivable and the year sane."""
    if not code.isascii() or not code.isdigit() or len(code) not in (10, 12):
        raise ValueError("must be 10 or 12 digits")
    if len(code) == 10:
        region, year_digits = code[0:4], code[4:6]
        kind = _TEN_DIGIT_KINDS.get(code[7])
        if kind is None:
            raise ValueError(f"digit 8 ({code[7]!r}) names no invoice type")
    else:
        region, year_digits = code[1:5], code[5:7]
        if code in _HISTORIC_E_GENERAL_CODES:
            kind = InvoiceType.E_VAT_GENERAL
        elif code[0] == "0":
            kind = _TWELVE_DIGIT_KINDS.get(code[10:12])
            if kind is None:
                raise ValueError(f"digits 11-12 ({code[10:12]!r}) name no invoice type")
        elif code[7] == "2":
            kind = InvoiceType.MOTOR_VEHICLE
        else:
            raise ValueError("a 12-digit code not starting with 0 must have 2 as digit 8 (motor vehicle)")
    _check_province(region[:2])
    return InvoiceCode(code=code, region=region, year=_check_year(year_digits, today), invoice_type=kind)


def check_legacy_number(number: str) -> str:
    """A legacy 发票号码: exactly 8 digits."""
    if not number.isascii() or not number.isdigit() or len(number) != 8:
        raise ValueError("must be 8 digits for an invoice with a code")
    return number


@dataclass(frozen=True, slots=True)
class DigitalNumber:
    """A 20-digit 数电 number: year, province, issuing channel, 15-digit sequence."""

    number: str
    year: int
    province: str
    channel: str
    sequence: int

    @property
    def region(self) -> str:
        return self.province + "00"


def parse_digital_number(number: str, today: date) -> DigitalNumber:
    """Parse a 数电 number: 20 digits, a sane year and a real province."""
    if not number.isascii() or not number.isdigit() or len(number) != 20:
        raise ValueError("must be 20 digits for a 数电 invoice")
    province = number[2:4]
    _check_province(province)
    return DigitalNumber(
        number=number,
        year=_check_year(number[0:2], today),
        province=province,
        channel=number[4],
        sequence=int(number[5:]),
    )


def check_code_suffix(check_code: str) -> str:
    """The last 6 digits of a check code given as its last 6 or all 20 digits."""
    if not check_code.isascii() or not check_code.isdigit() or len(check_code) not in (6, 20):
        raise ValueError("must be the last 6 digits of the check code (or all 20)")
    return check_code[-6:]
