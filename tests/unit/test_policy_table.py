"""The policy table against what the server serves: every RPC of every service it registers (ours, health and
reflection) has a row, so no method is refused to everyone by omission, and no row names a method nobody serves,
so the table stays a true picture of who may call what."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from fapiao.v1 import (
    admin_service_pb2,
    audit_service_pb2,
    auth_service_pb2,
    invoice_service_pb2,
    register_key_service_pb2,
    report_service_pb2,
    verification_service_pb2,
)
from fapiao_server.domain.access import Role
from fapiao_server.transport.policy import OPEN, POLICY
from fapiao_server.transport.server import SERVICE_NAMES, reflection_v1_file

# The files of every service create_server adds, health and reflection (both versions) included.
_SERVED_FILES = (
    verification_service_pb2.DESCRIPTOR,
    invoice_service_pb2.DESCRIPTOR,
    auth_service_pb2.DESCRIPTOR,
    admin_service_pb2.DESCRIPTOR,
    register_key_service_pb2.DESCRIPTOR,
    audit_service_pb2.DESCRIPTOR,
    report_service_pb2.DESCRIPTOR,
    health_pb2.DESCRIPTOR,
    reflection_pb2.DESCRIPTOR,
    reflection_v1_file(),
)
_INFRASTRUCTURE = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
)


def served_methods() -> set[str]:
    """Full method names ("/package.Service/Method") of every RPC the server registers."""
    services = {service.full_name: service for file in _SERVED_FILES for service in file.services_by_name.values()}
    registered = (*SERVICE_NAMES, *_INFRASTRUCTURE)
    assert set(registered) <= set(services), "a registered service has no generated descriptor here"
    return {f"/{name}/{method.name}" for name in registered for method in services[name].methods}


def test_the_served_methods_are_what_we_think() -> None:
    """Guards the helper: an empty or partial set would make the two tests below pass for nothing."""
    methods = served_methods()
    assert len(SERVICE_NAMES) == 7
    assert {
        "/fapiao.v1.InvoiceService/VoidInvoice",
        "/fapiao.v1.VerificationService/BatchVerifyInvoices",
        "/fapiao.v1.AuditService/ListAuditEvents",
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    } <= methods
    assert len(methods) == 42


def test_every_served_method_has_a_row() -> None:
    missing = served_methods() - set(POLICY)
    assert not missing, f"refused to everyone because the policy table lacks them: {sorted(missing)}"


def test_no_row_names_a_method_nobody_serves() -> None:
    stale = set(POLICY) - served_methods()
    assert not stale, f"rows for methods the server does not serve: {sorted(stale)}"


def test_only_logins_health_and_reflection_are_open() -> None:
    """Reflection describes only the public contract (protos/ ships it) and tools do not send it the call's
    credentials unless told to, so it is open too."""
    opened = {method for method, roles in POLICY.items() if roles == OPEN}
    assert opened == {
        "/fapiao.v1.AuthService/Login",
        "/fapiao.v1.AuthService/RefreshToken",
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.health.v1.Health/List",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    }


@pytest.mark.parametrize(
    ("method", "role", "allowed"),
    [
        ("/fapiao.v1.InvoiceService/VoidInvoice", Role.VERIFIER, False),
        ("/fapiao.v1.InvoiceService/VoidInvoice", Role.TAX_OFFICER, False),
        ("/fapiao.v1.InvoiceService/VoidInvoice", Role.TAXPAYER, True),
        ("/fapiao.v1.InvoiceService/GetInvoice", Role.AUDITOR, False),
        ("/fapiao.v1.InvoiceService/GetInvoice", Role.VERIFIER, False),
        ("/fapiao.v1.InvoiceService/WatchInvoices", Role.TAX_OFFICER, True),
        ("/fapiao.v1.AuditService/ListAuditEvents", Role.ADMIN, False),
        ("/fapiao.v1.AuditService/ListAuditEvents", Role.AUDITOR, True),
        ("/fapiao.v1.AdminService/CreatePrincipal", Role.TAXPAYER, False),
        ("/fapiao.v1.VerificationService/VerifyInvoice", Role.AUDITOR, False),
    ],
)
def test_rows_written_out_by_hand(method: str, role: Role, allowed: bool) -> None:
    """A few rows written out by hand from the access rules (docs/security.md), so a table edited wholesale cannot
    slip through."""
    assert (role in POLICY[method]) is allowed
