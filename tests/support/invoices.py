"""Invoices for lifecycle tests: a fresh taxpayer per test, valid IssueInvoiceRequests of every type, and the
register's rich errors read back (ErrorInfo reason, BadRequest fields, PreconditionFailure)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao_server.domain.taxpayer import USCC_ALPHABET, uscc_check_character

# Lines of a typical invoice: 13% goods with a half-up tax (1234567 x 13% = 160493.71 -> 160494), 6% services
# whose tax rounds up at exactly half a fen (25 x 6% = 1.5 -> 2) and 0%.
LINES = (
    pb.IssueLine(item_name="*计算机设备*服务器", amount_fen=1_234_567, tax_rate_basis_points=1300,
                 quantity="2", unit_price="6172.835", unit="台"),
    pb.IssueLine(item_name="*信息技术服务*运维", amount_fen=25, tax_rate_basis_points=600),
    pb.IssueLine(item_name="*图书*技术手册", amount_fen=9_990, tax_rate_basis_points=0),
)  # fmt: skip
LINES_TAX = (160_494, 2, 0)
VIN = "LSVAU2180N2183294"


def tax_id(division: str = "110108") -> str:
    """A unified social credit code no other test uses: an enterprise (91) registered in ``division`` (six
    digits; characters 3-6 decide an invoice's region), a random organisation code, and its check character."""
    org = "".join(secrets.choice(USCC_ALPHABET) for _ in range(9))
    first17 = f"91{division}{org}"
    return first17 + uscc_check_character(first17)


def new_request_id() -> str:
    return str(uuid.uuid4())


def issue_request(
    kind: int,
    seller_tax_id: str,
    buyer_tax_id: str = "",
    *,
    lines: tuple[pb.IssueLine, ...] = LINES,
    request_id: str = "",
) -> pb.IssueInvoiceRequest:
    """A valid request to issue an invoice of ``kind``; motor vehicle and used car invoices get one line and a
    vehicle, as they must."""
    request = pb.IssueInvoiceRequest(
        request_id=request_id,
        invoice_type=kind,  # type: ignore[arg-type]
        seller=invoice_pb2.Party(tax_id=seller_tax_id, name="北京测试科技有限公司", address="北京市海淀区"),
        buyer=invoice_pb2.Party(tax_id=buyer_tax_id, name="上海采购有限公司"),
        lines=lines,
        issuer_name="张三",
    )
    if kind in (invoice_pb2.INVOICE_TYPE_MOTOR_VEHICLE, invoice_pb2.INVOICE_TYPE_USED_CAR):
        del request.lines[1:]
        request.vehicle.CopyFrom(invoice_pb2.VehicleDetails(vin=VIN, brand_model="大众 帕萨特"))
    return request


@dataclass(frozen=True)
class Refusal:
    """What a failed call carried."""

    code: grpc.StatusCode
    reason: str
    fields: frozenset[str]
    preconditions: tuple[str, ...]
    message: str


def refusal_of(error: grpc.RpcError) -> Refusal:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"{error} carries no google.rpc.Status"
    reason, fields, preconditions = "", set(), []
    for detail in status.details:
        info, bad, failure = (
            error_details_pb2.ErrorInfo(),
            error_details_pb2.BadRequest(),
            error_details_pb2.PreconditionFailure(),
        )
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(bad):
            fields.update(v.field for v in bad.field_violations)
        elif detail.Unpack(failure):
            preconditions.extend(v.type for v in failure.violations)
    return Refusal(error.code(), reason, frozenset(fields), tuple(preconditions), status.message)  # type: ignore[attr-defined]
