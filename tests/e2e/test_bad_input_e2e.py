"""Bad input, field by field: always INVALID_ARGUMENT naming each bad field, with a stable reason; never
INTERNAL, never a crash."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import grpc
import pytest
from google.type.date_pb2 import Date

from fapiao.v1 import verification_service_pb2 as pb
from fapiao_client import FapiaoError, VerificationClient
from tests.support.access import authorized
from tests.support.server import ServerProcess

TODAY = date.today()
RECENT = (TODAY - timedelta(days=30)).isoformat()
GOOD_GENERAL = {
    "invoice_code": "011002305111",
    "invoice_number": "00000001",
    "issue_date": RECENT,
    "check_code": "123456",
}


def _message(**fields: Any) -> pb.VerifyInvoiceRequest:
    """A request built field by field, so impossible dates and odd values can be sent as they are."""
    request = pb.VerifyInvoiceRequest()
    for name, value in fields.items():
        if name == "issue_date":
            request.issue_date.CopyFrom(value if isinstance(value, Date) else _date(value))
        else:
            setattr(request, name, value)
    return request


def _date(text: str) -> Date:
    day = date.fromisoformat(text)
    return Date(year=day.year, month=day.month, day=day.day)


CASES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "code too short": ({**GOOD_GENERAL, "invoice_code": "12345"}, {"invoice_code"}),
    "code names no type": ({**GOOD_GENERAL, "invoice_code": "1100164930"}, {"invoice_code"}),
    "code year 00": ({**GOOD_GENERAL, "invoice_code": "1100004130"}, {"invoice_code"}),
    "code year in the future": ({**GOOD_GENERAL, "invoice_code": "1100994130"}, {"invoice_code"}),
    "code with a letter": ({**GOOD_GENERAL, "invoice_code": "11001A4130"}, {"invoice_code"}),
    "code of no province": ({**GOOD_GENERAL, "invoice_code": "9900164130"}, {"invoice_code"}),
    "huge code": ({**GOOD_GENERAL, "invoice_code": "1" * 100_000}, {"invoice_code"}),
    "number of 7 digits": ({**GOOD_GENERAL, "invoice_number": "1234567"}, {"invoice_number"}),
    "number with SQL": ({**GOOD_GENERAL, "invoice_number": "1'; DROP TABLE invoices;--"}, {"invoice_number"}),
    "digital number with a code": ({**GOOD_GENERAL, "invoice_number": "25110000000000000001"}, {"invoice_number"}),
    "digital number of no province": (
        {"invoice_number": "25990000000000000001", "issue_date": RECENT, "total_fen": 100},
        {"invoice_number"},
    ),
    "no number": ({"issue_date": RECENT, "total_fen": 100}, {"invoice_number"}),
    "8-digit number without code": (
        {"invoice_number": "12345678", "issue_date": RECENT, "total_fen": 100},
        {"invoice_code"},
    ),
    "no date": ({k: v for k, v in GOOD_GENERAL.items() if k != "issue_date"}, {"issue_date"}),
    "impossible date": ({**GOOD_GENERAL, "issue_date": Date(year=2025, month=2, day=30)}, {"issue_date"}),
    "future date": ({**GOOD_GENERAL, "issue_date": (TODAY + timedelta(days=2)).isoformat()}, {"issue_date"}),
    "older than five years": ({**GOOD_GENERAL, "issue_date": date(TODAY.year - 6, 1, 1).isoformat()}, {"issue_date"}),
    "no proof": ({k: v for k, v in GOOD_GENERAL.items() if k != "check_code"}, {"check_code"}),
    "wrong proof for the type": (
        {**{k: v for k, v in GOOD_GENERAL.items() if k != "check_code"}, "amount_fen": 100},
        {"amount_fen"},
    ),
    "check code of 5 digits": ({**GOOD_GENERAL, "check_code": "12345"}, {"check_code"}),
    "check code of letters": ({**GOOD_GENERAL, "check_code": "abcdef"}, {"check_code"}),
    "enormous amount": (
        {"invoice_code": "1100231130", "invoice_number": "00000001", "issue_date": RECENT, "amount_fen": 10**17},
        {"amount_fen"},
    ),
    "unknown type": ({**GOOD_GENERAL, "invoice_type": 99}, {"invoice_type"}),
    "type contradicting the code": ({**GOOD_GENERAL, "invoice_type": 1}, {"invoice_type"}),
    "legacy type without a code": (
        {"invoice_number": "25110000000000000001", "issue_date": RECENT, "total_fen": 1, "invoice_type": 4},
        {"invoice_type"},
    ),
    "everything wrong at once": (
        {"invoice_code": "12", "invoice_number": "x", "check_code": "1"},
        {"invoice_code", "invoice_number", "issue_date"},
    ),
}


@pytest.fixture(scope="module")
def client(server: ServerProcess, verifier_key: str):  # type: ignore[no-untyped-def]
    with VerificationClient(server.address, token=verifier_key) as opened:
        yield opened


def _refusal(call: Any) -> FapiaoError:
    with pytest.raises(FapiaoError) as refused:
        call()
    error = refused.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT, error
    assert error.reason, "every refusal carries an ErrorInfo reason"
    return error


@pytest.mark.parametrize("case", CASES)
def test_verify_invoice_names_each_bad_field(client: VerificationClient, case: str) -> None:
    fields, expected = CASES[case]
    error = _refusal(lambda: client.verify_invoice(_message(**fields)))
    assert {v.field for v in error.field_violations} == expected
    assert error.reason == "INVALID_VERIFICATION_QUERY"


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "hello",
        "01,10,011001605111,80100798,64.9,20161018",
        "02,10,011001605111,80100798,64.9,20251018,85342965681116380258,BE2D,",
        "01,51,,25110000000000000001,64.9,20251018,,BE2D,",
        "01,10,011001605111,80100798,6x4.9,20251018,85342965681116380258,BE2D,",
        "01,10,011001605111,80100798,64.9,20251318,85342965681116380258,BE2D,",
        "01,10,011001605111,80100798,64.9,20251018,85342965681116380258,ZZZZ,",
        "01,10,011001605111,80100798,64.9,20251018,,BE2D,",
        "01," * 10_000,
    ],
)
def test_qr_payloads_that_are_not_invoices(client: VerificationClient, payload: str) -> None:
    error = _refusal(lambda: client.verify_qr_code(payload))
    assert {v.field for v in error.field_violations} == {"payload"}


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"page_size": -1}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
        ({"outcome": 99}, "outcome"),
        ({"invoice_number": "12ab"}, "invoice_number"),
        ({"invoice_code": "1" * 30}, "invoice_code"),
    ],
)
def test_history_filters_are_checked(client: VerificationClient, filters: dict[str, Any], field: str) -> None:
    error = _refusal(lambda: list(client.list_verification_records(**filters)))
    assert {v.field for v in error.field_violations} == {field}


def test_history_time_range_is_checked(server: ServerProcess, verifier_key: str) -> None:
    with grpc.insecure_channel(server.address) as opened:
        channel = authorized(opened, verifier_key)
        stub = channel.unary_unary(
            "/fapiao.v1.VerificationService/ListVerificationRecords",
            request_serializer=pb.ListVerificationRecordsRequest.SerializeToString,
            response_deserializer=pb.ListVerificationRecordsResponse.FromString,
        )
        backwards = pb.ListVerificationRecordsRequest()
        backwards.start_time.seconds, backwards.end_time.seconds = 2_000_000_000, 1_000_000_000
        beyond = pb.ListVerificationRecordsRequest()
        beyond.start_time.seconds = 10**12
        for request, field in ((backwards, "end_time"), (beyond, "start_time")):
            error = _refusal(lambda request=request: _raising(stub, request))
            assert {v.field for v in error.field_violations} == {field}


def _raising(stub: Any, request: Any) -> Any:
    try:
        return stub(request)
    except grpc.RpcError as error:
        raise FapiaoError.from_rpc_error(error) from None


@pytest.mark.parametrize("raw", [b"\x0a\x02\xff\xfe", b"\xff\xff\xff", b"\x1a\x05\x08\x01"])
def test_bytes_that_are_not_a_request(server: ServerProcess, verifier_key: str, raw: bytes) -> None:
    with grpc.insecure_channel(server.address) as opened:
        channel = authorized(opened, verifier_key)
        stub = channel.unary_unary("/fapiao.v1.VerificationService/VerifyInvoice")
        error = _refusal(lambda: _raising(stub, raw))
    assert error.reason in ("MALFORMED_REQUEST", "INVALID_VERIFICATION_QUERY")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Basic dXNlcjpwYXNz", "CREDENTIALS_INVALID"),
        ("Bearer not-a-token", "CREDENTIALS_INVALID"),
        ("Bearer fpk_0123456789abcdef_" + "x" * 43, "CREDENTIALS_INVALID"),
        ("Bearer " + "x" * 5000, "CREDENTIALS_INVALID"),
    ],
)
def test_credentials_that_are_not_credentials(server: ServerProcess, header: str, reason: str) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = channel.unary_unary(
            "/fapiao.v1.VerificationService/VerifyInvoice",
            request_serializer=pb.VerifyInvoiceRequest.SerializeToString,
            response_deserializer=pb.VerifyInvoiceResponse.FromString,
        )
        with pytest.raises(FapiaoError) as refused:
            _raising_with(stub, _message(**GOOD_GENERAL), (("authorization", header),))
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAUTHENTICATED, reason)


def test_two_authorization_headers_are_refused_not_picked_from(server: ServerProcess, verifier_key: str) -> None:
    """Each header alone would be accepted: the call is refused for carrying two, whichever comes first."""
    good = ("authorization", f"Bearer {verifier_key}")
    with grpc.insecure_channel(server.address) as channel:
        stub = channel.unary_unary(
            "/fapiao.v1.VerificationService/VerifyInvoice",
            request_serializer=pb.VerifyInvoiceRequest.SerializeToString,
            response_deserializer=pb.VerifyInvoiceResponse.FromString,
        )
        _raising_with(stub, _message(**GOOD_GENERAL), (good,))
        for headers in ((good, good), (good, ("authorization", "Bearer someone-else"))):
            with pytest.raises(FapiaoError) as refused:
                _raising_with(stub, _message(**GOOD_GENERAL), headers)
            assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
            assert "one authorization header" in refused.value.message


def _raising_with(stub: Any, request: Any, metadata: Any) -> Any:
    try:
        return stub(request, metadata=metadata)
    except grpc.RpcError as error:
        raise FapiaoError.from_rpc_error(error) from None
