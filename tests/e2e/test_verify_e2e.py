"""VerificationService end to end: a real two-worker fleet on a real port, driven by the sync and async clients."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from fapiao.v1 import invoice_pb2
from fapiao.v1 import verification_service_pb2 as pb
from fapiao_client import AsyncVerificationClient, FapiaoError, VerificationClient, verify_request
from tests.conftest import Register, Sample
from tests.support.access import authorized
from tests.support.server import ServerProcess

MATCH, MISMATCH, NOT_FOUND = (
    pb.VERIFICATION_OUTCOME_MATCH,
    pb.VERIFICATION_OUTCOME_MISMATCH,
    pb.VERIFICATION_OUTCOME_NOT_FOUND,
)


@pytest.fixture
def client(server: ServerProcess, new_key: Callable[..., str]):  # type: ignore[no-untyped-def]
    with VerificationClient(server.address, token=new_key()) as opened:
        yield opened


def _check_invoice(answer: pb.VerifyInvoiceResponse, sample: Sample) -> None:
    invoice = answer.invoice
    assert (invoice.invoice_code, invoice.invoice_number, invoice.invoice_type) == (
        sample.invoice_code,
        sample.invoice_number,
        sample.invoice_type,
    )
    assert (invoice.issue_date.year, invoice.issue_date.month, invoice.issue_date.day) == (
        sample.issue_date.year,
        sample.issue_date.month,
        sample.issue_date.day,
    )
    assert invoice.state == sample.state
    assert invoice.total_fen == invoice.amount_fen + invoice.tax_fen == sample.total_fen
    assert invoice.lines and sum(line.amount_fen for line in invoice.lines) == invoice.amount_fen
    assert invoice.seller.tax_id and invoice.seller.name


def test_every_type_verifies_asked_its_own_way(client: VerificationClient, register: Register) -> None:
    for sample in register.one_of_each_type():
        answer = client.verify_invoice(**sample.request_fields())
        assert answer.outcome == MATCH, sample
        _check_invoice(answer, sample)
        assert answer.verification_id and answer.verify_time.seconds > 0
        assert not answer.mismatched_fields


def test_a_disagreeing_field_is_named_but_never_revealed(client: VerificationClient, register: Register) -> None:
    sample = register.sample("invoice_type = 1 AND state = 1")
    fields = {**sample.request_fields(), "amount_fen": sample.amount_fen + 1}
    fields["issue_date"] = sample.issue_date - timedelta(days=1)
    answer = client.verify_invoice(**fields)
    assert answer.outcome == MISMATCH
    assert list(answer.mismatched_fields) == ["issue_date", "amount_fen"]
    assert not answer.HasField("invoice")
    assert str(sample.amount_fen) not in str(answer)


def test_check_code_types_compare_the_last_six_digits(client: VerificationClient, register: Register) -> None:
    sample = register.sample("invoice_type = 10 AND state = 1")
    assert client.verify_invoice(**{**sample.request_fields(), "check_code": sample.check_code}).outcome == MATCH
    wrong = f"{(int(sample.check_code[-6:]) + 1) % 10**6:06d}"
    answer = client.verify_invoice(**{**sample.request_fields(), "check_code": wrong})
    assert list(answer.mismatched_fields) == ["check_code"]


def test_an_unknown_invoice_is_not_found(client: VerificationClient, register: Register) -> None:
    sample = register.sample("invoice_type = 4")
    answer = client.verify_invoice(**{**sample.request_fields(), "invoice_number": "99999999"})
    assert answer.outcome == NOT_FOUND and not answer.HasField("invoice")
    digital = client.verify_invoice(invoice_number="25119000000000000001", issue_date="2025-01-02", total_fen=100)
    assert digital.outcome == NOT_FOUND


def test_the_current_state_is_part_of_the_answer(client: VerificationClient, register: Register) -> None:
    for state in (invoice_pb2.INVOICE_STATE_VOIDED, invoice_pb2.INVOICE_STATE_FULLY_REVERSED):
        sample = register.sample("state = %(s)s", {"s": state})
        answer = client.verify_invoice(**sample.request_fields())
        assert answer.outcome == MATCH and answer.invoice.state == state
    red = register.sample("original_invoice_id IS NOT NULL")
    answer = client.verify_invoice(**red.request_fields())
    assert answer.invoice.red_letter and answer.invoice.original_invoice.invoice_number
    assert answer.invoice.amount_fen < 0


def test_digital_invoices_can_narrow_the_type(client: VerificationClient, register: Register) -> None:
    sample = register.sample("invoice_type = 31 AND state = 1")
    assert client.verify_invoice(**sample.request_fields(), invoice_type=31).outcome == MATCH
    answer = client.verify_invoice(**sample.request_fields(), invoice_type=32)
    assert list(answer.mismatched_fields) == ["invoice_type"]


def test_qr_payloads_of_every_type(client: VerificationClient, register: Register) -> None:
    for sample in register.one_of_each_type():
        answer = client.verify_qr_code(sample.qr_payload)
        assert answer.verification.outcome == MATCH, sample.qr_payload
        decoded = answer.decoded_request
        assert (decoded.invoice_code, decoded.invoice_number) == (sample.invoice_code, sample.invoice_number)
        assert decoded.WhichOneof("proof") == next(iter(sample.proof()))


async def test_async_client(server: ServerProcess, register: Register, new_key: Callable[..., str]) -> None:
    sample = register.sample("invoice_type = 32 AND state = 1")
    async with AsyncVerificationClient(server.address, token=new_key()) as client:
        answer = await client.verify_invoice(**sample.request_fields())
        assert answer.outcome == MATCH
        results = [r async for r in client.batch_verify([verify_request(**sample.request_fields()), "garbage"])]
        assert [r.WhichOneof("result") for r in results] == ["verification", "error"]
        records = [r async for r in client.list_verification_records(page_size=1)]
        assert len(records) == 2
        with pytest.raises(FapiaoError) as refused:
            await client.verify_invoice(invoice_number="1", issue_date="2025-01-01", total_fen=1)
        assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_batches_of_thousands_answer_in_order_item_by_item(client: VerificationClient, register: Register) -> None:
    samples = register.samples("TRUE", limit=1500)
    items: list[pb.VerifyInvoiceRequest | str] = []
    expected: list[str] = []
    for i in range(6000):
        sample = samples[i % len(samples)]
        kind = i % 10
        if kind == 7:
            items.append(verify_request(invoice_code="123", invoice_number="x", issue_date="2025-01-01", total_fen=1))
            expected.append("INVALID")
        elif kind == 8:
            items.append(sample.qr_payload)
            expected.append("MATCH")
        elif kind == 9:
            items.append(verify_request(**{**sample.request_fields(), "invoice_number": "99999999"}))
            expected.append("NOT_FOUND" if sample.invoice_code else "INVALID")
        else:
            items.append(verify_request(**sample.request_fields()))
            expected.append("MATCH")
    results = list(client.batch_verify(items, chunk_size=1000))
    assert [r.index for r in results] == list(range(6000))
    got = []
    for result in results:
        if result.HasField("error"):
            error = FapiaoError.from_status(result.error)
            assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.field_violations
            assert error.reason == "INVALID_VERIFICATION_QUERY"
            got.append("INVALID")
        else:
            got.append(pb.VerificationOutcome.Name(result.verification.outcome).removeprefix("VERIFICATION_OUTCOME_"))
    assert got == expected


def test_a_message_over_the_batch_limit_ends_the_stream(
    server: ServerProcess, register: Register, verifier_key: str
) -> None:
    sample = register.sample()
    message = pb.BatchVerifyInvoicesRequest(
        items=[pb.BatchVerifyItem(invoice=verify_request(**sample.request_fields()))] * 1001
    )
    with grpc.insecure_channel(server.address) as opened:
        channel = authorized(opened, verifier_key)
        stub = pb.DESCRIPTOR.services_by_name["VerificationService"]
        call = channel.stream_stream(
            f"/{stub.full_name}/BatchVerifyInvoices",
            request_serializer=pb.BatchVerifyInvoicesRequest.SerializeToString,
            response_deserializer=pb.BatchVerifyInvoicesResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as refused:
            list(call(iter([message])))
    error = FapiaoError.from_rpc_error(refused.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.reason == "BATCH_MESSAGE_TOO_LARGE"


def test_history_is_per_caller_filterable_and_paged(
    server: ServerProcess, register: Register, new_key: Callable[..., str]
) -> None:
    caller = f"history-{uuid.uuid4().hex[:8]}"
    sample = register.sample("invoice_type = 10 AND state = 1")
    started = datetime.now(UTC)
    with VerificationClient(server.address, token=new_key(principal_id=caller)) as client:
        client.verify_invoice(**sample.request_fields())
        client.verify_invoice(**{**sample.request_fields(), "check_code": "000000"})
        client.verify_qr_code(sample.qr_payload)
        client.verify_invoice(**{**sample.request_fields(), "invoice_number": "99999999"})
        records = list(client.list_verification_records(page_size=2))
        assert len(records) == 4
        assert [r.outcome for r in records] == [NOT_FOUND, MATCH, MISMATCH, MATCH]
        assert {r.caller for r in records} == {caller}
        assert records[1].channel == pb.VERIFICATION_CHANNEL_QR_CODE
        assert records[1].invoice_state == invoice_pb2.INVOICE_STATE_ISSUED
        mismatches = list(client.list_verification_records(outcome=MISMATCH))
        assert [list(r.mismatched_fields) for r in mismatches] == [["check_code"]]
        by_invoice = list(client.list_verification_records(invoice_number=sample.invoice_number, start_time=started))
        assert len(by_invoice) == 3
        assert list(client.list_verification_records(end_time=started)) == []
    with VerificationClient(server.address, token=new_key(principal_id=f"{caller}-other")) as stranger:
        assert list(stranger.list_verification_records()) == []


def test_batch_answers_are_basic_unless_full_is_asked(client: VerificationClient, register: Register) -> None:
    sample = register.sample("invoice_type = 1 AND state = 1")
    request = verify_request(**sample.request_fields())
    (basic,) = client.batch_verify([request])
    (full,) = client.batch_verify([request], view=invoice_pb2.INVOICE_VIEW_FULL)
    assert basic.verification.invoice.seller.name and not basic.verification.invoice.seller.bank_account
    assert not basic.verification.invoice.lines
    assert full.verification.invoice.lines and full.verification.invoice.seller.bank_account
    assert full.verification.invoice.total_fen == basic.verification.invoice.total_fen == sample.total_fen


def test_a_change_in_the_register_reaches_every_worker_within_a_second(
    server: ServerProcess, register: Register, database_url: str
) -> None:
    import time

    import psycopg

    sample = register.sample("invoice_type = 4 AND state = 1 AND certified_at IS NULL")
    with VerificationClient(server.address) as client:
        for _ in range(10):  # warm the near caches of both workers and Redis
            assert client.verify_invoice(**sample.request_fields()).invoice.state == invoice_pb2.INVOICE_STATE_ISSUED
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE invoices SET state = 2, voided_at = now() WHERE id = %s", (sample.id,))
            changed = time.monotonic()
            try:
                while (
                    client.verify_invoice(**sample.request_fields()).invoice.state != invoice_pb2.INVOICE_STATE_VOIDED
                ):
                    assert time.monotonic() - changed < 1.0, "a worker still answered with the old state after 1 s"
                for _ in range(20):  # each new channel's calls may land on either worker
                    with VerificationClient(server.address) as fresh:
                        answer = fresh.verify_invoice(**sample.request_fields())
                    assert answer.invoice.state == invoice_pb2.INVOICE_STATE_VOIDED
                    assert answer.invoice.void_time.seconds > 0
            finally:
                conn.execute("UPDATE invoices SET state = 1, voided_at = NULL WHERE id = %s", (sample.id,))
