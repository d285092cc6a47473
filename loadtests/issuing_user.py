"""Peak-hour traffic on fapiao.v1.InvoiceService: enterprises issuing invoices from their ERP, voiding a paper
one they got wrong, reversing an electronic one, and checking what they issued.

Each user is one enterprise with a few sellers (tax ids of its own, so users never act on each other's
invoices). Deliberate refusals are reported with a suffix and count as successes when refused for exactly the
expected reason: "[invalid]" (INVALID_ARGUMENT, INVALID_INVOICE) and "[refused]" (FAILED_PRECONDITION,
ELECTRONIC_NOT_VOIDABLE).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence

import grpc
from google.protobuf.message import Message
from grpc_user import UNARY_TIMEOUT_SECONDS, GrpcUser, UnexpectedAnswer
from loadtest_settings import LoadTestSettings
from locust import between, task

from fapiao.v1 import access_pb2
from fapiao.v1 import invoice_pb2 as pb_invoice
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc
from fapiao_server.domain.taxpayer import USCC_ALPHABET, uscc_check_character

SETTINGS = LoadTestSettings.from_environment()
# Registration divisions the sellers are drawn from (Beijing, Shanghai, Guangdong, Zhejiang, Shenzhen).
DIVISIONS = ("110108", "310115", "440106", "330106", "440305")
PAPER_TYPES = (pb_invoice.INVOICE_TYPE_VAT_SPECIAL, pb_invoice.INVOICE_TYPE_VAT_GENERAL)
ELECTRONIC_TYPES = (pb_invoice.INVOICE_TYPE_DIGITAL_GENERAL, pb_invoice.INVOICE_TYPE_DIGITAL_SPECIAL,
                    pb_invoice.INVOICE_TYPE_E_VAT_GENERAL)  # fmt: skip
RATES = (1300, 900, 600, 300)
INVALID = (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INVOICE")
NOT_VOIDABLE = (grpc.StatusCode.FAILED_PRECONDITION, "ELECTRONIC_NOT_VOIDABLE")
RECENT = 50  # invoices each user remembers to act on later


def random_tax_id(division: str) -> str:
    """A valid unified social credit code (enterprise, 91) registered in ``division``."""
    body = "91" + division + "".join(random.choices(USCC_ALPHABET, k=9))
    return body + uscc_check_character(body)


def _party(tax_id: str, name: str) -> pb_invoice.Party:
    return pb_invoice.Party(tax_id=tax_id, name=name, address="北京市海淀区中关村大街1号", phone="010-62345678")


class IssuingUser(GrpcUser):
    """An enterprise's ERP: mostly issuing (1-8 lines), sometimes voiding, reversing or looking things up."""

    service_stub = pb_grpc.InvoiceServiceStub
    wait_time = between(0, SETTINGS.max_wait_seconds)

    role = access_pb2.ROLE_TAXPAYER

    def acting_for(self) -> list[str]:
        return self.sellers

    def on_start(self) -> None:
        self.sellers = [random_tax_id(random.choice(DIVISIONS)) for _ in range(3)]
        self.buyers = [random_tax_id(random.choice(DIVISIONS)) for _ in range(20)]
        super().on_start()
        self.paper: list[str] = []  # ids of paper invoices issued and still voidable
        self.electronic: list[str] = []  # ids of electronic invoices issued and not reversed

    def _unary(self, rpc: Callable[..., Message], request: Message) -> list[Message]:
        return [rpc(request, timeout=UNARY_TIMEOUT_SECONDS, metadata=self.metadata)]

    def _issue_request(self, invoice_type: int, lines: int) -> pb.IssueInvoiceRequest:
        return pb.IssueInvoiceRequest(
            request_id=str(uuid.uuid4()),
            invoice_type=invoice_type,  # type: ignore[arg-type]
            seller=_party(random.choice(self.sellers), "北京负载测试科技有限公司"),
            buyer=_party(random.choice(self.buyers), "上海负载测试贸易有限公司"),
            lines=[
                pb.IssueLine(
                    item_name="*信息技术服务*软件开发服务",
                    quantity=str(quantity := random.randint(1, 20)),
                    unit_price=f"{(price := random.randint(100, 500_000)) / 100:.2f}",
                    amount_fen=quantity * price,
                    tax_rate_basis_points=random.choice(RATES),
                )
                for _ in range(lines)
            ],
        )

    def _remember(self, kept: list[str], answers: Sequence[Message]) -> None:
        kept.append(answers[0].invoice.id)  # type: ignore[attr-defined]
        del kept[:-RECENT]

    @task(50)
    def issue_invoice(self) -> None:
        paper = random.random() < 0.3
        invoice_type = random.choice(PAPER_TYPES if paper else ELECTRONIC_TYPES)
        request = self._issue_request(invoice_type, random.choice((1, 1, 1, 2, 3, 8)))
        self.call(
            "IssueInvoice",
            lambda: self._unary(self.stub.IssueInvoice, request),
            check=lambda answers: self._remember(self.paper if paper else self.electronic, answers),
        )

    @task(10)
    def list_invoices(self) -> None:
        request = pb.ListInvoicesRequest(seller_tax_id=random.choice(self.sellers), page_size=20)
        self.call("ListInvoices", lambda: self._unary(self.stub.ListInvoices, request))

    @task(8)
    def get_allowed_actions(self) -> None:
        if not self.electronic:
            return
        request = pb.GetAllowedActionsRequest(invoice=pb.InvoiceSelector(id=random.choice(self.electronic)))
        self.call("GetAllowedActions", lambda: self._unary(self.stub.GetAllowedActions, request))

    @task(4)
    def void_invoice(self) -> None:
        if not self.paper:
            return
        invoice_id = self.paper.pop(random.randrange(len(self.paper)))
        request = pb.VoidInvoiceRequest(
            request_id=str(uuid.uuid4()), invoice=pb.InvoiceSelector(id=invoice_id), reason="开错了"
        )

        def voided(answers: Sequence[Message]) -> None:
            if answers[0].invoice.state != pb_invoice.INVOICE_STATE_VOIDED:  # type: ignore[attr-defined]
                raise UnexpectedAnswer("the void answer does not show the invoice VOIDED")

        self.call("VoidInvoice", lambda: self._unary(self.stub.VoidInvoice, request), check=voided)

    @task(4)
    def reverse_invoice(self) -> None:
        """A seller's red-letter form for a whole uncertified invoice needs no confirmation (01): issue it."""
        if not self.electronic:
            return
        invoice_id = self.electronic.pop(random.randrange(len(self.electronic)))
        form_id: list[str] = []

        def create() -> list[Message]:
            request = pb.CreateRedLetterFormRequest(
                request_id=str(uuid.uuid4()),
                invoice=pb.InvoiceSelector(id=invoice_id),
                reason=2,  # type: ignore[arg-type]  # goods returned
                initiator=1,  # type: ignore[arg-type]  # by the seller
            )
            answers = self._unary(self.stub.CreateRedLetterForm, request)
            form_id.append(answers[0].form.id)  # type: ignore[attr-defined]
            return answers

        self.call("CreateRedLetterForm", create)
        if form_id:
            request = pb.IssueRedInvoiceRequest(request_id=str(uuid.uuid4()), form_id=form_id[0])

            def reversed_fully(answers: Sequence[Message]) -> None:
                state = answers[0].original_invoice.state  # type: ignore[attr-defined]
                if state != pb_invoice.INVOICE_STATE_FULLY_REVERSED:
                    raise UnexpectedAnswer(f"the original is {pb_invoice.InvoiceState.Name(state)}, not fully reversed")

            self.call("IssueRedInvoice", lambda: self._unary(self.stub.IssueRedInvoice, request), check=reversed_fully)

    @task(2)
    def issue_invalid_invoice(self) -> None:
        request = self._issue_request(random.choice(ELECTRONIC_TYPES), 1)
        request.lines[0].tax_rate_basis_points = 1700  # the old 17% rate, no longer in use
        self.call("IssueInvoice [invalid]", lambda: self._unary(self.stub.IssueInvoice, request), expect_error=INVALID)

    @task(1)
    def void_electronic_invoice(self) -> None:
        if not self.electronic:
            return
        request = pb.VoidInvoiceRequest(
            request_id=str(uuid.uuid4()), invoice=pb.InvoiceSelector(id=random.choice(self.electronic))
        )
        self.call(
            "VoidInvoice [refused]", lambda: self._unary(self.stub.VoidInvoice, request), expect_error=NOT_VOIDABLE
        )
