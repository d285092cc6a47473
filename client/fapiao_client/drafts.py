"""An invoice to issue, written as plain data (the JSON file of `fapiao issue`), turned into an IssueInvoiceRequest.

The keys are IssueInvoiceRequest's field names; money and rates may also be written the way people write them:

    {
      "invoice_type": "01",                      "01"/"32" (fplx), 1/32, or a name: "VAT_SPECIAL"
      "seller": {"tax_id": "91110108...", "name": "...", "address": "...", "phone": "...",
                 "bank_name": "...", "bank_account": "..."},
      "buyer": {"tax_id": "...", "name": "..."},  tax_id may be left out for an individual on general invoices
      "lines": [
        {"item_name": "*信息技术服务*软件开发服务",
         "amount": "301.00",                      yuan excluding tax (a string, or a JSON number, read exactly)
                                                  ... or "amount_fen": 30100
         "tax_rate": "13%",                       "13%" or "0.13" ... or "tax_rate_basis_points": 1300
         "quantity": "2", "unit_price": "150.50", optional, together (decimal strings)
         "unit": "...", "specification": "...", "tax_classification_code": "..."}
      ],
      "remarks": "...", "issuer_name": "...", "payee_name": "...", "reviewer_name": "...",
      "vehicle": {"vin": "...", "brand_model": "...", "vehicle_type": "...", "license_plate": "..."},
      "request_id": "..."                         optional idempotency key (a UUID)
    }

Everything is checked before anything is sent, and every problem is reported at once, by its path
(``lines[0].amount``): the format here and, for a file (read_issue_requests), the rules that need nothing but the
draft (tax ids, which rates are in use, quantity x price = amount) in draft_rules. The register checks them again,
and the rest (whom the caller acts for). A file may hold several drafts: an array of them, or one object a line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as pb

from .draft_rules import rule_violations
from .errors import FieldViolation
from .money import rate_to_basis_points, yuan_to_fen
from .requests import enum_value, new_request_id

_PARTY = ("tax_id", "name", "address", "phone", "bank_name", "bank_account")
_VEHICLE = ("vin", "brand_model", "vehicle_type", "license_plate")
_LINE_TEXT = ("item_name", "tax_classification_code", "specification", "unit")
_TOP_TEXT = ("remarks", "issuer_name", "payee_name", "reviewer_name", "request_id")
_LINE_KEYS = (*_LINE_TEXT, "quantity", "unit_price", "amount", "amount_fen", "tax_rate", "tax_rate_basis_points")
_TOP_KEYS = ("invoice_type", "seller", "buyer", "lines", "vehicle", *_TOP_TEXT)


class DraftError(ValueError):
    """The data does not describe an invoice; ``violations`` names every bad field by its path."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = tuple(violations)


class _Problems:
    def __init__(self) -> None:
        self.found: list[FieldViolation] = []

    def add(self, path: str, description: str) -> None:
        self.found.append(FieldViolation(path, description))

    def mapping(self, path: str, value: object, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.add(path, "must be a JSON object")
            return {}
        for key in value:
            if key not in allowed:
                self.add(_join(path, str(key)), f"is not a field here; use {', '.join(allowed)}")
        return value

    def text(self, path: str, value: object) -> str:
        if isinstance(value, str):
            return value
        self.add(path, "must be a string")
        return ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def read_issue_request(text: str) -> pb.IssueInvoiceRequest:
    """An IssueInvoiceRequest from JSON text in the format above; numbers are read exactly, never as floats."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise DraftError([FieldViolation("(the file)", f"is not JSON: {error}")]) from None
    return issue_request(data)


def issue_request(data: object, *, rules: bool = False) -> pb.IssueInvoiceRequest:
    """An IssueInvoiceRequest from data in the format above (a dict as json.loads gives it). With ``rules``, also
    the rules of draft_rules (the CLI checks a file so; the register checks them in any case)."""
    if not isinstance(data, Mapping):
        raise DraftError([FieldViolation("(the file)", 'must be a JSON object: {"invoice_type": ..., ...}')])
    problems = _Problems()
    top = problems.mapping("", data, _TOP_KEYS)
    request = pb.IssueInvoiceRequest()
    if "invoice_type" not in top:
        problems.add("invoice_type", 'is required, e.g. "01" or "32"')
    else:
        request.invoice_type = _invoice_type(problems, top["invoice_type"])  # type: ignore[assignment]
    for name in ("seller", "buyer"):
        if name not in top:
            problems.add(name, "is required (an object with tax_id and name)")
        else:
            _fill(problems, name, top[name], _PARTY, getattr(request, name))
    if "vehicle" in top:
        _fill(problems, "vehicle", top["vehicle"], _VEHICLE, request.vehicle)
    for name in _TOP_TEXT:
        if name in top:
            setattr(request, name, problems.text(name, top[name]))
    lines = top.get("lines")
    if not isinstance(lines, list) or not lines:
        problems.add("lines", "is required: a list of at least one line")
    else:
        request.lines.extend(_line(problems, f"lines[{n}]", line) for n, line in enumerate(lines))
    # The rules of a sound invoice, for the fields that were read (a field already reported is not judged twice).
    reported = [v.field for v in problems.found]
    for violation in rule_violations(request) if rules else ():
        field = violation.field
        if not any(field == path or field.startswith((f"{path}.", f"{path}[")) for path in reported):
            problems.found.append(violation)
    if problems.found:
        raise DraftError(problems.found)
    return request


def read_issue_requests(text: str) -> list[pb.IssueInvoiceRequest]:
    """Every draft of a file: one JSON object, an array of them, or objects one after another (one a line).
    Every draft is checked before any is returned; DraftError names each mistake of each, with the line of the
    file its draft starts on when there are several."""
    documents = _documents(text)
    if len(documents) == 1:
        return [issue_request(documents[0][1], rules=True)]
    requests, violations = [], []
    for number, (line, data) in enumerate(documents, 1):
        try:
            requests.append(issue_request(data, rules=True))
        except DraftError as error:
            violations += [FieldViolation(f"draft {number} (line {line}): {v.field}", v.description)
                           for v in error.violations]  # fmt: skip
    if violations:
        raise DraftError(violations)
    return requests


def _documents(text: str) -> list[tuple[int, object]]:
    """The JSON values of the file with the line each starts on."""
    decoder = json.JSONDecoder(parse_float=Decimal)

    def line_of(position: int) -> int:
        return text.count("\n", 0, position) + 1

    def skip(position: int) -> int:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        return position

    found: list[tuple[int, object]] = []
    try:
        position = skip(0)
        if position == len(text):
            raise DraftError([FieldViolation("(the file)", "is empty; it needs an invoice as a JSON object")])
        if text[position] != "[":
            while position < len(text):
                value, end = decoder.raw_decode(text, position)
                found.append((line_of(position), value))
                position = skip(end)
            return found
        position = skip(position + 1)
        while position < len(text) and text[position] != "]":
            value, end = decoder.raw_decode(text, position)
            found.append((line_of(position), value))
            position = skip(end)
            if position < len(text) and text[position] == ",":
                position = skip(position + 1)
            elif position < len(text) and text[position] != "]":
                raise json.JSONDecodeError("expected ',' or ']'", text, position)
        if position >= len(text) or skip(position + 1) != len(text):
            raise json.JSONDecodeError("expected ']' to end the array, then nothing", text, min(position, len(text)))
    except json.JSONDecodeError as error:
        raise DraftError([FieldViolation("(the file)", f"is not JSON: {error}")]) from None
    if not found:
        raise DraftError([FieldViolation("(the file)", "is an empty array; it needs at least one invoice")])
    return found


def _invoice_type(problems: _Problems, value: object) -> int:
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return enum_value(invoice_pb2.InvoiceType, value)
        except ValueError as error:
            problems.add("invoice_type", str(error))
            return 0
    problems.add("invoice_type", 'must be the type code as a string ("01", "32") or a number')
    return 0


def _fill(problems: _Problems, path: str, value: object, keys: tuple[str, ...], target: Any) -> None:
    for key, text in problems.mapping(path, value, keys).items():
        if key in keys:
            setattr(target, key, problems.text(f"{path}.{key}", text))


def _line(problems: _Problems, path: str, value: object) -> pb.IssueLine:
    data = problems.mapping(path, value, _LINE_KEYS)
    line = pb.IssueLine()
    for key in _LINE_TEXT:
        if key in data:
            setattr(line, key, problems.text(f"{path}.{key}", data[key]))
    if "item_name" not in data:
        problems.add(f"{path}.item_name", "is required")
    for key in ("quantity", "unit_price"):
        if key in data:
            setattr(line, key, _positive_decimal(problems, f"{path}.{key}", data[key]))
    line.amount_fen = _one_of(problems, path, data, ("amount", _amount), ("amount_fen", _whole))
    line.tax_rate_basis_points = _one_of(problems, path, data, ("tax_rate", _rate), ("tax_rate_basis_points", _whole))
    return line


def _one_of(problems: _Problems, path: str, data: Mapping[str, Any], *ways: tuple[str, Any]) -> int:
    """The value of exactly one of two spellings of a field (e.g. amount in yuan, or amount_fen)."""
    given = [(key, read) for key, read in ways if key in data]
    if len(given) != 1:
        names = " or ".join(key for key, _ in ways)
        problems.add(f"{path}.{ways[0][0]}", f"give {names}" if not given else f"give {names}, not both")
        return 0
    key, read = given[0]
    result: int = read(problems, f"{path}.{key}", data[key])
    return result


def _number_text(value: object) -> str | None:
    """A JSON string or number as text; None for anything else (booleans, floats, objects)."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    return str(value).strip()


def _amount(problems: _Problems, path: str, value: object) -> int:
    text = _number_text(value)
    try:
        if text is None:
            raise ValueError('must be yuan as a string such as "301.00"')
        fen = yuan_to_fen(text)
    except ValueError as error:
        problems.add(path, str(error))
        return 0
    if fen <= 0:
        problems.add(path, f"{text} is not a positive amount")
    return fen


def _whole(problems: _Problems, path: str, value: object) -> int:
    # Protobuf's JSON mapping writes int64 as a string of digits, so a whole number may come either way.
    text = _number_text(value)
    if text is None or not text.lstrip("-").isdigit():
        problems.add(path, "must be a whole number")
        return 0
    return int(text)


def _rate(problems: _Problems, path: str, value: object) -> int:
    text = _number_text(value)
    try:
        if text is None:
            raise ValueError('must be a string such as "13%" or "0.13"')
        return rate_to_basis_points(text)
    except ValueError as error:
        problems.add(path, str(error))
        return 0


def _positive_decimal(problems: _Problems, path: str, value: object) -> str:
    text = _number_text(value)
    try:
        if text is None or not Decimal(text).is_finite() or Decimal(text) <= 0:
            raise InvalidOperation
    except InvalidOperation:
        problems.add(path, 'must be a positive decimal such as "2" or "150.50"')
        return ""
    return text


def issue_invoice_request(
    invoice: pb.IssueInvoiceRequest | Mapping[str, Any], request_id: str = ""
) -> pb.IssueInvoiceRequest:
    """The request to send for ``invoice`` (a request, or data in the format above), with its request id: the one
    given, else the request's own, else a fresh UUID4. The caller's message is not changed."""
    request = pb.IssueInvoiceRequest()
    if isinstance(invoice, pb.IssueInvoiceRequest):
        request.CopyFrom(invoice)
    else:
        request = issue_request(invoice)
    request.request_id = request_id or request.request_id or new_request_id()
    return request
