"""Peak-hour traffic on fapiao.v1.VerificationService, as the register's callers make it.

Run on its own for a steady load (``-u``/``-r``/``--run-time``), or through business_day.py to replay a Beijing
business day. Requests are reported under the RPC's name; the deliberate variants carry a suffix so their
numbers stay apart: "[not found]" (expects the NOT_FOUND outcome) and "[invalid]" (expects INVALID_ARGUMENT
with reason INVALID_VERIFICATION_QUERY, which counts as a success).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import timedelta

import grpc
from google.protobuf.message import Message
from grpc_user import STREAM_TIMEOUT_SECONDS, UNARY_TIMEOUT_SECONDS, GrpcUser, UnexpectedAnswer
from invoice_sample import SampledInvoice, load_sample, register_database
from loadtest_settings import LoadTestSettings
from locust import between, events, task
from locust.env import Environment
from locust.runners import MasterRunner

from fapiao.v1 import verification_service_pb2 as pb
from fapiao_client import batch_item

SETTINGS = LoadTestSettings.from_environment()
BATCH_ITEMS = 50
# One batch item in this many is sent as the QR payload rather than the structured request.
BATCH_QR_SHARE = 4
HISTORY_PAGE_SIZE = 20
INVALID = (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_VERIFICATION_QUERY")
MATCH = pb.VERIFICATION_OUTCOME_MATCH
NOT_FOUND = pb.VERIFICATION_OUTCOME_NOT_FOUND
_sample: list[SampledInvoice] = []
_absent: list[SampledInvoice] = []


@events.init.add_listener
def draw_sample(environment: Environment, **_: object) -> None:
    """Each process that runs users draws its invoices once, before any user starts."""
    if isinstance(environment.runner, MasterRunner):
        return
    with register_database(SETTINGS.database_url) as url:
        _sample[:] = load_sample(url, SETTINGS.sample_size, window_years=SETTINGS.window_years)
    _absent[:] = [invoice for invoice in _sample if invoice.absent_number]
    if not _sample or not _absent:
        raise SystemExit("loadtests: the register holds no invoice inside the verification window; run fapiao seed")


def _outcome_is(expected: int, answers: Sequence[Message]) -> None:
    outcome = answers[0].outcome  # type: ignore[attr-defined]
    if outcome != expected:
        names = pb.VerificationOutcome.Name
        mismatched = ", ".join(answers[0].mismatched_fields)  # type: ignore[attr-defined]
        raise UnexpectedAnswer(f"expected {names(expected)}, got {names(outcome)} {mismatched}".rstrip())


def _qr_matches(answers: Sequence[Message]) -> None:
    _outcome_is(MATCH, [answers[0].verification])  # type: ignore[attr-defined]


class VerificationUser(GrpcUser):
    """A caller verifying invoices: mostly one at a time, some by QR code, now and then a small batch or a
    look at its history; a few percent of its requests are malformed or name invoices that do not exist."""

    wait_time = between(0, SETTINGS.max_wait_seconds)

    def _unary(self, rpc: Callable[..., Message], request: Message) -> list[Message]:
        return [rpc(request, timeout=UNARY_TIMEOUT_SECONDS, metadata=self.metadata)]

    @task(62)
    def verify_invoice(self) -> None:
        invoice = random.choice(_sample)
        self.call(
            "VerifyInvoice",
            lambda: self._unary(self.stub.VerifyInvoice, invoice.verify_request()),
            check=lambda answers: _outcome_is(MATCH, answers),
        )

    @task(18)
    def verify_qr_code(self) -> None:
        payload = random.choice(_sample).qr_payload
        self.call(
            "VerifyQrCode",
            lambda: self._unary(self.stub.VerifyQrCode, pb.VerifyQrCodeRequest(payload=payload)),
            check=_qr_matches,
        )

    @task(8)
    def verify_absent_invoice(self) -> None:
        invoice = random.choice(_absent)
        self.call(
            "VerifyInvoice [not found]",
            lambda: self._unary(self.stub.VerifyInvoice, invoice.verify_request(invoice_number=invoice.absent_number)),
            check=lambda answers: _outcome_is(NOT_FOUND, answers),
        )

    @task(5)
    def list_verification_records(self) -> None:
        # Half the time the history of one invoice, as after a dispute; otherwise the latest page.
        number = random.choice(_sample).invoice_number if random.random() < 0.5 else ""
        request = pb.ListVerificationRecordsRequest(page_size=HISTORY_PAGE_SIZE, invoice_number=number)

        def own_history(answers: Sequence[Message]) -> None:
            strangers = {r.caller for r in answers[0].records if r.caller != self.caller}  # type: ignore[attr-defined]
            if strangers:
                raise UnexpectedAnswer(f"history shows other callers' records: {sorted(strangers)}")

        self.call(
            "ListVerificationRecords",
            lambda: self._unary(self.stub.ListVerificationRecords, request),
            check=own_history,
        )

    @task(3)
    def batch_verify_invoices(self) -> None:
        invoices = random.sample(_sample, min(BATCH_ITEMS, len(_sample)))
        items = [
            batch_item(inv.qr_payload if i % BATCH_QR_SHARE == 0 else inv.verify_request())
            for i, inv in enumerate(invoices)
        ]

        def send() -> list[Message]:
            requests = iter([pb.BatchVerifyInvoicesRequest(items=items)])
            return list(self.stub.BatchVerifyInvoices(requests, timeout=STREAM_TIMEOUT_SECONDS, metadata=self.metadata))

        def all_match(answers: Sequence[Message]) -> None:
            results = [result for answer in answers for result in answer.results]  # type: ignore[attr-defined]
            if [r.index for r in results] != list(range(len(items))):
                raise UnexpectedAnswer(f"sent {len(items)} items, got results for {[r.index for r in results]}")
            for result in results:
                if result.HasField("error"):
                    raise UnexpectedAnswer(f"item {result.index} refused: {result.error.message}")
                _outcome_is(MATCH, [result.verification])

        self.call("BatchVerifyInvoices", send, check=all_match)

    @task(3)
    def verify_invalid_invoice(self) -> None:
        self.call(
            "VerifyInvoice [invalid]",
            lambda: self._unary(self.stub.VerifyInvoice, _malformed_request(random.choice(_sample))),
            expect_error=INVALID,
        )

    @task(1)
    def verify_invalid_qr_code(self) -> None:
        # A payload cut short, as a damaged scan produces.
        payload = ",".join(random.choice(_sample).qr_payload.split(",")[:5])
        self.call(
            "VerifyQrCode [invalid]",
            lambda: self._unary(self.stub.VerifyQrCode, pb.VerifyQrCodeRequest(payload=payload)),
            expect_error=INVALID,
        )


def _malformed_request(invoice: SampledInvoice) -> pb.VerifyInvoiceRequest:
    """A request the register must refuse, in one of the ways callers get them wrong."""
    mistake = random.randrange(4)
    if mistake == 0:  # a digit lost in typing
        return invoice.verify_request(invoice_number=invoice.invoice_number[:-1])
    if mistake == 1:  # a date in the future
        return invoice.verify_request(issue_date=invoice.issue_date + timedelta(days=3660))
    if mistake == 2:  # the field another type is asked with
        return invoice.verify_request(
            proof={"amount_fen": 100} if "check_code" in invoice.proof() else {"check_code": "123456"}
        )
    return invoice.verify_request(proof={})  # no type-specific field at all
