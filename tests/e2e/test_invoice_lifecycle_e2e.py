"""InvoiceService end to end on a real two-worker fleet: issue every type, void, certify, report a period, the
red-letter form states 01-09 and red invoices, the 72-hour expiry, history and allowed actions, and AIP-155
idempotent retries. Every allowed transition succeeds; every refused one is FAILED_PRECONDITION naming its rule
(or NOT_FOUND / INVALID_ARGUMENT for bad input), never INTERNAL. Each test has taxpayers of its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import grpc
import psycopg
import pytest

from fapiao.v1 import invoice_pb2 as inv
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc
from fapiao.v1 import lifecycle_pb2 as lc
from fapiao.v1 import verification_service_pb2 as vpb
from fapiao.v1 import verification_service_pb2_grpc as vpb_grpc
from fapiao_client import FapiaoError, InvoiceClient
from fapiao_server.domain.access import Role
from fapiao_server.domain.calendar import BUSINESS_TZ, business_date, utc_now
from fapiao_server.domain.identifiers import parse_digital_number, parse_invoice_code
from fapiao_server.domain.invoice_types import InvoiceType, Proof
from fapiao_server.domain.qr import parse_qr_payload
from tests.support.access import bearer
from tests.support.invoices import LINES, LINES_TAX, Refusal, issue_request, new_request_id, refusal_of, tax_id
from tests.support.server import ServerProcess

FAILED = grpc.StatusCode.FAILED_PRECONDITION
INVALID = grpc.StatusCode.INVALID_ARGUMENT
ISSUED, VOIDED, PARTLY, FULLY = (inv.INVOICE_STATE_ISSUED, inv.INVOICE_STATE_VOIDED,
                                 inv.INVOICE_STATE_PARTIALLY_REVERSED, inv.INVOICE_STATE_FULLY_REVERSED)  # fmt: skip
SELLER_SIDE, BUYER_SIDE = lc.TRADE_PARTY_SELLER, lc.TRADE_PARTY_BUYER
RETURNED, IN_ERROR, DISCOUNT = (lc.RED_LETTER_REASON_GOODS_RETURNED, lc.RED_LETTER_REASON_ISSUED_IN_ERROR,
                                lc.RED_LETTER_REASON_SALES_DISCOUNT)  # fmt: skip
F01, F02, F03, F04, F05, F06, F07, F08, F09 = range(1, 10)
E = lc.InvoiceEventType
VOID, CERTIFY, CREATE_FORM, ISSUE_RED = (pb.INVOICE_ACTION_VOID, pb.INVOICE_ACTION_CERTIFY,
                                         pb.INVOICE_ACTION_CREATE_RED_LETTER_FORM,
                                         pb.INVOICE_ACTION_ISSUE_RED_INVOICE)  # fmt: skip
PAPER = (1, 2, 3, 4, 11, 15)
ELECTRONIC = (8, 10, 14, 31, 32)
DEDUCTIBLE = (1, 2, 3, 8, 14, 31)
LINES_AMOUNT = sum(line.amount_fen for line in LINES)


class Actor:
    """One principal (by its API key) on one channel: InvoiceService calls by method name, and
    VerificationService on the same channel. ``name`` is its principal id, what history records as the actor."""

    def __init__(self, channel: grpc.Channel, key: str, name: str) -> None:
        self.name = name
        self._stub = pb_grpc.InvoiceServiceStub(channel)
        self._verify = vpb_grpc.VerificationServiceStub(channel)
        self._metadata = bearer(key)

    def __getattr__(self, method: str) -> Callable[[Any], Any]:
        rpc = getattr(self._stub, method)
        return lambda request: rpc(request, metadata=self._metadata, timeout=10)

    def verify(self, invoice: inv.Invoice) -> vpb.VerifyInvoiceResponse:
        """VerifyInvoice asked the way the invoice's type is verified (docs/domain.md section 2)."""
        request = vpb.VerifyInvoiceRequest(
            invoice_code=invoice.invoice_code, invoice_number=invoice.invoice_number, issue_date=invoice.issue_date
        )
        proof = InvoiceType(invoice.invoice_type).proof
        if proof is Proof.CHECK_CODE:
            request.check_code = invoice.check_code[-6:]
        elif proof is Proof.AMOUNT:
            request.amount_fen = invoice.amount_fen
        else:
            request.total_fen = invoice.total_fen
        return self._verify.VerifyInvoice(request, metadata=self._metadata, timeout=10)

    def verify_qr(self, payload: str) -> vpb.VerifyQrCodeResponse:
        return self._verify.VerifyQrCode(vpb.VerifyQrCodeRequest(payload=payload), metadata=self._metadata, timeout=10)


class Trade:
    """A seller and a buyer of this test's own: two TAXPAYER principals, each acting for its own tax id, sharing
    one channel."""

    def __init__(self, channel: grpc.Channel, new_key: Callable[..., str], division: str = "110108") -> None:
        tag = uuid.uuid4().hex[:8]
        self.seller_tax_id, self.buyer_tax_id = tax_id(division), tax_id("310115")
        self.seller = taxpayer(channel, new_key, f"seller-{tag}", self.seller_tax_id)
        self.buyer = taxpayer(channel, new_key, f"buyer-{tag}", self.buyer_tax_id)

    def issue(self, kind: int, *, buyer_tax_id: str | None = None, **kwargs: Any) -> inv.Invoice:
        buyer = self.buyer_tax_id if buyer_tax_id is None else buyer_tax_id
        request = issue_request(kind, self.seller_tax_id, buyer, request_id=new_request_id(), **kwargs)
        return self.seller.IssueInvoice(request).invoice

    def certify(self, invoice: inv.Invoice) -> inv.Invoice:
        return self.buyer.CertifyInvoice(
            pb.CertifyInvoiceRequest(request_id=new_request_id(), invoice=selector(invoice))
        ).invoice

    def form(
        self, invoice: inv.Invoice, *, by: int = SELLER_SIDE, reason: int = RETURNED, items: tuple = (), **kw: Any
    ) -> lc.RedLetterForm:
        actor = self.seller if by == SELLER_SIDE else self.buyer
        request = form_request(invoice, by=by, reason=reason, items=items, **kw)
        return actor.CreateRedLetterForm(request).form

    def issue_red(self, form: lc.RedLetterForm) -> pb.IssueRedInvoiceResponse:
        return self.seller.IssueRedInvoice(pb.IssueRedInvoiceRequest(request_id=new_request_id(), form_id=form.id))

    def answer(self, method: str, form: lc.RedLetterForm, party: int, reason: str = "") -> lc.RedLetterForm:
        actor = self.seller if party == SELLER_SIDE else self.buyer
        request_type = getattr(pb, f"{method}RedLetterFormRequest")
        fields: dict[str, Any] = {"request_id": new_request_id(), "form_id": form.id, "party": party}
        if method != "Confirm":
            fields["reason"] = reason
        return getattr(actor, f"{method}RedLetterForm")(request_type(**fields)).form


def taxpayer(channel: grpc.Channel, new_key: Callable[..., str], name: str, *tax_ids: str) -> Actor:
    """A new TAXPAYER principal acting for ``tax_ids``."""
    return Actor(channel, new_key(Role.TAXPAYER, tax_ids=tax_ids, principal_id=name), name)


def selector(invoice: inv.Invoice) -> pb.InvoiceSelector:
    return pb.InvoiceSelector(id=invoice.id)


def form_request(
    invoice: inv.Invoice, *, by: int = SELLER_SIDE, reason: int = RETURNED, items: tuple = (), request_id: str = ""
) -> pb.CreateRedLetterFormRequest:
    return pb.CreateRedLetterFormRequest(
        request_id=request_id or new_request_id(),
        invoice=selector(invoice),
        reason=reason,  # type: ignore[arg-type]
        initiator=by,  # type: ignore[arg-type]
        items=[pb.RedLetterItem(line_number=n, amount_fen=amount) for n, amount in items],
    )


def void_request(invoice: inv.Invoice, request_id: str = "", reason: str = "开错了") -> pb.VoidInvoiceRequest:
    return pb.VoidInvoiceRequest(request_id=request_id or new_request_id(), invoice=selector(invoice), reason=reason)


def refused(call: Callable[[], object], code: grpc.StatusCode = FAILED, reason: str = "") -> Refusal:
    """The call fails with ``code`` (and ``reason``); a FAILED_PRECONDITION says its rule twice: in the ErrorInfo
    and in the PreconditionFailure."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    found = refusal_of(caught.value)
    assert found.code == code, found
    assert found.reason, "every refusal carries an ErrorInfo reason"
    if reason:
        assert found.reason == reason, found
    if code == FAILED:
        assert found.preconditions == (found.reason,)
    return found


def allowed(actor: Actor, invoice: inv.Invoice) -> dict[int, pb.AllowedAction]:
    answer = actor.GetAllowedActions(pb.GetAllowedActionsRequest(invoice=selector(invoice)))
    assert [a.action for a in answer.actions] == [VOID, CERTIFY, CREATE_FORM, ISSUE_RED]
    return {a.action: a for a in answer.actions}


def refusals(actor: Actor, invoice: inv.Invoice) -> dict[int, str]:
    """Each action's refusal reason ('' when allowed)."""
    return {action: answer.refusal_reason for action, answer in allowed(actor, invoice).items()}


def events(actor: Actor, invoice: inv.Invoice) -> list[lc.InvoiceEvent]:
    return list(actor.ListInvoiceEvents(pb.ListInvoiceEventsRequest(invoice=selector(invoice))).events)


def history(actor: Actor, invoice: inv.Invoice) -> list[tuple[Any, ...]]:
    """(type, actor, state before, state after, form state before, form state after) of each event."""
    return [
        (e.event_type, e.actor, e.state_before, e.state_after, e.form_state_before, e.form_state_after)
        for e in events(actor, invoice)
    ]


def get_form(actor: Actor, form: lc.RedLetterForm) -> lc.RedLetterForm:
    return actor.GetRedLetterForm(pb.GetRedLetterFormRequest(form_id=form.id)).form


def assert_verifies_as(actor: Actor, invoice: inv.Invoice, state: int) -> inv.Invoice:
    """VerifyInvoice on the actor's channel, right after a change, answers with the invoice's new state."""
    answer = actor.verify(invoice)
    assert answer.outcome == vpb.VERIFICATION_OUTCOME_MATCH, answer
    assert answer.invoice.state == state
    return answer.invoice


def today() -> Any:
    return business_date(utc_now())


@pytest.fixture(scope="module")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as opened:
        grpc.channel_ready_future(opened).result(timeout=10)
        yield opened


@pytest.fixture
def trade(channel: grpc.Channel, new_key: Callable[..., str]) -> Trade:
    return Trade(channel, new_key)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


# --- issuing --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [t.value for t in InvoiceType])
def test_issue_every_type(trade: Trade, kind: int) -> None:
    invoice = trade.issue(kind)
    day = today()
    assert (invoice.invoice_type, invoice.state, invoice.region_code) == (kind, ISSUED, "1100")
    assert (invoice.issue_date.year, invoice.issue_date.month, invoice.issue_date.day) == (
        day.year,
        day.month,
        day.day,
    )
    assert invoice.seller.tax_id == trade.seller_tax_id and invoice.buyer.tax_id == trade.buyer_tax_id
    if InvoiceType(kind).digital:
        assert invoice.invoice_code == ""
        number = parse_digital_number(invoice.invoice_number, day)
        assert (number.year, number.province) == (day.year % 100, "11")
    else:
        code = parse_invoice_code(invoice.invoice_code, day)
        assert (code.invoice_type, code.region, code.year) == (InvoiceType(kind), "1100", day.year % 100)
        assert len(invoice.invoice_number) == 8 and invoice.invoice_number.isdigit()
    lines = LINES[:1] if kind in (3, 15) else LINES
    assert [(line.line_number, line.amount_fen, line.tax_fen) for line in invoice.lines] == [
        (n, line.amount_fen, tax) for n, (line, tax) in enumerate(zip(lines, LINES_TAX, strict=False), start=1)
    ]
    assert invoice.amount_fen == sum(line.amount_fen for line in lines)
    assert invoice.tax_fen == sum(LINES_TAX[: len(lines)])
    assert invoice.total_fen == invoice.amount_fen + invoice.tax_fen
    assert (len(invoice.check_code) == 20) == (InvoiceType(kind).proof is Proof.CHECK_CODE)
    qr = parse_qr_payload(invoice.qr_payload)
    assert (qr.invoice_type, qr.invoice_code, qr.invoice_number, qr.check_code) == (
        InvoiceType(kind),
        invoice.invoice_code,
        invoice.invoice_number,
        invoice.check_code,
    )
    answer = trade.seller.verify_qr(invoice.qr_payload)
    assert answer.verification.outcome == vpb.VERIFICATION_OUTCOME_MATCH
    assert answer.verification.invoice.id == invoice.id
    assert_verifies_as(trade.buyer, invoice, ISSUED)
    by_key = pb.InvoiceSelector(invoice_code=invoice.invoice_code, invoice_number=invoice.invoice_number)
    assert trade.buyer.GetInvoice(pb.GetInvoiceRequest(invoice=by_key)).invoice == invoice
    assert history(trade.seller, invoice) == [(E.INVOICE_EVENT_TYPE_ISSUED, trade.seller.name, 0, ISSUED, 0, 0)]


def test_issued_numbers_are_never_reused_and_regions_follow_the_seller(
    channel: grpc.Channel, new_key: Callable[..., str]
) -> None:
    shenzhen = Trade(channel, new_key, division="440305")
    first, second = shenzhen.issue(4), shenzhen.issue(4)
    assert first.region_code == second.region_code == "4403"
    assert parse_invoice_code(first.invoice_code, today()).region == "4403"
    assert first.invoice_code == second.invoice_code and int(second.invoice_number) > int(first.invoice_number)
    digital = shenzhen.issue(32)
    assert digital.region_code == "4403" and parse_digital_number(digital.invoice_number, today()).province == "44"
    listed = shenzhen.seller.ListInvoices(pb.ListInvoicesRequest(seller_tax_id=shenzhen.seller_tax_id)).invoices
    assert [i.id for i in listed] == [digital.id, second.id, first.id]


def test_bad_issue_requests_name_every_field(trade: Trade) -> None:
    request = issue_request(1, trade.seller_tax_id[:-1] + "I", "")
    request.lines[0].tax_rate_basis_points = 1700
    request.lines[1].amount_fen = -1
    request.lines[2].quantity = "2"
    found = refused(lambda: trade.seller.IssueInvoice(request), INVALID, "INVALID_INVOICE")
    assert found.fields == {
        "seller.tax_id",
        "buyer.tax_id",
        "lines[0].tax_rate_basis_points",
        "lines[1].amount_fen",
        "lines[2].unit_price",
    }
    unknown = issue_request(99, trade.seller_tax_id, trade.buyer_tax_id)
    assert refused(lambda: trade.seller.IssueInvoice(unknown), INVALID).fields == {"invoice_type"}


def test_a_thousand_bad_lines_reach_the_sdk_as_invalid_argument(
    server: ServerProcess, trade: Trade, new_key: Callable[..., str]
) -> None:
    """Every line's violation would make trailers no client accepts (nor Envoy forwards): the SDK would see
    RESOURCE_EXHAUSTED "Stream removed" and retry. It gets the first violations and how many more there are."""
    request = issue_request(1, trade.seller_tax_id, trade.buyer_tax_id,
                            lines=tuple(pb.IssueLine(item_name="", amount_fen=-1) for _ in range(1000)))  # fmt: skip
    key = new_key(Role.TAXPAYER, tax_ids=[trade.seller_tax_id])
    with InvoiceClient(server.address, token=key) as client, pytest.raises(FapiaoError) as caught:
        client.issue_invoice(request)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    violations = caught.value.field_violations
    assert 10 < len(violations) < 1000 and violations[0].field.startswith("lines[0]")
    assert violations[-1].field == "request" and "more invalid fields" in violations[-1].description


def test_unknown_and_malformed_names(trade: Trade, channel: grpc.Channel) -> None:
    seller = trade.seller
    missing = pb.GetInvoiceRequest(invoice=pb.InvoiceSelector(invoice_code="1100269100", invoice_number="99999999"))
    refused(lambda: seller.GetInvoice(missing), grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")
    nowhere = pb.VoidInvoiceRequest(invoice=pb.InvoiceSelector(id="999999999999"))
    refused(lambda: seller.VoidInvoice(nowhere), grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")
    for bad, field in (
        (pb.InvoiceSelector(id="abc"), "invoice.id"),
        (pb.InvoiceSelector(), "invoice.invoice_number"),
        (pb.InvoiceSelector(id="1", invoice_number="00000001"), "invoice.id"),
        (pb.InvoiceSelector(invoice_code="1", invoice_number="00000001"), "invoice.invoice_code"),
    ):
        request = pb.GetInvoiceRequest(invoice=bad)
        assert refused(lambda r=request: seller.GetInvoice(r), INVALID).fields == {field}
    missing_form = pb.GetRedLetterFormRequest(form_id="999999999999")
    refused(lambda: seller.GetRedLetterForm(missing_form), grpc.StatusCode.NOT_FOUND, "FORM_NOT_FOUND")
    issue = pb.IssueRedInvoiceRequest(form_id="999999999999")
    refused(lambda: seller.IssueRedInvoice(issue), grpc.StatusCode.NOT_FOUND, "FORM_NOT_FOUND")
    confirm = pb.ConfirmRedLetterFormRequest(form_id="x1", party=BUYER_SIDE)
    assert refused(lambda: seller.ConfirmRedLetterForm(confirm), INVALID).fields == {"form_id"}
    invoice = trade.issue(10)
    no_reason = pb.CreateRedLetterFormRequest(invoice=selector(invoice), items=[pb.RedLetterItem(line_number=0)])
    assert refused(lambda: seller.CreateRedLetterForm(no_reason), INVALID).fields == {
        "reason",
        "initiator",
        "items[0].line_number",
    }
    no_line = form_request(invoice, items=((9, 0),))
    assert refused(lambda: seller.CreateRedLetterForm(no_line), INVALID).fields == {"items[0].line_number"}


# --- void (作废) ------------------------------------------------------------------------------------------------


def end_of_this_month() -> datetime:
    day = today()
    first_next = day.replace(year=day.year + day.month // 12, month=day.month % 12 + 1, day=1)
    return datetime(first_next.year, first_next.month, 1, tzinfo=BUSINESS_TZ)


@pytest.mark.parametrize("kind", PAPER)
def test_a_paper_invoice_is_voided_in_its_month(trade: Trade, kind: int) -> None:
    invoice = trade.issue(kind)
    before = allowed(trade.seller, invoice)[VOID]
    assert before.allowed and not before.refusal_reason
    assert before.deadline.ToSeconds() == int(end_of_this_month().timestamp())
    voided = trade.seller.VoidInvoice(void_request(invoice, reason="开票有误，作废")).invoice
    assert voided.state == VOIDED and voided.void_time.seconds > 0
    assert_verifies_as(trade.seller, invoice, VOIDED)
    assert refusals(trade.seller, invoice) == {
        VOID: "ALREADY_VOIDED",
        CERTIFY: "NOT_DEDUCTIBLE" if kind not in DEDUCTIBLE else "INVOICE_VOIDED",
        CREATE_FORM: "INVOICE_VOIDED",
        ISSUE_RED: "NO_ISSUABLE_FORM",
    }
    refused(lambda: trade.seller.VoidInvoice(void_request(invoice)), reason="ALREADY_VOIDED")
    refused(lambda: trade.seller.CreateRedLetterForm(form_request(invoice)), reason="INVOICE_VOIDED")
    if kind in DEDUCTIBLE:
        refused(lambda: trade.certify(invoice), reason="INVOICE_VOIDED")
    (issued, void_event) = events(trade.seller, invoice)
    assert issued.event_type == E.INVOICE_EVENT_TYPE_ISSUED
    assert (void_event.event_type, void_event.actor, void_event.reason) == (
        E.INVOICE_EVENT_TYPE_VOIDED,
        trade.seller.name,
        "开票有误，作废",
    )
    assert (void_event.state_before, void_event.state_after) == (ISSUED, VOIDED)
    assert void_event.invoice.id == invoice.id and void_event.seller_tax_id == trade.seller_tax_id


@pytest.mark.parametrize("kind", ELECTRONIC)
def test_an_electronic_invoice_is_never_voided(trade: Trade, kind: int) -> None:
    invoice = trade.issue(kind)
    answer = allowed(trade.seller, invoice)[VOID]
    assert (answer.allowed, answer.refusal_reason) == (False, "ELECTRONIC_NOT_VOIDABLE")
    assert not answer.HasField("deadline")
    refused(lambda: trade.seller.VoidInvoice(void_request(invoice)), reason="ELECTRONIC_NOT_VOIDABLE")
    assert_verifies_as(trade.seller, invoice, ISSUED)


def test_a_certified_invoice_is_not_voided(trade: Trade) -> None:
    invoice = trade.certify(trade.issue(1))
    assert refusals(trade.seller, invoice)[VOID] == "CERTIFIED_BY_BUYER"
    refused(lambda: trade.seller.VoidInvoice(void_request(invoice)), reason="CERTIFIED_BY_BUYER")


def test_an_invoice_of_a_reported_period_is_not_voided(trade: Trade) -> None:
    invoice = trade.issue(4)
    day = today()
    report = pb.ReportTaxPeriodRequest(tax_id=trade.seller_tax_id, year=day.year, month=day.month)
    first = trade.seller.ReportTaxPeriod(report).report_time
    assert trade.seller.ReportTaxPeriod(report).report_time == first  # reporting again changes nothing
    assert refusals(trade.seller, invoice)[VOID] == "PERIOD_REPORTED"
    refused(lambda: trade.seller.VoidInvoice(void_request(invoice)), reason="PERIOD_REPORTED")
    # The report closes voiding only: the invoice can still be reversed.
    assert refusals(trade.seller, invoice)[CREATE_FORM] == ""
    following = day.replace(day=1) + timedelta(days=32)
    future = pb.ReportTaxPeriodRequest(tax_id=trade.seller_tax_id, year=following.year, month=following.month)
    assert refused(lambda: trade.seller.ReportTaxPeriod(future), INVALID, "INVALID_TAX_PERIOD").fields == {"month"}
    nonsense = pb.ReportTaxPeriodRequest(tax_id="123", year=day.year, month=13)
    assert refused(lambda: trade.seller.ReportTaxPeriod(nonsense), INVALID).fields == {"tax_id", "month"}


def test_an_invoice_of_an_earlier_month_is_not_voided(trade: Trade, db: psycopg.Connection) -> None:
    invoice = trade.issue(4)
    # Time travel in the register itself: the invoice was issued 40 days ago. Its QR payload moves with it, so
    # the invoice stays self-consistent for the tests (and load tests) that later draw it from the register.
    db.execute(
        "UPDATE invoices SET issue_date = issue_date - 40, issue_time = issue_time - interval '40 days',"
        " qr_payload = replace(qr_payload, to_char(issue_date, 'YYYYMMDD'), to_char(issue_date - 40, 'YYYYMMDD'))"
        " WHERE id = %s",
        (int(invoice.id),),
    )
    assert refusals(trade.seller, invoice)[VOID] == "VOID_PERIOD_ENDED"
    found = refused(lambda: trade.seller.VoidInvoice(void_request(invoice)), reason="VOID_PERIOD_ENDED")
    assert "red-letter" in found.message
    # ... and is reversed instead.
    form = trade.form(invoice, items=((1, 1000),))
    assert trade.issue_red(form).original_invoice.state == PARTLY


# --- certify (认证/勾选) ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", DEDUCTIBLE)
def test_a_deductible_invoice_is_certified_once(trade: Trade, kind: int) -> None:
    invoice = trade.issue(kind)
    assert refusals(trade.buyer, invoice)[CERTIFY] == ""
    certified = trade.certify(invoice)
    assert certified.state == ISSUED and certified.certify_time.seconds > 0
    assert assert_verifies_as(trade.buyer, invoice, ISSUED).certify_time == certified.certify_time
    assert refusals(trade.buyer, invoice)[CERTIFY] == "ALREADY_CERTIFIED"
    refused(lambda: trade.certify(invoice), reason="ALREADY_CERTIFIED")
    certify_event = events(trade.buyer, invoice)[-1]
    assert (certify_event.event_type, certify_event.actor) == (E.INVOICE_EVENT_TYPE_CERTIFIED, trade.buyer.name)
    assert (certify_event.state_before, certify_event.state_after) == (ISSUED, ISSUED)
    assert allowed(trade.seller, invoice)[CREATE_FORM].needs_confirmation


@pytest.mark.parametrize("kind", sorted({t.value for t in InvoiceType} - set(DEDUCTIBLE)))
def test_a_general_invoice_is_not_certified(trade: Trade, kind: int) -> None:
    invoice = trade.issue(kind)
    refused(lambda: trade.certify(invoice), reason="NOT_DEDUCTIBLE")
    assert refusals(trade.buyer, invoice)[CERTIFY] == "NOT_DEDUCTIBLE"


def test_a_toll_of_an_individual_is_not_certified(trade: Trade) -> None:
    invoice = trade.issue(14, buyer_tax_id="")
    # No taxpayer is its buyer: the seller may not act as one, and anyone else does not see the invoice at all
    # (the rule BUYER_NOT_REGISTERED itself is covered by the unit tests of the rules).
    certify = pb.CertifyInvoiceRequest(request_id=new_request_id(), invoice=selector(invoice))
    refused(lambda: trade.seller.CertifyInvoice(certify), grpc.StatusCode.PERMISSION_DENIED, "NOT_THE_BUYER")
    refused(lambda: trade.certify(invoice), grpc.StatusCode.NOT_FOUND, "INVOICE_NOT_FOUND")
    as_buyer = form_request(invoice, by=BUYER_SIDE)
    refused(lambda: trade.seller.CreateRedLetterForm(as_buyer), grpc.StatusCode.PERMISSION_DENIED, "NOT_THE_BUYER")
    # The seller reverses it alone: there is nobody to confirm.
    assert trade.form(invoice).state == F01


def test_an_invoice_held_by_a_form_is_not_certified(trade: Trade) -> None:
    """红字锁定: once a seller's form needing no confirmation (01) is entered, the buyer may not certify the
    invoice, or the seller would reverse a certified invoice without the buyer's confirmation."""
    invoice = trade.issue(1)
    form = trade.form(invoice)
    assert form.state == F01
    assert refusals(trade.buyer, invoice)[CERTIFY] == "RED_LETTER_FORM_OPEN"
    refused(lambda: trade.certify(invoice), reason="RED_LETTER_FORM_OPEN")
    trade.answer("Withdraw", form, SELLER_SIDE)
    assert trade.certify(invoice).certify_time.seconds > 0


# --- red-letter reversal (红冲) -----------------------------------------------------------------------------------


def lines_of(message: lc.RedLetterForm | inv.Invoice) -> list[tuple[int, int, int]]:
    return [(line.line_number, line.amount_fen, line.tax_fen) for line in message.lines]


def test_the_seller_reverses_an_uncertified_invoice_in_part_then_in_whole(trade: Trade) -> None:
    invoice = trade.issue(1)
    with_items = form_request(invoice, reason=IN_ERROR, items=((1, 100),))
    assert refused(lambda: trade.seller.CreateRedLetterForm(with_items), INVALID).fields == {"items"}

    form = trade.form(invoice, items=((1, 500_000),))
    assert (form.state, form.initiator, form.reason) == (F01, SELLER_SIDE, RETURNED)
    assert not form.HasField("expire_time") and not form.HasField("red_invoice")
    assert (form.original_invoice.id, form.seller_tax_id, form.buyer_tax_id) == (
        invoice.id,
        trade.seller_tax_id,
        trade.buyer_tax_id,
    )
    assert lines_of(form) == [(1, -500_000, -65_000)]
    assert (form.amount_fen, form.tax_fen, form.total_fen) == (-500_000, -65_000, -565_000)
    assert get_form(trade.buyer, form) == form
    assert refusals(trade.seller, invoice) == {
        VOID: "RED_LETTER_FORM_OPEN",
        CERTIFY: "RED_LETTER_FORM_OPEN",
        CREATE_FORM: "RED_LETTER_FORM_OPEN",
        ISSUE_RED: "",
    }
    actions = allowed(trade.seller, invoice)
    assert actions[ISSUE_RED].red_letter_form_id == form.id
    assert actions[CREATE_FORM].reversible_amount_fen == LINES_AMOUNT
    refused(lambda: trade.seller.VoidInvoice(void_request(invoice)), reason="RED_LETTER_FORM_OPEN")
    for by in (SELLER_SIDE, BUYER_SIDE):
        refused(lambda b=by: trade.form(invoice, by=b), reason="RED_LETTER_FORM_OPEN")

    issued = trade.issue_red(form)
    red, original = issued.invoice, issued.original_invoice
    assert red.red_letter and red.original_invoice.id == invoice.id and red.red_letter_form_id == form.id
    assert (red.invoice_type, red.invoice_code, red.state) == (1, invoice.invoice_code, ISSUED)
    assert red.invoice_number != invoice.invoice_number
    assert lines_of(red) == [(1, -500_000, -65_000)]
    assert (red.amount_fen, red.tax_fen, red.total_fen) == (-500_000, -65_000, -565_000)
    assert (original.state, original.reversed_amount_fen) == (PARTLY, 500_000)
    assert [r.id for r in original.red_letter_invoices] == [red.id]
    assert assert_verifies_as(trade.buyer, invoice, PARTLY).reversed_amount_fen == 500_000
    assert assert_verifies_as(trade.buyer, red, ISSUED).red_letter
    spent = get_form(trade.seller, form)
    assert (spent.state, spent.red_invoice.id) == (F01, red.id)
    refused(lambda: trade.issue_red(form), reason="FORM_ALREADY_ISSUED")
    refused(lambda: trade.answer("Withdraw", form, SELLER_SIDE), reason="FORM_ALREADY_ISSUED")
    assert refusals(trade.seller, invoice) == {
        VOID: "INVOICE_REVERSED",
        CERTIFY: "",
        CREATE_FORM: "",
        ISSUE_RED: "NO_ISSUABLE_FORM",
    }
    assert allowed(trade.seller, invoice)[CREATE_FORM].reversible_amount_fen == LINES_AMOUNT - 500_000
    assert refusals(trade.seller, red) == {
        VOID: "RED_INVOICE",
        CERTIFY: "RED_INVOICE",
        CREATE_FORM: "RED_INVOICE",
        ISSUE_RED: "NO_ISSUABLE_FORM",
    }
    refused(lambda: trade.seller.VoidInvoice(void_request(red)), reason="RED_INVOICE")
    refused(lambda: trade.form(red), reason="RED_INVOICE")
    too_much = form_request(invoice, items=((1, 1_234_567 - 500_000 + 1),))
    refused(lambda: trade.seller.CreateRedLetterForm(too_much), reason="REVERSAL_EXCEEDS_REMAINING")

    rest = trade.form(invoice, reason=IN_ERROR)
    # What is left of each line, with the tax left on it: 160494 - 65000 on line 1.
    assert lines_of(rest) == [(1, -734_567, -95_494), (2, -25, -2), (3, -9_990, 0)]
    issued = trade.issue_red(rest)
    last_red, original = issued.invoice, issued.original_invoice
    assert (original.state, original.reversed_amount_fen) == (FULLY, original.amount_fen)
    assert red.amount_fen + last_red.amount_fen == -invoice.amount_fen
    assert red.tax_fen + last_red.tax_fen == -invoice.tax_fen
    assert red.total_fen + last_red.total_fen == -invoice.total_fen
    assert assert_verifies_as(trade.seller, invoice, FULLY).state == FULLY
    assert refusals(trade.seller, invoice) == {
        VOID: "INVOICE_REVERSED",
        CERTIFY: "INVOICE_FULLY_REVERSED",
        CREATE_FORM: "INVOICE_FULLY_REVERSED",
        ISSUE_RED: "NO_ISSUABLE_FORM",
    }
    assert allowed(trade.seller, invoice)[CREATE_FORM].reversible_amount_fen == 0
    refused(lambda: trade.form(invoice), reason="INVOICE_FULLY_REVERSED")
    refused(lambda: trade.certify(invoice), reason="INVOICE_FULLY_REVERSED")

    s = trade.seller.name
    assert history(trade.seller, invoice) == [
        (E.INVOICE_EVENT_TYPE_ISSUED, s, 0, ISSUED, 0, 0),
        (E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CREATED, s, ISSUED, ISSUED, 0, F01),
        (E.INVOICE_EVENT_TYPE_REVERSED, s, ISSUED, PARTLY, 0, 0),  # issuing leaves the form as it is
        (E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CREATED, s, PARTLY, PARTLY, 0, F01),
        (E.INVOICE_EVENT_TYPE_REVERSED, s, PARTLY, FULLY, 0, 0),
    ]
    reversals = [e for e in events(trade.seller, invoice) if e.event_type == E.INVOICE_EVENT_TYPE_REVERSED]
    assert [(e.reversed_amount_fen, e.red_invoice.id, e.red_letter_form_id) for e in reversals] == [
        (500_000, red.id, form.id),
        (734_567 + 25 + 9_990, last_red.id, rest.id),
    ]
    assert history(trade.seller, red) == [(E.INVOICE_EVENT_TYPE_ISSUED, s, 0, ISSUED, 0, 0)]
    listed = trade.buyer.ListRedLetterForms(pb.ListRedLetterFormsRequest(invoice=selector(invoice))).forms
    assert [f.id for f in listed] == [rest.id, form.id]


def test_a_certified_invoice_is_reversed_only_with_the_buyers_confirmation(trade: Trade) -> None:
    invoice = trade.certify(trade.issue(8))
    form = trade.form(invoice, reason=DISCOUNT, items=((1, 100_000),))
    assert form.state == F02
    assert form.expire_time.ToSeconds() - form.create_time.ToSeconds() == 72 * 3600
    assert lines_of(form) == [(1, -100_000, -13_000)] and form.lines[0].quantity == ""
    assert refusals(trade.seller, invoice)[ISSUE_RED] == "FORM_STATE"
    refused(lambda: trade.issue_red(form), reason="FORM_STATE")
    refused(lambda: trade.answer("Confirm", form, SELLER_SIDE), reason="NOT_AWAITED_PARTY")
    refused(lambda: trade.answer("Reject", form, SELLER_SIDE), reason="NOT_AWAITED_PARTY")
    confirmed = trade.answer("Confirm", form, BUYER_SIDE)
    assert confirmed.state == F04
    assert refusals(trade.seller, invoice)[ISSUE_RED] == ""
    refused(lambda: trade.answer("Confirm", form, BUYER_SIDE), reason="FORM_STATE")
    issued = trade.issue_red(form)
    assert (issued.original_invoice.state, issued.original_invoice.reversed_amount_fen) == (PARTLY, 100_000)
    assert_verifies_as(trade.seller, invoice, PARTLY)
    s, b = trade.seller.name, trade.buyer.name
    assert history(trade.buyer, invoice)[1:] == [
        (E.INVOICE_EVENT_TYPE_CERTIFIED, b, ISSUED, ISSUED, 0, 0),
        (E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CREATED, s, ISSUED, ISSUED, 0, F02),
        (E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CONFIRMED, b, ISSUED, ISSUED, F02, F04),
        (E.INVOICE_EVENT_TYPE_REVERSED, s, ISSUED, PARTLY, 0, 0),
    ]


def test_the_buyer_refuses_a_sellers_form_05(trade: Trade) -> None:
    invoice = trade.certify(trade.issue(31))
    form = trade.form(invoice)
    assert form.state == F02 and lines_of(form) == [(1, -1_234_567, -160_494), (2, -25, -2), (3, -9_990, 0)]
    refused_form = trade.answer("Reject", form, BUYER_SIDE, reason="货物未退回")
    assert refused_form.state == F05
    refused(lambda: trade.issue_red(form), reason="FORM_STATE")
    refused(lambda: trade.answer("Confirm", form, BUYER_SIDE), reason="FORM_STATE")
    refused(lambda: trade.answer("Withdraw", form, SELLER_SIDE), reason="FORM_STATE")
    last = events(trade.buyer, invoice)[-1]
    assert (last.event_type, last.actor, last.reason) == (
        E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_REFUSED,
        trade.buyer.name,
        "货物未退回",
    )
    assert (last.form_state_before, last.form_state_after, last.red_letter_form_id) == (F02, F05, form.id)
    # A refused form no longer holds the invoice.
    assert refusals(trade.seller, invoice)[CREATE_FORM] == ""
    assert trade.form(invoice).state == F02


def test_a_buyers_form_awaits_the_seller_who_confirms_or_refuses_06(trade: Trade) -> None:
    invoice = trade.issue(10)
    form = trade.form(invoice, by=BUYER_SIDE, items=((2, 0),))
    assert (form.state, form.initiator) == (F03, BUYER_SIDE) and form.HasField("expire_time")
    assert lines_of(form) == [(2, -25, -2)]
    refused(lambda: trade.answer("Confirm", form, BUYER_SIDE), reason="NOT_AWAITED_PARTY")
    refused(lambda: trade.issue_red(form), reason="FORM_STATE")
    assert trade.answer("Reject", form, SELLER_SIDE, reason="不同意").state == F06
    refused(lambda: trade.issue_red(form), reason="FORM_STATE")
    refused(lambda: trade.answer("Reject", form, SELLER_SIDE), reason="FORM_STATE")

    second = trade.form(invoice, by=BUYER_SIDE, items=((2, 0),))
    assert trade.answer("Confirm", second, SELLER_SIDE).state == F04
    red = trade.issue_red(second).invoice
    assert lines_of(red) == [(1, -25, -2)]  # the red invoice numbers its own lines
    s, b = trade.seller.name, trade.buyer.name
    assert history(trade.seller, invoice)[1:] == [
        (E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CREATED, b, ISSUED, ISSUED, 0, F03),
        (E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_REFUSED, s, ISSUED, ISSUED, F03, F06),
        (E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CREATED, b, ISSUED, ISSUED, 0, F03),
        (E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CONFIRMED, s, ISSUED, ISSUED, F03, F04),
        (E.INVOICE_EVENT_TYPE_REVERSED, s, ISSUED, PARTLY, 0, 0),
    ]


def test_withdrawing_before_confirmation_08_and_after_09(trade: Trade) -> None:
    invoice = trade.issue(32)
    form = trade.form(invoice)
    assert form.state == F01
    refused(lambda: trade.answer("Withdraw", form, BUYER_SIDE), reason="NOT_INITIATOR")
    assert trade.answer("Withdraw", form, SELLER_SIDE, reason="金额有误").state == F08
    refused(lambda: trade.issue_red(form), reason="FORM_STATE")
    refused(lambda: trade.answer("Withdraw", form, SELLER_SIDE), reason="FORM_STATE")

    awaiting = trade.form(invoice, by=BUYER_SIDE)
    assert trade.answer("Withdraw", awaiting, BUYER_SIDE).state == F08

    confirmed = trade.answer("Confirm", trade.form(invoice, by=BUYER_SIDE), SELLER_SIDE)
    assert confirmed.state == F04
    refused(lambda: trade.answer("Withdraw", confirmed, SELLER_SIDE), reason="NOT_INITIATOR")
    assert trade.answer("Withdraw", confirmed, BUYER_SIDE).state == F09
    refused(lambda: trade.issue_red(confirmed), reason="FORM_STATE")
    assert refusals(trade.seller, invoice)[CREATE_FORM] == ""
    withdrawals = [
        e for e in events(trade.seller, invoice) if e.event_type == E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_WITHDRAWN
    ]
    assert [(e.actor, e.form_state_before, e.form_state_after, e.reason) for e in withdrawals] == [
        (trade.seller.name, F01, F08, "金额有误"),
        (trade.buyer.name, F03, F08, ""),
        (trade.buyer.name, F04, F09, ""),
    ]
    by_state = pb.ListRedLetterFormsRequest(seller_tax_id=trade.seller_tax_id, state=F08)
    assert {f.id for f in trade.seller.ListRedLetterForms(by_state).forms} == {form.id, awaiting.id}
    assert_verifies_as(trade.seller, invoice, ISSUED)


def test_a_form_unanswered_for_72_hours_is_void_at_once(trade: Trade, db: psycopg.Connection) -> None:
    invoice = trade.certify(trade.issue(1))
    form = trade.form(invoice)
    assert form.state == F02
    # Time travel in the register: the form was entered 73 hours ago.
    db.execute(
        "UPDATE red_letter_forms SET created_at = created_at - interval '73 hours',"
        " expires_at = expires_at - interval '73 hours' WHERE id = %s",
        (int(form.id),),
    )
    assert get_form(trade.seller, form).state == F07
    refused(lambda: trade.answer("Confirm", form, BUYER_SIDE), reason="FORM_EXPIRED")
    refused(lambda: trade.answer("Reject", form, BUYER_SIDE), reason="FORM_EXPIRED")
    refused(lambda: trade.answer("Withdraw", form, SELLER_SIDE), reason="FORM_EXPIRED")
    refused(lambda: trade.issue_red(form), reason="FORM_EXPIRED")
    # The void form no longer holds the invoice: nothing to issue from, and a new form may be entered.
    actions = allowed(trade.seller, invoice)
    assert actions[ISSUE_RED].refusal_reason == "NO_ISSUABLE_FORM"
    assert actions[CREATE_FORM].allowed
    expired = pb.ListRedLetterFormsRequest(invoice=selector(invoice), state=F07)
    assert [f.id for f in trade.seller.ListRedLetterForms(expired).forms] == [form.id]
    awaiting = pb.ListRedLetterFormsRequest(invoice=selector(invoice), state=F02)
    assert list(trade.seller.ListRedLetterForms(awaiting).forms) == []


# --- idempotent retries (AIP-155) ---------------------------------------------------------------------------------


def counter(db: psycopg.Connection, invoice: inv.Invoice) -> int:
    """The next value of the number counter the invoice's number came from."""
    prefix = invoice.invoice_code or invoice.invoice_number[:5]
    row = db.execute("SELECT next_value FROM number_counters WHERE prefix = %s", (prefix,)).fetchone()
    assert row is not None
    return row[0]


def invoices_of(db: psycopg.Connection, seller_tax_id: str) -> int:
    return db.execute("SELECT count(*) FROM invoices WHERE seller_tax_id = %s", (seller_tax_id,)).fetchone()[0]


def test_a_retried_issue_returns_the_first_invoice_and_uses_no_number(
    channel: grpc.Channel, db: psycopg.Connection, new_key: Callable[..., str]
) -> None:
    trade = Trade(channel, new_key, division="650102")  # Xinjiang: a counter of its own
    request = issue_request(4, trade.seller_tax_id, trade.buyer_tax_id, request_id=new_request_id())
    first = trade.seller.IssueInvoice(request).invoice
    after_first = counter(db, first)
    assert after_first == int(first.invoice_number) + 1
    again = trade.seller.IssueInvoice(request).invoice
    assert again == first
    assert counter(db, first) == after_first and invoices_of(db, trade.seller_tax_id) == 1
    assert len(events(trade.seller, first)) == 1
    # The id is the caller's: another caller sending the same id asks for an invoice of its own.
    other = taxpayer(channel, new_key, f"{trade.seller.name}-colleague", trade.seller_tax_id)
    assert other.IssueInvoice(request).invoice.id != first.id
    assert invoices_of(db, trade.seller_tax_id) == 2


def test_concurrent_retries_on_different_connections_issue_once(
    server: ServerProcess, db: psycopg.Connection, new_key: Callable[..., str]
) -> None:
    seller_tax_id = tax_id("640104")  # Ningxia: a counter of its own
    request = issue_request(32, seller_tax_id, tax_id("310115"), request_id=new_request_id())
    # Separate connections (no shared subchannels), so the calls spread over both workers.
    channels = [grpc.insecure_channel(server.address, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(8)]  # fmt: skip
    try:
        key = new_key(Role.TAXPAYER, tax_ids=[seller_tax_id])
        actors = [Actor(c, key, "retrying-client") for c in channels]
        with ThreadPoolExecutor(len(actors)) as pool:
            answers = list(pool.map(lambda a: a.IssueInvoice(request).invoice, actors))
    finally:
        for c in channels:
            c.close()
    assert len({a.id for a in answers}) == 1 and len({a.invoice_number for a in answers}) == 1
    assert invoices_of(db, seller_tax_id) == 1
    assert counter(db, answers[0]) == int(answers[0].invoice_number[5:]) + 1


def test_a_request_id_used_for_another_request_is_refused(trade: Trade) -> None:
    request_id = new_request_id()
    invoice = trade.seller.IssueInvoice(
        issue_request(4, trade.seller_tax_id, trade.buyer_tax_id, request_id=request_id)
    ).invoice
    changed = issue_request(10, trade.seller_tax_id, trade.buyer_tax_id, request_id=request_id)
    found = refused(lambda: trade.seller.IssueInvoice(changed), INVALID, "REQUEST_ID_REUSED")
    assert found.fields == {"request_id"}
    # Nor may it name another kind of change.
    reused = void_request(invoice, request_id=request_id)
    assert refused(lambda: trade.seller.VoidInvoice(reused), INVALID, "REQUEST_ID_REUSED").fields == {"request_id"}
    assert refusals(trade.seller, invoice)[VOID] == ""


def test_a_malformed_request_id_is_refused(trade: Trade) -> None:
    invoice = trade.issue(4)
    calls = [
        lambda: trade.seller.IssueInvoice(issue_request(4, trade.seller_tax_id, request_id="not-a-uuid")),
        lambda: trade.seller.VoidInvoice(void_request(invoice, request_id="12345")),
        lambda: trade.buyer.CertifyInvoice(pb.CertifyInvoiceRequest(request_id="x", invoice=selector(invoice))),
        lambda: trade.seller.CreateRedLetterForm(form_request(invoice, request_id="{nope}")),
        lambda: trade.seller.IssueRedInvoice(pb.IssueRedInvoiceRequest(request_id="x", form_id="1")),
    ]
    for call in calls:
        assert refused(call, INVALID, "INVALID_REQUEST_ID").fields == {"request_id"}
    assert refusals(trade.seller, invoice) == {VOID: "", CERTIFY: "NOT_DEDUCTIBLE", CREATE_FORM: "",
                                               ISSUE_RED: "NO_ISSUABLE_FORM"}  # fmt: skip


def test_a_refused_change_stores_nothing_so_its_retry_is_judged_afresh(trade: Trade, db: psycopg.Connection) -> None:
    invoice = trade.issue(4)
    form = trade.form(invoice)
    request_id = new_request_id()
    retry = void_request(invoice, request_id=request_id)
    refused(lambda: trade.seller.VoidInvoice(retry), reason="RED_LETTER_FORM_OPEN")
    assert db.execute("SELECT count(*) FROM idempotency_keys WHERE request_id = %s", (request_id,)).fetchone() == (0,)
    create_id = new_request_id()
    refused(lambda: trade.seller.CreateRedLetterForm(form_request(invoice, request_id=create_id)),
            reason="RED_LETTER_FORM_OPEN")  # fmt: skip
    trade.answer("Withdraw", form, SELLER_SIDE)
    assert trade.seller.VoidInvoice(retry).invoice.state == VOIDED
    refused(lambda: trade.seller.CreateRedLetterForm(form_request(invoice, request_id=create_id)),
            reason="INVOICE_VOIDED")  # fmt: skip


def test_every_change_replays_by_request_id(trade: Trade) -> None:
    """Each change sent twice with one request id changes the register once and answers the same both times."""
    invoice = trade.issue(1)
    certify = pb.CertifyInvoiceRequest(request_id=new_request_id(), invoice=selector(invoice))
    first = trade.buyer.CertifyInvoice(certify).invoice
    assert trade.buyer.CertifyInvoice(certify).invoice == first  # not ALREADY_CERTIFIED

    create = form_request(invoice, items=((1, 10_000),))
    form = trade.seller.CreateRedLetterForm(create).form
    assert trade.seller.CreateRedLetterForm(create).form == form  # not RED_LETTER_FORM_OPEN
    assert form.state == F02

    confirm = pb.ConfirmRedLetterFormRequest(request_id=new_request_id(), form_id=form.id, party=BUYER_SIDE)
    confirmed = trade.buyer.ConfirmRedLetterForm(confirm).form
    assert trade.buyer.ConfirmRedLetterForm(confirm).form == confirmed and confirmed.state == F04

    issue = pb.IssueRedInvoiceRequest(request_id=new_request_id(), form_id=form.id)
    red = trade.seller.IssueRedInvoice(issue)
    again = trade.seller.IssueRedInvoice(issue)  # not FORM_ALREADY_ISSUED
    assert again.invoice == red.invoice
    assert again.original_invoice.reversed_amount_fen == red.original_invoice.reversed_amount_fen == 10_000

    paper = trade.issue(4)
    void = void_request(paper)
    voided = trade.seller.VoidInvoice(void).invoice
    assert trade.seller.VoidInvoice(void).invoice == voided  # not ALREADY_VOIDED

    electronic = trade.issue(10)
    withdrawn_form = trade.form(electronic)
    withdraw = pb.WithdrawRedLetterFormRequest(request_id=new_request_id(), form_id=withdrawn_form.id,
                                               party=SELLER_SIDE)  # fmt: skip
    withdrawn = trade.seller.WithdrawRedLetterForm(withdraw).form
    assert withdrawn.state == F08
    assert trade.seller.WithdrawRedLetterForm(withdraw).form == withdrawn  # not FORM_STATE
    awaiting = trade.form(electronic, by=BUYER_SIDE)
    reject = pb.RejectRedLetterFormRequest(request_id=new_request_id(), form_id=awaiting.id, party=SELLER_SIDE)
    rejected = trade.seller.RejectRedLetterForm(reject).form
    assert rejected.state == F06
    assert trade.seller.RejectRedLetterForm(reject).form == rejected  # not FORM_STATE

    kinds = [e.event_type for e in events(trade.seller, invoice)]
    assert kinds == [
        E.INVOICE_EVENT_TYPE_ISSUED,
        E.INVOICE_EVENT_TYPE_CERTIFIED,
        E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CREATED,
        E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CONFIRMED,
        E.INVOICE_EVENT_TYPE_REVERSED,
    ]
    assert [e.event_type for e in events(trade.seller, voided)] == [E.INVOICE_EVENT_TYPE_ISSUED,
                                                                    E.INVOICE_EVENT_TYPE_VOIDED]  # fmt: skip
    assert [e.event_type for e in events(trade.seller, electronic)] == [
        E.INVOICE_EVENT_TYPE_ISSUED,
        E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CREATED,
        E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_WITHDRAWN,
        E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_CREATED,
        E.INVOICE_EVENT_TYPE_RED_LETTER_FORM_REFUSED,
    ]
