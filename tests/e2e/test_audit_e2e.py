"""The audit log end to end: two real servers record every InvoiceService change (who, what, outcome) into one
chain, ListAuditEvents shows them, VerifyAuditChain and `fapiao audit verify` call it intact, and after a row is
altered directly in PostgreSQL both name that row."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Iterator

import grpc
import psycopg
import pyotp
import pytest
from google.protobuf import field_mask_pb2

from fapiao.v1 import access_pb2, auth_service_pb2, auth_service_pb2_grpc
from fapiao.v1 import admin_service_pb2 as admin_pb
from fapiao.v1 import admin_service_pb2_grpc as admin_grpc
from fapiao.v1 import audit_service_pb2 as apb
from fapiao.v1 import audit_service_pb2_grpc as apb_grpc
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc
from fapiao_client import FapiaoError
from fapiao_server.domain.access import Role
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.storage.migrations import migrate
from tests.support import fleet
from tests.support.access import bearer, principal_key
from tests.support.invoices import new_request_id
from tests.support.server import ServerProcess, fapiao_executable
from tests.support.services import fresh_database

pytestmark = pytest.mark.slow
SERVICE = "/fapiao.v1.InvoiceService/"
AUTH = "/fapiao.v1.AuthService/"
PASSWORD = "correct horse battery staple"
PAPER_GENERAL, E_GENERAL = 4, 10


@pytest.fixture(scope="module")
def audit_database(pg_admin_url: str) -> Iterator[str]:
    """A database of this module's own: the last test here tampers with the chain."""
    with fresh_database(pg_admin_url, "audit_e2e") as url:
        migrate(url, today=business_date(utc_now()))
        yield url


@pytest.fixture(scope="module")
def servers(audit_database: str, redis_url: str) -> Iterator[list[ServerProcess]]:
    started = fleet.start_servers(audit_database, redis_url)
    try:
        yield started
    finally:
        fleet.stop_servers(started)


@pytest.fixture(scope="module")
def auditor(audit_database: str) -> str:
    """The API key of this module's AUDITOR, who alone may read the log."""
    return principal_key(audit_database, Role.AUDITOR, principal_id="e2e-auditor")


def taxpayer(database_url: str, name: str, *tax_ids: str) -> tuple[tuple[str, str], ...]:
    """Call metadata of a new TAXPAYER ``name`` acting for ``tax_ids``."""
    return bearer(principal_key(database_url, Role.TAXPAYER, tax_ids=tax_ids, principal_id=name))


async def audited_events(address: str, auditor: str, expected: int, **filters: object) -> list[apb.AuditEvent]:
    """The matching events, once ``expected`` of them are in (recording is asynchronous, by design)."""
    async with fleet.channel(address, auditor) as channel:
        stub = apb_grpc.AuditServiceStub(channel)
        for _ in range(100):
            page = await stub.ListAuditEvents(apb.ListAuditEventsRequest(page_size=1000, **filters), timeout=10)
            if len(page.events) >= expected:
                return list(page.events)
            await asyncio.sleep(0.05)
    raise AssertionError(f"only {len(page.events)} of {expected} audit events arrived")


async def verify(address: str, auditor: str) -> apb.VerifyAuditChainResponse:
    async with fleet.channel(address, auditor) as channel:
        return await apb_grpc.AuditServiceStub(channel).VerifyAuditChain(apb.VerifyAuditChainRequest(), timeout=30)


def cli(server: ServerProcess, auditor: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAPIAO_TARGET": server.address, "FAPIAO_TOKEN": auditor}
    return subprocess.run([str(fapiao_executable()), *args], capture_output=True, text=True, timeout=60, env=env)


async def test_changes_on_every_worker_are_recorded_in_one_chain(
    servers: list[ServerProcess], audit_database: str, auditor: str
) -> None:
    seller, actor = fleet.new_tax_id(), "e2e-seller-a"
    as_seller = taxpayer(audit_database, actor, seller)
    issued = []
    for n, server in enumerate(servers * 2):
        async with fleet.channel(server.address) as channel:
            stub = pb_grpc.InvoiceServiceStub(channel)
            kind = PAPER_GENERAL if n < 3 else E_GENERAL
            response = await stub.IssueInvoice(fleet.issue_request(kind, seller), metadata=as_seller, timeout=10)
            issued.append(response.invoice)
    async with fleet.channel(servers[1].address) as channel:
        stub = pb_grpc.InvoiceServiceStub(channel)
        voided = pb.VoidInvoiceRequest(invoice=fleet.by_id(issued[0].id), request_id=new_request_id())
        await stub.VoidInvoice(voided, metadata=as_seller, timeout=10)
        electronic = pb.VoidInvoiceRequest(invoice=fleet.by_id(issued[3].id), request_id=new_request_id())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.VoidInvoice(electronic, metadata=as_seller, timeout=10)
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        # A read is not a change: it is not recorded.
        await stub.GetInvoice(pb.GetInvoiceRequest(invoice=fleet.by_id(issued[1].id)), metadata=as_seller)

    events = await audited_events(servers[0].address, auditor, 6, actor=actor)
    assert len(events) == 6
    issues = [e for e in events if e.action == SERVICE + "IssueInvoice"]
    assert {e.subject for e in issues} == {f"invoices/{invoice.id}" for invoice in issued}
    assert all(e.outcome == apb.AUDIT_OUTCOME_OK and e.details["request_id"] for e in issues)
    voids = sorted((e for e in events if e.action == SERVICE + "VoidInvoice"), key=lambda e: e.id)
    assert [(e.subject, e.outcome) for e in voids] == [
        (f"invoices/{issued[0].id}", apb.AUDIT_OUTCOME_OK),
        (f"invoices/{issued[3].id}", apb.AUDIT_OUTCOME_FAILED),
    ]
    assert voids[1].details["code"] == "FAILED_PRECONDITION" and voids[1].details["reason"]

    failed = await audited_events(servers[1].address, auditor, 1, actor=actor, outcome=apb.AUDIT_OUTCOME_FAILED)
    assert [e.id for e in failed] == [voids[1].id]

    check = await verify(servers[1].address, auditor)
    assert check.intact and check.events_checked >= 6 and len(check.head_hash) == 32


async def test_a_worker_killed_after_acknowledging_changes_loses_none_of_their_audit_events(
    servers: list[ServerProcess], audit_database: str, redis_url: str, auditor: str
) -> None:
    """SIGKILL (or the OOM killer) right after the answers: the events were written with the changes, so another
    worker chains them, though the killed one's queue is gone."""
    seller, actor = fleet.new_tax_id(), "e2e-seller-killed"
    as_seller = taxpayer(audit_database, actor, seller)
    (doomed,) = fleet.start_servers(audit_database, redis_url, count=1)
    try:
        async with fleet.channel(doomed.address) as channel:
            stub = pb_grpc.InvoiceServiceStub(channel)
            issued = [
                (
                    await stub.IssueInvoice(fleet.issue_request(PAPER_GENERAL, seller), metadata=as_seller, timeout=10)
                ).invoice
                for _ in range(10)
            ]
            voided = pb.VoidInvoiceRequest(invoice=fleet.by_id(issued[0].id), request_id=new_request_id())
            await stub.VoidInvoice(voided, metadata=as_seller, timeout=10)
        assert doomed.process is not None
        doomed.process.kill()  # before its writer's next round (it lingers 0.2 s)
    finally:
        doomed.process.wait() if doomed.process else None
    events = await audited_events(servers[0].address, auditor, 11, actor=actor)
    assert sorted((e.action.rsplit("/", 1)[-1], e.subject) for e in events) == sorted(
        [("IssueInvoice", f"invoices/{i.id}") for i in issued] + [("VoidInvoice", f"invoices/{issued[0].id}")]
    )
    assert all(e.outcome == apb.AUDIT_OUTCOME_OK and e.details["request_id"] and e.actor_role for e in events)
    assert (await verify(servers[0].address, auditor)).intact


async def test_a_worker_killed_after_a_report_and_administration_loses_none_of_their_audit_events(
    servers: list[ServerProcess], audit_database: str, redis_url: str, auditor: str
) -> None:
    """As above for ReportTaxPeriod and for AdminService and AuthService changes: each wrote its event in its own
    transaction, so the killed worker's queue held none of them."""
    seller, reporter, admin_id = fleet.new_tax_id(), "e2e-reporter-killed", "e2e-admin-killed"
    newcomer = f"e2e-newcomer-{uuid.uuid4().hex[:8]}"
    as_reporter = taxpayer(audit_database, reporter, seller)
    as_admin = bearer(principal_key(audit_database, Role.ADMIN, principal_id=admin_id))
    (doomed,) = fleet.start_servers(audit_database, redis_url, count=1)
    try:
        async with fleet.channel(doomed.address) as channel:
            admin, auth = admin_grpc.AdminServiceStub(channel), auth_service_pb2_grpc.AuthServiceStub(channel)
            new = access_pb2.Principal(id=newcomer, role=access_pb2.ROLE_VERIFIER)
            await admin.CreatePrincipal(admin_pb.CreatePrincipalRequest(principal=new), metadata=as_admin)
            renamed = access_pb2.Principal(id=newcomer, display_name="renamed")
            mask = field_mask_pb2.FieldMask(paths=["display_name"])
            await admin.UpdatePrincipal(admin_pb.UpdatePrincipalRequest(principal=renamed, update_mask=mask),
                                        metadata=as_admin)  # fmt: skip
            login = admin_pb.SetLoginRequest(principal_id=newcomer, username=newcomer, password=PASSWORD)
            secret = (await admin.SetLogin(login, metadata=as_admin)).totp_secret
            logged_in = await auth.Login(
                auth_service_pb2.LoginRequest(username=newcomer, password=PASSWORD, totp_code=pyotp.TOTP(secret).now())
            )
            refresh = auth_service_pb2.RefreshTokenRequest(refresh_token=logged_in.tokens.refresh_token)
            refreshed = (await auth.RefreshToken(refresh)).tokens
            await auth.Logout(auth_service_pb2.LogoutRequest(), metadata=bearer(refreshed.access_token))
            await admin.RevokeSessions(admin_pb.RevokeSessionsRequest(principal_id=newcomer), metadata=as_admin)
            key = (await admin.CreateApiKey(admin_pb.CreateApiKeyRequest(principal_id=newcomer), metadata=as_admin)).key
            await admin.RevokeApiKey(admin_pb.RevokeApiKeyRequest(key_id=key.id), metadata=as_admin)
            today = business_date(utc_now())
            report = pb.ReportTaxPeriodRequest(tax_id=seller, year=today.year, month=today.month)
            await pb_grpc.InvoiceServiceStub(channel).ReportTaxPeriod(report, metadata=as_reporter, timeout=10)
        assert doomed.process is not None
        doomed.process.kill()  # before its writer's next round (it lingers 0.2 s)
    finally:
        doomed.process.wait() if doomed.process else None

    def seen(events: list[apb.AuditEvent]) -> list[tuple[str, str]]:
        assert all(e.outcome == apb.AUDIT_OUTCOME_OK for e in events)
        return sorted((e.action.rsplit("/", 1)[-1], e.subject) for e in events)

    principal = f"principals/{newcomer}"
    assert seen(await audited_events(servers[0].address, auditor, 6, actor=admin_id)) == sorted(
        [(name, principal) for name in ("CreatePrincipal", "UpdatePrincipal", "SetLogin", "RevokeSessions")]
        + [("CreateApiKey", principal), ("RevokeApiKey", f"api-keys/{key.id}")]
    )
    assert seen(await audited_events(servers[0].address, auditor, 1, actor=reporter)) == [
        ("ReportTaxPeriod", f"tax-periods/{seller}/{today:%Y-%m}")
    ]
    assert seen(await audited_events(servers[0].address, auditor, 1, actor=newcomer)) == [("Logout", "")]
    for method, subject in (("Login", principal), ("RefreshToken", "")):  # by "anonymous": only these succeeded
        sessions = await audited_events(
            servers[0].address, auditor, 1, action=AUTH + method, outcome=apb.AUDIT_OUTCOME_OK
        )
        assert seen(sessions) == [(method, subject)]
    assert (await verify(servers[0].address, auditor)).intact


async def test_a_bad_listing_is_invalid_argument_naming_the_field(servers: list[ServerProcess], auditor: str) -> None:
    async with fleet.channel(servers[0].address, auditor) as channel:
        stub = apb_grpc.AuditServiceStub(channel)
        for request, field in (
            (apb.ListAuditEventsRequest(page_size=-1), "page_size"),
            (apb.ListAuditEventsRequest(page_token="not a token"), "page_token"),
            (apb.ListAuditEventsRequest(outcome=99), "outcome"),  # type: ignore[arg-type]
            (apb.ListAuditEventsRequest(actor="x" * 1000), "actor"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ListAuditEvents(request, timeout=10)
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert field in FapiaoError.from_rpc_error(refused.value).field_violations[0].field


async def test_the_cli_lists_events_and_verify_names_a_row_altered_in_postgresql(
    servers: list[ServerProcess], audit_database: str, auditor: str
) -> None:
    seller, actor = fleet.new_tax_id(), "e2e-seller-b"
    as_seller = taxpayer(audit_database, actor, seller)
    async with fleet.channel(servers[0].address) as channel:
        stub = pb_grpc.InvoiceServiceStub(channel)
        for _ in range(3):
            await stub.IssueInvoice(fleet.issue_request(PAPER_GENERAL, seller), metadata=as_seller, timeout=10)
    await audited_events(servers[0].address, auditor, 3, actor=actor)

    listed = cli(servers[0], auditor, "audit", "list", "--actor", actor, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 3 and {row["action"] for row in rows} == {SERVICE + "IssueInvoice"}
    table = cli(servers[0], auditor, "audit", "list", "--actor", actor, "--outcome", "ok")
    assert table.returncode == 0 and rows[0]["subject"] in table.stdout

    intact = cli(servers[1], auditor, "audit", "verify")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "intact" in intact.stdout

    target = int(rows[1]["id"])
    with psycopg.connect(audit_database) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")  # past the append-only trigger, as a superuser
        conn.execute("UPDATE audit_events SET actor = 'someone-else' WHERE id = %s", (target,))

    check = await verify(servers[0].address, auditor)
    assert not check.intact and check.first_broken_event_id == target
    broken = cli(servers[1], auditor, "audit", "verify")
    assert broken.returncode == 8, broken.stdout + broken.stderr
    assert f"broken at event {target}" in broken.stdout
    as_json = cli(servers[1], auditor, "audit", "verify", "--json")
    assert as_json.returncode == 8 and json.loads(as_json.stdout)["first_broken_event_id"] == str(target)


async def test_refusals_and_logins_are_recorded(
    servers: list[ServerProcess], audit_database: str, auditor: str
) -> None:
    """Turned away at the gate (no valid credentials, a role the policy refuses) or by a use case (the wrong party),
    and a failed login: each is in the log with who tried, what, and why."""
    seller = fleet.new_tax_id()
    verifier = principal_key(audit_database, Role.VERIFIER, principal_id="e2e-nosy-verifier")
    stranger = taxpayer(audit_database, "e2e-stranger", fleet.new_tax_id())
    async with fleet.channel(servers[0].address) as channel:
        stub = pb_grpc.InvoiceServiceStub(channel)
        issued = (
            await stub.IssueInvoice(
                fleet.issue_request(PAPER_GENERAL, seller), metadata=taxpayer(audit_database, "e2e-owner", seller)
            )
        ).invoice
        void = pb.VoidInvoiceRequest(invoice=fleet.by_id(issued.id), request_id=new_request_id())
        for metadata, code in (
            (bearer(verifier), grpc.StatusCode.PERMISSION_DENIED),
            (bearer("fpk_0000000000000000_" + "x" * 43), grpc.StatusCode.UNAUTHENTICATED),
            (stranger, grpc.StatusCode.NOT_FOUND),  # another tenant's invoice does not exist for it
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.VoidInvoice(void, metadata=metadata, timeout=10)
            assert refused.value.code() is code
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await auth_service_pb2_grpc.AuthServiceStub(channel).Login(
                auth_service_pb2.LoginRequest(username="nobody", password="wrong password", totp_code="123456")
            )
        assert failed.value.code() is grpc.StatusCode.UNAUTHENTICATED

    denied = await audited_events(servers[0].address, auditor, 1, actor="e2e-nosy-verifier")
    assert [(e.action, e.outcome, e.actor_role) for e in denied] == [
        (SERVICE + "VoidInvoice", apb.AUDIT_OUTCOME_DENIED, "VERIFIER")
    ]
    assert denied[0].details["reason"] == "ROLE_NOT_ALLOWED"
    # Unauthenticated ones only: logins and refreshes that succeed are by "anonymous" too.
    anonymous = await audited_events(
        servers[0].address, auditor, 2, actor="anonymous", outcome=apb.AUDIT_OUTCOME_UNAUTHENTICATED
    )
    assert {(e.action, e.outcome) for e in anonymous} == {
        (SERVICE + "VoidInvoice", apb.AUDIT_OUTCOME_UNAUTHENTICATED),
        ("/fapiao.v1.AuthService/Login", apb.AUDIT_OUTCOME_UNAUTHENTICATED),
    }
    assert next(e for e in anonymous if e.action.endswith("Login")).subject == "users/nobody"
    strangers = await audited_events(servers[0].address, auditor, 1, actor="e2e-stranger")
    assert [(e.action, e.outcome, e.details["code"]) for e in strangers] == [
        (SERVICE + "VoidInvoice", apb.AUDIT_OUTCOME_FAILED, "NOT_FOUND")
    ]
