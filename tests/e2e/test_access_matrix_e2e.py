"""Who may call what, and what they then see, on two real servers over a database of this module's own: every
RPC of every service we serve is called as every role and without credentials and must get what the policy
table says; taxpayer B asking for tenant A's invoices, forms and events finds nothing; no answer in the whole
module carries an invoice its caller may not see ("zero cross-tenant reads"); and every refusal is in
the audit log, read back as the AUDITOR."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import psycopg
import pyotp
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from google.type import date_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_status import rpc_status

from fapiao.v1 import (
    access_pb2,
    admin_service_pb2,
    audit_service_pb2,
    auth_service_pb2,
    invoice_pb2,
    invoice_service_pb2,
    lifecycle_pb2,
    register_key_service_pb2,
    report_service_pb2,
    verification_service_pb2,
)
from fapiao_server.domain.access import Role
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.storage.bulk import seed_register
from fapiao_server.storage.migrations import migrate
from fapiao_server.transport.policy import OPEN, POLICY
from fapiao_server.transport.server import SERVICE_NAMES, reflection_v1_file
from tests.support import fleet
from tests.support.access import bearer, principal_key
from tests.support.invoices import issue_request, new_request_id, tax_id
from tests.support.keys import shared_keyring
from tests.support.server import ServerProcess, logged_errors
from tests.support.services import fresh_database
from tests.support.signing import fleet_signing_key

pytestmark = pytest.mark.slow

SEEDED_INVOICES = 300
SEED = 20261128
PD, UNAUTHENTICATED, NOT_FOUND, OK = (
    grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.OK,
)  # fmt: skip
SELLER, BUYER = lifecycle_pb2.TRADE_PARTY_SELLER, lifecycle_pb2.TRADE_PARTY_BUYER
IN_ERROR = lifecycle_pb2.RED_LETTER_REASON_ISSUED_IN_ERROR  # needs no confirmation
RETURNED = lifecycle_pb2.RED_LETTER_REASON_GOODS_RETURNED
PAPER_GENERAL, PAPER_SPECIAL = invoice_pb2.INVOICE_TYPE_VAT_GENERAL, invoice_pb2.INVOICE_TYPE_VAT_SPECIAL
E_GENERAL = invoice_pb2.INVOICE_TYPE_E_VAT_GENERAL
# Tenant A registers in Beijing (region 1100), tenant B in Shanghai (3100); the officer covers Beijing only.
REGION_A, REGION_B, DIVISION_A, DIVISION_B = "1100", "3100", "110108", "310115"
# Long enough for a stream the gate let through to say so (a first message or nothing); a refusal comes at once.
STREAM_WAIT = 1.5
AUDIT_WAIT = 20.0
_SERVED_FILES = (
    verification_service_pb2.DESCRIPTOR, invoice_service_pb2.DESCRIPTOR, auth_service_pb2.DESCRIPTOR,
    admin_service_pb2.DESCRIPTOR, register_key_service_pb2.DESCRIPTOR, audit_service_pb2.DESCRIPTOR,
    report_service_pb2.DESCRIPTOR, health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR, reflection_v1_file(),
)  # fmt: skip
_INFRASTRUCTURE = (
    "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
)  # fmt: skip
_REFUSED = {
    PD: audit_service_pb2.AUDIT_OUTCOME_DENIED,
    UNAUTHENTICATED: audit_service_pb2.AUDIT_OUTCOME_UNAUTHENTICATED,
}


def served_methods() -> dict[str, MethodDescriptor]:
    """Every RPC the server registers, by full method name."""
    services = {s.full_name: s for file in _SERVED_FILES for s in file.services_by_name.values()}
    return {
        f"/{name}/{method.name}": method
        for name in (*SERVICE_NAMES, *_INFRASTRUCTURE)
        for method in services[name].methods
    }


@dataclass(frozen=True)
class Caller:
    """One identity of the matrix; ``key`` None calls without credentials."""

    name: str
    role: Role | None
    principal_id: str
    key: str | None
    tax_ids: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.key) if self.key else ()

    @property
    def actor(self) -> str:
        return self.principal_id if self.key else "anonymous"


@dataclass
class Tenant:
    """A tenant's invoices and forms, issued through the API by its taxpayer, one per change the matrix makes."""

    seller: str
    buyer: str
    reporter: str
    paper: invoice_pb2.Invoice  # to void
    special: invoice_pb2.Invoice  # to certify as buyer
    electronic: invoice_pb2.Invoice  # to open a red-letter form against
    to_confirm: lifecycle_pb2.RedLetterForm  # awaiting the seller
    to_reject: lifecycle_pb2.RedLetterForm
    to_withdraw: lifecycle_pb2.RedLetterForm
    confirmed: lifecycle_pb2.RedLetterForm  # ready for the red invoice


@dataclass(frozen=True)
class Answer:
    caller: Caller
    method: str
    code: grpc.StatusCode
    reason: str
    invoice_ids: frozenset[str]


@dataclass
class Ledger:
    """Every answer any caller got in this module: what the cross-tenant count and the audit check read."""

    answers: list[Answer] = field(default_factory=list)


class Client:
    """Calls any method by name on the servers in turn, as any caller, and records the answer."""

    def __init__(self, servers: list[ServerProcess], ledger: Ledger) -> None:
        self._channels = [grpc.insecure_channel(server.address) for server in servers]
        self._turn = itertools.cycle(self._channels)
        self._methods = served_methods()
        self.ledger = ledger

    def close(self) -> None:
        for channel in self._channels:
            channel.close()

    def call(self, caller: Caller, method: str, request: Message) -> tuple[Answer, list[Message]]:
        descriptor = self._methods[method]
        reply = GetMessageClass(descriptor.output_type).FromString
        channel, metadata = next(self._turn), caller.metadata
        responses: list[Message] = []
        try:
            if descriptor.client_streaming:
                stream = channel.stream_stream(method, type(request).SerializeToString, reply)
                responses += first_of(stream(iter([request]), metadata=metadata, timeout=STREAM_WAIT))
            elif descriptor.server_streaming:
                stream = channel.unary_stream(method, type(request).SerializeToString, reply)
                responses += first_of(stream(request, metadata=metadata, timeout=STREAM_WAIT))
            else:
                unary = channel.unary_unary(method, type(request).SerializeToString, reply)
                responses.append(unary(request, metadata=metadata, timeout=15))
            code, reason = OK, ""
        except grpc.RpcError as error:
            code, reason = error.code(), reason_of(error)
        ids = frozenset(itertools.chain.from_iterable(invoice_ids(r) for r in responses))
        answer = Answer(caller, method, code, reason, ids)
        self.ledger.answers.append(answer)
        return answer, responses

    def ok(self, caller: Caller, method: str, request: Message) -> Any:
        answer, responses = self.call(caller, method, request)
        assert answer.code is OK, f"{caller.name} {method}: {answer.code.name} {answer.reason}"
        return responses[0]


def reason_of(error: grpc.RpcError) -> str:
    """The ErrorInfo reason; none when the status comes from gRPC itself rather than the register."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return ""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def first_of(stream: Any) -> list[Message]:
    """The first message of a stream, then hang up: a stream the gate let through and that stays quiet until the
    deadline counts as let through, for watches only answer when something happens."""
    try:
        return [next(stream)]
    except StopIteration:
        return []
    except grpc.RpcError as error:
        if error.code() is grpc.StatusCode.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
            return []
        raise
    finally:
        stream.cancel()


_INVOICE_MESSAGES = ("fapiao.v1.Invoice", "fapiao.v1.InvoiceReference")


def invoice_ids(message: Message) -> set[str]:
    """The id of every invoice (or reference to one) anywhere inside ``message``."""
    found = set()
    if message.DESCRIPTOR.full_name in _INVOICE_MESSAGES and message.id:  # type: ignore[attr-defined]
        found.add(message.id)  # type: ignore[attr-defined]
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None or descriptor.message_type.GetOptions().map_entry:
            continue
        for item in value if descriptor.is_repeated else [value]:
            found |= invoice_ids(item)
    return found


def by_id(invoice: invoice_pb2.Invoice) -> invoice_service_pb2.InvoiceSelector:
    return invoice_service_pb2.InvoiceSelector(id=invoice.id)


def by_key(invoice: invoice_pb2.Invoice) -> invoice_service_pb2.InvoiceSelector:
    return invoice_service_pb2.InvoiceSelector(invoice_code=invoice.invoice_code, invoice_number=invoice.invoice_number)


@pytest.fixture(scope="module")
def matrix_database(pg_admin_url: str) -> Iterator[str]:
    """A database of this module's own, with a few hundred seeded invoices of other taxpayers around ours."""
    with fresh_database(pg_admin_url, "matrix") as url:
        migrate(url, today=business_date(utc_now()))
        seed_register(url, SEEDED_INVOICES, shared_keyring(url), seed=SEED, now=utc_now(), signer=fleet_signing_key())
        yield url


@pytest.fixture(scope="module")
def client(matrix_database: str, redis_url: str) -> Iterator[Client]:
    servers = fleet.start_servers(matrix_database, redis_url)
    opened = Client(servers, Ledger())
    try:
        yield opened
    finally:
        opened.close()
        for server in servers:
            server.stop()
        errors = [line for server in servers for line in logged_errors(server.stderr)]
        unknown = [line for line in errors if not any(known in line for known in KNOWN_SERVER_ERRORS)]
        assert not unknown, "".join(unknown)


@dataclass(frozen=True)
class Cast:
    """Everyone the matrix calls as, and the tenants they act on."""

    callers: dict[str, Caller]
    tenant_a: Tenant  # what the matrix changes
    spare_a: Tenant  # what taxpayer B tries to change, untouched by anyone else
    tenant_b: Tenant
    # Per caller, as a one-time code and a refresh token are each good once: a password login to use, and the
    # refresh token of a session opened in setup.
    logins: dict[str, auth_service_pb2.LoginRequest]
    refresh_tokens: dict[str, str]
    revocable_key: str  # id of an API key the ADMIN revokes

    def target(self, caller: Caller) -> Tenant:
        """The tenant a caller's requests are about: its own for taxpayer B, tenant A for everyone else."""
        return self.tenant_b if caller.name == "taxpayer_b" else self.tenant_a


def new_caller(url: str, name: str, role: Role, tax_ids: tuple[str, ...] = (), regions: tuple[str, ...] = ()) -> Caller:
    principal_id = f"matrix-{name.replace('_', '-')}"
    key = principal_key(url, role, tax_ids=tax_ids, regions=regions, principal_id=principal_id)
    return Caller(name, role, principal_id, key, frozenset(tax_ids), frozenset(regions))


def build_tenant(client: Client, taxpayer: Caller, seller: str, buyer: str, reporter: str) -> Tenant:
    """Invoices and forms issued through the API by ``taxpayer``, one for each change the matrix makes."""
    invoices = _INVOICES

    def issue(kind: int) -> invoice_pb2.Invoice:
        request = issue_request(kind, seller, buyer, request_id=new_request_id())
        return client.ok(taxpayer, invoices + "IssueInvoice", request).invoice

    # Entered by the buyer, so each awaits the seller: one to confirm, reject or withdraw (the same taxpayer acts
    # for both parties).
    def form(invoice: invoice_pb2.Invoice) -> lifecycle_pb2.RedLetterForm:
        request = invoice_service_pb2.CreateRedLetterFormRequest(
            request_id=new_request_id(), invoice=by_id(invoice), reason=RETURNED, initiator=BUYER
        )
        return client.ok(taxpayer, invoices + "CreateRedLetterForm", request).form

    paper, special, electronic = issue(PAPER_GENERAL), issue(PAPER_SPECIAL), issue(E_GENERAL)
    to_confirm, to_reject, to_withdraw, confirmed = (form(issue(E_GENERAL)) for _ in range(4))
    confirm = invoice_service_pb2.ConfirmRedLetterFormRequest(
        request_id=new_request_id(), form_id=confirmed.id, party=SELLER
    )
    confirmed = client.ok(taxpayer, invoices + "ConfirmRedLetterForm", confirm).form
    assert to_confirm.state == lifecycle_pb2.RED_LETTER_FORM_STATE_AWAITING_SELLER
    assert confirmed.state == lifecycle_pb2.RED_LETTER_FORM_STATE_CONFIRMED
    return Tenant(seller, buyer, reporter, paper, special, electronic, to_confirm, to_reject, to_withdraw, confirmed)


_VERIFICATION = "/fapiao.v1.VerificationService/"
_INVOICES = "/fapiao.v1.InvoiceService/"
_AUTH = "/fapiao.v1.AuthService/"
_ADMIN = "/fapiao.v1.AdminService/"
_AUDIT = "/fapiao.v1.AuditService/"
_REPORTS = "/fapiao.v1.ReportService/"
PASSWORD = "correct horse battery staple"
_SCRATCH = "matrix-scratch"  # the principal the ADMIN's calls change


@pytest.fixture(scope="module")
def cast(client: Client, matrix_database: str) -> Cast:
    url = matrix_database
    a_ids = (tax_id(DIVISION_A), tax_id(DIVISION_A), tax_id(DIVISION_A))
    spare_ids = (tax_id(DIVISION_A), tax_id(DIVISION_A), tax_id(DIVISION_A))
    b_ids = (tax_id(DIVISION_B), tax_id(DIVISION_B), tax_id(DIVISION_B))
    callers = {
        "verifier": new_caller(url, "verifier", Role.VERIFIER),
        "taxpayer_a": new_caller(url, "taxpayer_a", Role.TAXPAYER, a_ids + spare_ids),
        "taxpayer_b": new_caller(url, "taxpayer_b", Role.TAXPAYER, b_ids),
        "officer_a": new_caller(url, "officer_a", Role.TAX_OFFICER, regions=(REGION_A,)),
        "auditor": new_caller(url, "auditor", Role.AUDITOR),
        "admin": new_caller(url, "admin", Role.ADMIN),
        "nobody": Caller("nobody", None, "", None),
    }
    tenant_a = build_tenant(client, callers["taxpayer_a"], *a_ids)
    spare_a = build_tenant(client, callers["taxpayer_a"], *spare_ids)
    tenant_b = build_tenant(client, callers["taxpayer_b"], *b_ids)
    assert tenant_a.paper.region_code == REGION_A and tenant_b.paper.region_code == REGION_B

    admin = callers["admin"]
    principal_key(url, Role.VERIFIER, principal_id=_SCRATCH)
    logins = {name: password_login(client, admin, url, f"matrix-login-{n}") for n, name in enumerate(callers)}
    refresh_tokens = {
        name: client.ok(
            callers["nobody"], _AUTH + "Login", password_login(client, admin, url, f"matrix-session-{n}")
        ).tokens.refresh_token
        for n, name in enumerate(callers)
    }
    revocable = client.ok(admin, _ADMIN + "CreateApiKey", admin_service_pb2.CreateApiKeyRequest(principal_id=_SCRATCH))
    return Cast(callers, tenant_a, spare_a, tenant_b, logins, refresh_tokens, revocable.key.id)


def password_login(client: Client, admin: Caller, url: str, principal_id: str) -> auth_service_pb2.LoginRequest:
    """A Login request, good once, for a new VERIFIER given a password login by the ADMIN."""
    principal_key(url, Role.VERIFIER, principal_id=principal_id)
    set_login = admin_service_pb2.SetLoginRequest(principal_id=principal_id, username=principal_id, password=PASSWORD)
    secret = client.ok(admin, _ADMIN + "SetLogin", set_login).totp_secret
    return auth_service_pb2.LoginRequest(username=principal_id, password=PASSWORD, totp_code=pyotp.TOTP(secret).now())


def verify_request(invoice: invoice_pb2.Invoice) -> verification_service_pb2.VerifyInvoiceRequest:
    return verification_service_pb2.VerifyInvoiceRequest(
        invoice_code=invoice.invoice_code,
        invoice_number=invoice.invoice_number,
        issue_date=invoice.issue_date,
        check_code=invoice.check_code[-6:],
    )


_made = itertools.count(1)


def matrix_requests(cast: Cast, caller: Caller) -> dict[str, Message]:
    """A realistic request for every served method, as ``caller`` would send it about its tenant's invoices.
    Each change has a target of its own, so the one taxpayer the table lets make it can make it."""
    t, period = cast.target(caller), business_date(utc_now())
    ivs, vfs = invoice_service_pb2, verification_service_pb2
    return {
        _VERIFICATION + "VerifyInvoice": verify_request(t.paper),
        _VERIFICATION + "VerifyQrCode": vfs.VerifyQrCodeRequest(payload=t.paper.qr_payload),
        _VERIFICATION + "BatchVerifyInvoices": vfs.BatchVerifyInvoicesRequest(
            items=[vfs.BatchVerifyItem(invoice=verify_request(t.special))]
        ),
        _VERIFICATION + "ListVerificationRecords": vfs.ListVerificationRecordsRequest(page_size=100),
        _INVOICES + "IssueInvoice": issue_request(PAPER_GENERAL, t.seller, t.buyer, request_id=new_request_id()),
        _INVOICES + "GetInvoice": ivs.GetInvoiceRequest(invoice=by_id(t.paper)),
        _INVOICES + "ListInvoices": ivs.ListInvoicesRequest(seller_tax_id=t.seller, page_size=100),
        _INVOICES + "VoidInvoice": ivs.VoidInvoiceRequest(request_id=new_request_id(), invoice=by_id(t.paper)),
        _INVOICES + "CertifyInvoice": ivs.CertifyInvoiceRequest(request_id=new_request_id(), invoice=by_id(t.special)),
        _INVOICES + "ReportTaxPeriod": ivs.ReportTaxPeriodRequest(
            request_id=new_request_id(), tax_id=t.reporter, year=period.year, month=period.month
        ),
        _INVOICES + "GetAllowedActions": ivs.GetAllowedActionsRequest(invoice=by_key(t.paper)),
        _INVOICES + "ListInvoiceEvents": ivs.ListInvoiceEventsRequest(invoice=by_id(t.electronic)),
        _INVOICES + "WatchInvoices": ivs.WatchInvoicesRequest(invoice=by_id(t.electronic)),
        _INVOICES + "CreateRedLetterForm": ivs.CreateRedLetterFormRequest(
            request_id=new_request_id(), invoice=by_id(t.electronic), reason=IN_ERROR, initiator=SELLER
        ),
        _INVOICES + "ConfirmRedLetterForm": ivs.ConfirmRedLetterFormRequest(
            request_id=new_request_id(), form_id=t.to_confirm.id, party=SELLER
        ),
        _INVOICES + "RejectRedLetterForm": ivs.RejectRedLetterFormRequest(
            request_id=new_request_id(), form_id=t.to_reject.id, party=SELLER, reason="金额有误"
        ),
        _INVOICES + "WithdrawRedLetterForm": ivs.WithdrawRedLetterFormRequest(
            request_id=new_request_id(), form_id=t.to_withdraw.id, party=BUYER, reason="重复开具"
        ),
        _INVOICES + "GetRedLetterForm": ivs.GetRedLetterFormRequest(form_id=t.to_confirm.id),
        _INVOICES + "ListRedLetterForms": ivs.ListRedLetterFormsRequest(seller_tax_id=t.seller, page_size=100),
        _INVOICES + "IssueRedInvoice": ivs.IssueRedInvoiceRequest(request_id=new_request_id(), form_id=t.confirmed.id),
        _AUTH + "Login": cast.logins[caller.name],
        _AUTH + "RefreshToken": auth_service_pb2.RefreshTokenRequest(refresh_token=cast.refresh_tokens[caller.name]),
        _AUTH + "Logout": auth_service_pb2.LogoutRequest(),
        _AUTH + "GetCaller": auth_service_pb2.GetCallerRequest(),
        _ADMIN + "CreatePrincipal": admin_service_pb2.CreatePrincipalRequest(
            principal=access_pb2.Principal(
                id=f"matrix-made-{next(_made)}", role=access_pb2.ROLE_VERIFIER, display_name="matrix"
            )
        ),
        _ADMIN + "GetPrincipal": admin_service_pb2.GetPrincipalRequest(id=_SCRATCH),
        _ADMIN + "ListPrincipals": admin_service_pb2.ListPrincipalsRequest(page_size=100),
        _ADMIN + "UpdatePrincipal": admin_service_pb2.UpdatePrincipalRequest(
            principal=access_pb2.Principal(id=_SCRATCH, display_name="renamed by the matrix"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
        _ADMIN + "SetLogin": admin_service_pb2.SetLoginRequest(
            principal_id=_SCRATCH, username=f"matrix-scratch-{uuid.uuid4().hex[:6]}", password=PASSWORD
        ),
        _ADMIN + "CreateApiKey": admin_service_pb2.CreateApiKeyRequest(principal_id=_SCRATCH, description="matrix"),
        _ADMIN + "ListApiKeys": admin_service_pb2.ListApiKeysRequest(principal_id=_SCRATCH),
        _ADMIN + "RevokeApiKey": admin_service_pb2.RevokeApiKeyRequest(key_id=cast.revocable_key),
        _ADMIN + "RevokeSessions": admin_service_pb2.RevokeSessionsRequest(principal_id=_SCRATCH),
        _AUDIT + "ListAuditEvents": audit_service_pb2.ListAuditEventsRequest(page_size=10),
        _AUDIT + "VerifyAuditChain": audit_service_pb2.VerifyAuditChainRequest(),
        _REPORTS + "SummarizeInvoices": report_service_pb2.SummarizeInvoicesRequest(
            seller_tax_id=t.seller,
            start_date=date_pb2.Date(year=period.year, month=1, day=1),
            end_date=date_pb2.Date(year=period.year, month=period.month, day=period.day),
            group_by=[report_service_pb2.INVOICE_GROUPING_TYPE],
        ),
        "/fapiao.v1.RegisterKeyService/ListSigningKeys": register_key_service_pb2.ListSigningKeysRequest(),
        "/grpc.health.v1.Health/Check": health_pb2.HealthCheckRequest(),
        "/grpc.health.v1.Health/Watch": health_pb2.HealthCheckRequest(),
        "/grpc.health.v1.Health/List": health_pb2.HealthListRequest(),
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": reflection_pb2.ServerReflectionRequest(
            list_services=""
        ),
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": GetMessageClass(
            reflection_v1_file().message_types_by_name["ServerReflectionRequest"]
        )(list_services=""),
    }


# Answers of allowed calls that are not OK, and why that is right rather than a gap in the requests.
EXPECTED_NOT_OK = {
    # Logout ends a login session; an API key is not one (it is revoked through AdminService instead).
    (_AUTH + "Logout", "FAILED_PRECONDITION", "NOT_A_SESSION"),
}
# Health/Watch answers by context.write() rather than by yielding: the access gate must pass such handlers through
# as they are (this once ended UNKNOWN for everyone).
HEALTH_WATCH = "/grpc.health.v1.Health/Watch"
# What the servers may log as an ERROR here: nothing; any ERROR line fails the module.
KNOWN_SERVER_ERRORS: tuple[str, ...] = ()


@dataclass(frozen=True)
class Matrix:
    answers: dict[tuple[str, str], Answer]  # (method, caller name) -> answer


@pytest.fixture(scope="module")
def matrix(client: Client, cast: Cast) -> Matrix:
    """Every served method called as every caller, method by method (ReportTaxPeriod last among the changes,
    as a reported period closes voiding)."""
    methods = sorted(served_methods(), key=lambda m: m.endswith("/ReportTaxPeriod"))
    answers = {}
    for method in methods:
        for caller in cast.callers.values():
            answers[method, caller.name], _ = client.call(caller, method, matrix_requests(cast, caller)[method])
    return Matrix(answers)


def test_every_rpc_as_every_role_gets_what_the_table_says(matrix: Matrix, cast: Cast) -> None:
    assert set(served_methods()) <= set(POLICY), "a served method has no row: it is refused to everyone"
    wrong = []
    for (method, name), answer in matrix.answers.items():
        roles, caller = POLICY[method], cast.callers[name]
        if roles == OPEN:
            # No gate: whatever the use case answers, never a refusal of who is calling.
            expected_ok = answer.code is not PD
        elif caller.role is None:
            expected_ok = (answer.code, answer.reason) == (UNAUTHENTICATED, "CREDENTIALS_MISSING")
        elif caller.role in roles:
            expected_ok = answer.code not in (PD, UNAUTHENTICATED)
        else:
            expected_ok = (answer.code, answer.reason) == (PD, "ROLE_NOT_ALLOWED")
        if not expected_ok:
            wrong.append(f"{name} {method}: {answer.code.name} {answer.reason}")
    assert not wrong, "\n".join(wrong)
    assert len(matrix.answers) == len(served_methods()) * len(cast.callers)


@pytest.mark.parametrize(
    ("method", "caller", "code"),
    [
        (_INVOICES + "VoidInvoice", "verifier", PD),
        (_INVOICES + "VoidInvoice", "officer_a", PD),
        (_INVOICES + "VoidInvoice", "taxpayer_a", OK),
        (_INVOICES + "VoidInvoice", "nobody", UNAUTHENTICATED),
        (_INVOICES + "GetInvoice", "auditor", PD),
        (_INVOICES + "GetInvoice", "officer_a", OK),
        (_INVOICES + "IssueRedInvoice", "taxpayer_b", OK),
        (_AUDIT + "ListAuditEvents", "admin", PD),
        (_AUDIT + "ListAuditEvents", "auditor", OK),
        (_ADMIN + "CreatePrincipal", "taxpayer_a", PD),
        (_ADMIN + "CreatePrincipal", "admin", OK),
        (_VERIFICATION + "VerifyInvoice", "auditor", PD),
        (_VERIFICATION + "VerifyInvoice", "verifier", OK),
        (_VERIFICATION + "BatchVerifyInvoices", "admin", PD),
        (_AUTH + "GetCaller", "nobody", UNAUTHENTICATED),
        ("/grpc.health.v1.Health/Check", "nobody", OK),
        # Reflection describes only the public contract: open, as health is.
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "nobody", OK),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "auditor", OK),
        ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "nobody", OK),
    ],
)
def test_the_hand_written_rows_hold_on_the_wire(
    matrix: Matrix, method: str, caller: str, code: grpc.StatusCode
) -> None:
    """Written out by hand, so a matrix built from a wrong table cannot pass by agreeing with it."""
    answer = matrix.answers[method, caller]
    assert answer.code is code, f"{answer.code.name} {answer.reason}"


def test_allowed_calls_succeed(matrix: Matrix, cast: Cast) -> None:
    """The requests are realistic: a permitted caller's call does what it asks, bar the listed exceptions."""
    unexpected = [
        f"{name} {method}: {answer.code.name} {answer.reason}"
        for (method, name), answer in matrix.answers.items()
        if (cast.callers[name].role in POLICY[method] or POLICY[method] == OPEN) and answer.code is not OK
        and (method, answer.code.name, answer.reason) not in EXPECTED_NOT_OK
    ]  # fmt: skip
    assert not unexpected, "\n".join(unexpected)
    internal = [a for a in matrix.answers.values() if a.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)]
    assert not internal, internal


def test_health_watch_answers(matrix: Matrix) -> None:
    answer = matrix.answers[HEALTH_WATCH, "nobody"]
    assert answer.code is OK, f"{answer.code.name} {answer.reason}"


def test_taxpayer_b_finds_nothing_of_tenant_a(client: Client, cast: Cast) -> None:
    """Another tenant's invoices, forms and events do not exist for B, by id or by code and number, and B
    changes none of them; watching A's tax id is refused outright, as the tax id is named in the request."""
    b, a, owner = cast.callers["taxpayer_b"], cast.spare_a, cast.callers["taxpayer_a"]
    ivs = invoice_service_pb2
    rid = new_request_id
    hidden = [
        (_INVOICES + "GetInvoice", ivs.GetInvoiceRequest(invoice=by_id(a.paper))),
        (_INVOICES + "GetInvoice", ivs.GetInvoiceRequest(invoice=by_key(a.paper))),
        (_INVOICES + "GetInvoice", ivs.GetInvoiceRequest(invoice=by_key(a.electronic))),
        (_INVOICES + "GetAllowedActions", ivs.GetAllowedActionsRequest(invoice=by_id(a.paper))),
        (_INVOICES + "GetAllowedActions", ivs.GetAllowedActionsRequest(invoice=by_key(a.special))),
        (_INVOICES + "ListInvoiceEvents", ivs.ListInvoiceEventsRequest(invoice=by_id(a.electronic))),
        (_INVOICES + "ListInvoiceEvents", ivs.ListInvoiceEventsRequest(invoice=by_key(a.paper))),
        (_INVOICES + "GetRedLetterForm", ivs.GetRedLetterFormRequest(form_id=a.to_confirm.id)),
        (_INVOICES + "ListRedLetterForms", ivs.ListRedLetterFormsRequest(invoice=by_id(a.electronic))),
        (_INVOICES + "WatchInvoices", ivs.WatchInvoicesRequest(invoice=by_id(a.electronic))),
        (_INVOICES + "WatchInvoices", ivs.WatchInvoicesRequest(invoice=by_key(a.paper))),
        (_INVOICES + "VoidInvoice", ivs.VoidInvoiceRequest(request_id=new_request_id(), invoice=by_id(a.paper))),
        (_INVOICES + "CertifyInvoice", ivs.CertifyInvoiceRequest(request_id=rid(), invoice=by_key(a.special))),
        (_INVOICES + "CreateRedLetterForm", ivs.CreateRedLetterFormRequest(
            request_id=new_request_id(), invoice=by_id(a.electronic), reason=IN_ERROR, initiator=SELLER)),
        (_INVOICES + "ConfirmRedLetterForm", ivs.ConfirmRedLetterFormRequest(
            request_id=new_request_id(), form_id=a.to_confirm.id, party=SELLER)),
        (_INVOICES + "RejectRedLetterForm", ivs.RejectRedLetterFormRequest(
            request_id=new_request_id(), form_id=a.to_reject.id, party=SELLER, reason="x")),
        (_INVOICES + "WithdrawRedLetterForm", ivs.WithdrawRedLetterFormRequest(
            request_id=new_request_id(), form_id=a.to_withdraw.id, party=BUYER, reason="x")),
        (_INVOICES + "IssueRedInvoice", ivs.IssueRedInvoiceRequest(request_id=rid(), form_id=a.confirmed.id)),
    ]  # fmt: skip
    wrong = []
    for method, request in hidden:
        answer, _ = client.call(b, method, request)
        if answer.code is not NOT_FOUND:
            wrong.append(f"{method} {request}: {answer.code.name} {answer.reason}")
    assert not wrong, "\n".join(wrong)

    for request in (
        ivs.ListInvoicesRequest(seller_tax_id=a.seller, page_size=1000),
        ivs.ListInvoicesRequest(buyer_tax_id=a.buyer, page_size=1000),
    ):
        answer, _ = client.call(b, _INVOICES + "ListInvoices", request)
        assert answer.code in (OK, PD) and not answer.invoice_ids, answer
    answer, responses = client.call(b, _INVOICES + "ListRedLetterForms", ivs.ListRedLetterFormsRequest(
        seller_tax_id=a.seller, page_size=1000))  # fmt: skip
    assert answer.code in (OK, PD) and not any(r.forms for r in responses), answer
    watch, _ = client.call(b, _INVOICES + "WatchInvoices", ivs.WatchInvoicesRequest(tax_id=a.seller))
    assert watch.code is PD, watch

    # Nothing B tried changed anything: A's invoices and forms stand as A left them.
    paper = client.ok(owner, _INVOICES + "GetInvoice", ivs.GetInvoiceRequest(invoice=by_id(a.paper))).invoice
    special = client.ok(owner, _INVOICES + "GetInvoice", ivs.GetInvoiceRequest(invoice=by_id(a.special))).invoice
    assert (paper.state, special.state) == (invoice_pb2.INVOICE_STATE_ISSUED,) * 2
    assert not special.HasField("certify_time")
    for form, state in ((a.to_confirm, a.to_confirm.state), (a.to_reject, a.to_reject.state),
                        (a.to_withdraw, a.to_withdraw.state), (a.confirmed, a.confirmed.state)):  # fmt: skip
        now = client.ok(owner, _INVOICES + "GetRedLetterForm", ivs.GetRedLetterFormRequest(form_id=form.id)).form
        assert now.state == state and not now.red_invoice.id, now
    forms = client.ok(
        owner, _INVOICES + "ListRedLetterForms", ivs.ListRedLetterFormsRequest(invoice=by_id(a.electronic))
    )
    assert not forms.forms, "B's CreateRedLetterForm left a form on A's invoice"


def test_the_officer_sees_its_region_and_not_another(client: Client, cast: Cast) -> None:
    officer, a, b = cast.callers["officer_a"], cast.tenant_a, cast.tenant_b
    ivs = invoice_service_pb2
    for invoice in (a.paper, a.electronic):
        got = client.ok(officer, _INVOICES + "GetInvoice", ivs.GetInvoiceRequest(invoice=by_key(invoice))).invoice
        assert got.id == invoice.id
    listed = client.ok(
        officer, _INVOICES + "ListInvoices", ivs.ListInvoicesRequest(seller_tax_id=a.seller, page_size=100)
    )
    assert {a.paper.id, a.electronic.id} <= {invoice.id for invoice in listed.invoices}
    for invoice in (b.paper, b.electronic):
        for selector in (by_id(invoice), by_key(invoice)):
            answer, _ = client.call(officer, _INVOICES + "GetInvoice", ivs.GetInvoiceRequest(invoice=selector))
            assert answer.code is NOT_FOUND, answer
    answer, _ = client.call(officer, _INVOICES + "ListInvoices", ivs.ListInvoicesRequest(seller_tax_id=b.seller))
    assert answer.code in (OK, PD) and not answer.invoice_ids, answer
    # A region's listing: the officer's own region holds A's invoices and nothing of another region; B's region
    # lists nothing for it.
    listed = client.ok(
        officer, _INVOICES + "ListInvoices", ivs.ListInvoicesRequest(region_code=REGION_A, page_size=1000)
    )
    assert {a.paper.id, a.electronic.id} <= {invoice.id for invoice in listed.invoices}
    assert {invoice.region_code for invoice in listed.invoices} == {REGION_A}
    answer, _ = client.call(officer, _INVOICES + "ListInvoices", ivs.ListInvoicesRequest(region_code=REGION_B))
    assert answer.code is OK and not answer.invoice_ids, answer
    answer, _ = client.call(
        officer, _INVOICES + "GetRedLetterForm", ivs.GetRedLetterFormRequest(form_id=b.to_confirm.id)
    )
    assert answer.code is NOT_FOUND, answer


def test_a_verifier_lists_only_its_own_verifications(client: Client, cast: Cast, matrix: Matrix) -> None:
    verifier = cast.callers["verifier"]
    request = verification_service_pb2.ListVerificationRecordsRequest(page_size=1000)
    records = client.ok(verifier, _VERIFICATION + "ListVerificationRecords", request).records
    # The matrix verified as the verifier and as both taxpayers and the officer: only the first are listed.
    assert records and {record.caller for record in records} == {verifier.principal_id}


def test_no_answer_carried_an_invoice_its_caller_may_not_see(
    client: Client, cast: Cast, matrix: Matrix, matrix_database: str
) -> None:
    """No cross-tenant reads at all: every invoice id any answer of this module carried (matrix,
    cross-tenant and officer calls alike) checked against the caller's scope: a taxpayer's tax ids as seller or
    buyer, an officer's regions, nothing for anyone else. Verification answers are left out: whoever holds an
    invoice's code, number, date and proof may verify it, whoever they are."""
    answers = [a for a in client.ledger.answers if not a.method.startswith(_VERIFICATION)]
    seen = {invoice for answer in answers for invoice in answer.invoice_ids}
    with psycopg.connect(matrix_database) as conn:
        rows = conn.execute(
            "SELECT id::text, seller_tax_id, buyer_tax_id, region_code FROM invoices WHERE id = ANY(%s::bigint[])",
            ([int(i) for i in seen],),
        ).fetchall()
    where = {row[0]: row[1:] for row in rows}
    assert set(where) == seen, "an answer named an invoice the register does not hold"

    def may_see(caller: Caller, invoice: str) -> bool:
        seller, buyer, region = where[invoice]
        return bool({seller, buyer} & caller.tax_ids) or region in caller.regions

    leaks = [(a.caller.name, a.method, i) for a in answers for i in a.invoice_ids if not may_see(a.caller, i)]
    reads = sum(len(a.invoice_ids) for a in answers)
    print(
        f"\naccess matrix: {len(client.ledger.answers)} calls, {reads} invoice reads, {len(leaks)} cross-tenant reads"
    )
    assert not leaks, leaks
    # Not vacuous: the callers who may read did read, tenant B and the officer included.
    assert {a.caller.name for a in answers if a.invoice_ids} >= {"taxpayer_a", "taxpayer_b", "officer_a"}


def test_every_refusal_is_audited(client: Client, cast: Cast, matrix: Matrix) -> None:
    """Each PERMISSION_DENIED and UNAUTHENTICATED answer of this module is in the audit log as that caller's
    refusal of that method, read back as the AUDITOR, page by page."""
    expected = Counter(
        # The gate does not look at credentials on the open methods (logins), so their refusals are anonymous.
        (a.method, "anonymous" if POLICY[a.method] == OPEN else a.caller.actor, _REFUSED[a.code])
        for a in client.ledger.answers
        if a.code in _REFUSED
    )
    assert sum(expected.values()) > 100, "too few refusals for the check to mean anything"
    auditor, deadline = cast.callers["auditor"], time.monotonic() + AUDIT_WAIT
    while True:
        recorded = Counter((e.action, e.actor, e.outcome) for e in audit_events(client, auditor))
        missing = expected - recorded
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert not missing, "\n".join(f"{n} x {key}" for key, n in sorted(missing.items()))
    print(f"\naccess matrix: {sum(expected.values())} refusals, all audited")


def audit_events(client: Client, auditor: Caller) -> list[audit_service_pb2.AuditEvent]:
    events: list[audit_service_pb2.AuditEvent] = []
    for outcome in _REFUSED.values():
        token = ""
        while True:
            request = audit_service_pb2.ListAuditEventsRequest(page_size=1000, outcome=outcome, page_token=token)
            page = client.ok(auditor, _AUDIT + "ListAuditEvents", request)
            events += page.events
            token = page.next_page_token
            if not token:
                break
    return events
