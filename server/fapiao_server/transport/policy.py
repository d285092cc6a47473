"""Who may call what: one table, read top to bottom. A method missing from it is refused to everyone, and a
test checks every RPC of every service we serve is listed.

What a permitted caller may then see or change is narrowed further by the use cases and in the storage
queries (tenant scoping): a TAXPAYER reads its own invoices only, a TAX_OFFICER those of its regions."""

from __future__ import annotations

from types import MappingProxyType

from ..domain.access import Role

VERIFIER, TAXPAYER, TAX_OFFICER, AUDITOR, ADMIN = (
    Role.VERIFIER, Role.TAXPAYER, Role.TAX_OFFICER, Role.AUDITOR, Role.ADMIN,
)  # fmt: skip
EVERYONE = frozenset(Role)
# Callable without credentials: logging in, the health checks balancers and orchestrators probe, and reflection.
OPEN = frozenset[Role]()

_VERIFICATION = "/fapiao.v1.VerificationService/"
_INVOICES = "/fapiao.v1.InvoiceService/"
_AUTH = "/fapiao.v1.AuthService/"
_ADMIN = "/fapiao.v1.AdminService/"
_AUDIT = "/fapiao.v1.AuditService/"
_REPORTS = "/fapiao.v1.ReportService/"

_TABLE: dict[str, frozenset[Role]] = {
    # Verification (发票查验): anyone who verifies; history is each caller's own.
    _VERIFICATION + "VerifyInvoice":            frozenset({VERIFIER, TAXPAYER, TAX_OFFICER}),
    _VERIFICATION + "VerifyQrCode":             frozenset({VERIFIER, TAXPAYER, TAX_OFFICER}),
    _VERIFICATION + "BatchVerifyInvoices":      frozenset({VERIFIER, TAXPAYER, TAX_OFFICER}),
    _VERIFICATION + "ListVerificationRecords":  frozenset({VERIFIER, TAXPAYER, TAX_OFFICER}),
    # Changes: taxpayers, for their own tax ids (the use case checks which party the caller is).
    _INVOICES + "IssueInvoice":                 frozenset({TAXPAYER}),
    _INVOICES + "VoidInvoice":                  frozenset({TAXPAYER}),
    _INVOICES + "CertifyInvoice":               frozenset({TAXPAYER}),
    _INVOICES + "ReportTaxPeriod":              frozenset({TAXPAYER}),
    _INVOICES + "CreateRedLetterForm":          frozenset({TAXPAYER}),
    _INVOICES + "ConfirmRedLetterForm":         frozenset({TAXPAYER}),
    _INVOICES + "RejectRedLetterForm":          frozenset({TAXPAYER}),
    _INVOICES + "WithdrawRedLetterForm":        frozenset({TAXPAYER}),
    _INVOICES + "IssueRedInvoice":              frozenset({TAXPAYER}),
    # Reads and watches: taxpayers of their own invoices, tax officers of their regions.
    _INVOICES + "GetInvoice":                   frozenset({TAXPAYER, TAX_OFFICER}),
    _INVOICES + "ListInvoices":                 frozenset({TAXPAYER, TAX_OFFICER}),
    _INVOICES + "GetAllowedActions":            frozenset({TAXPAYER, TAX_OFFICER}),
    _INVOICES + "ListInvoiceEvents":            frozenset({TAXPAYER, TAX_OFFICER}),
    _INVOICES + "WatchInvoices":                frozenset({TAXPAYER, TAX_OFFICER}),
    _INVOICES + "GetRedLetterForm":             frozenset({TAXPAYER, TAX_OFFICER}),
    _INVOICES + "ListRedLetterForms":           frozenset({TAXPAYER, TAX_OFFICER}),
    # Reporting: taxpayers on their own tax ids, tax officers across their regions.
    _REPORTS + "SummarizeInvoices":             frozenset({TAXPAYER, TAX_OFFICER}),
    # Sessions.
    _AUTH + "Login":                            OPEN,
    _AUTH + "RefreshToken":                     OPEN,
    _AUTH + "Logout":                           EVERYONE,
    _AUTH + "GetCaller":                        EVERYONE,
    # Administration.
    _ADMIN + "CreatePrincipal":                 frozenset({ADMIN}),
    _ADMIN + "GetPrincipal":                    frozenset({ADMIN}),
    _ADMIN + "ListPrincipals":                  frozenset({ADMIN}),
    _ADMIN + "UpdatePrincipal":                 frozenset({ADMIN}),
    _ADMIN + "SetLogin":                        frozenset({ADMIN}),
    _ADMIN + "CreateApiKey":                    frozenset({ADMIN}),
    _ADMIN + "ListApiKeys":                     frozenset({ADMIN}),
    _ADMIN + "RevokeApiKey":                    frozenset({ADMIN}),
    _ADMIN + "RevokeSessions":                  frozenset({ADMIN}),
    # The audit log: auditors only, administrators included in nothing here.
    _AUDIT + "ListAuditEvents":                 frozenset({AUDITOR}),
    _AUDIT + "VerifyAuditChain":                frozenset({AUDITOR}),
    # The register's public signing keys: anyone it lets in may check what it signed.
    "/fapiao.v1.RegisterKeyService/ListSigningKeys": EVERYONE,
    # Infrastructure: probes need no credentials (balancers have none). Nor does reflection: it describes only
    # the public contract, which ships in protos/ anyway, and tools send a call's headers to reflection only when
    # told to (buf curl's --reflect-header), so with credentials required `buf curl -H "authorization: Bearer ..."`
    # failed before the call with a misleading 'failed to find service named ... in schema' or 'you are not
    # authenticated. Set the BUF_TOKEN ...'. It still takes a place among the worker's calls (overload.py).
    "/grpc.health.v1.Health/Check":             OPEN,
    "/grpc.health.v1.Health/Watch":             OPEN,
    "/grpc.health.v1.Health/List":              OPEN,
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      OPEN,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": OPEN,
}  # fmt: skip

POLICY = MappingProxyType(_TABLE)
# Methods whose every call (allowed or refused) goes to the audit log: the changes, logins and administration.
AUDITED = frozenset(
    method
    for method in _TABLE
    if method.startswith((_ADMIN, _AUTH)) or (method.startswith(_INVOICES) and _TABLE[method] == frozenset({TAXPAYER}))
) - {_AUTH + "GetCaller"}
# Methods whose refusals past the gate (PERMISSION_DENIED, UNAUTHENTICATED) are audited too: the reads and watches
# a use case may refuse. The gate records its own refusals of every method (transport.audit_trail.refusal_recorder).
REFUSALS_AUDITED = frozenset(
    method for method in _TABLE if method.startswith((_INVOICES, _AUDIT, _REPORTS)) and method not in AUDITED
)


def allowed_roles(method: str) -> frozenset[Role] | None:
    """The roles that may call ``method``; OPEN for no credentials needed; None for a method not in the table."""
    return POLICY.get(method)
