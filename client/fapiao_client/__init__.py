"""The Fapiao client SDK: typed sync and asyncio clients for the register's gRPC services.

Needs only grpcio, protobuf, the googleapis common protos and cryptography (to check the register's signatures);
the server is not imported.
"""

import os

# gRPC's core reads this once, when grpc is first imported. Unset, it writes INFO lines to the application's
# standard error (every failed TLS handshake, for one), which drown what the application says about the failure
# (the `fapiao` command's one-line explanation). An application that wants them sets GRPC_VERBOSITY itself.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from .access_client import AdminClient, AuthClient
from .aio_client import AsyncVerificationClient
from .aio_invoice_client import AsyncInvoiceClient
from .audit_client import AuditClient
from .channel import DEFAULT_TARGET
from .credentials import TokenSource
from .drafts import DraftError, issue_request
from .errors import FapiaoError, FieldViolation, QuotaViolation
from .invoice_client import InvoiceClient
from .key_client import AsyncRegisterKeyClient, RegisterKeyClient
from .money import fen_to_yuan, rate_to_basis_points, yuan_to_fen
from .report_client import AsyncReportClient, ReportClient
from .requests import batch_item, invoice_selector, verify_request
from .signatures import (
    PublicKeys,
    SignatureError,
    canonical_invoice,
    load_receipt,
    save_receipt,
    verify_invoice_signature,
    verify_receipt,
)
from .sync_client import VerificationClient
from .watching import AsyncInvoiceWatch, InvoiceWatch

__all__ = [
    "DEFAULT_TARGET",
    "AdminClient",
    "AsyncInvoiceClient",
    "AsyncInvoiceWatch",
    "AsyncRegisterKeyClient",
    "AsyncReportClient",
    "AsyncVerificationClient",
    "AuditClient",
    "AuthClient",
    "DraftError",
    "FapiaoError",
    "FieldViolation",
    "InvoiceClient",
    "InvoiceWatch",
    "PublicKeys",
    "QuotaViolation",
    "RegisterKeyClient",
    "ReportClient",
    "SignatureError",
    "TokenSource",
    "VerificationClient",
    "batch_item",
    "canonical_invoice",
    "fen_to_yuan",
    "invoice_selector",
    "issue_request",
    "load_receipt",
    "rate_to_basis_points",
    "save_receipt",
    "verify_invoice_signature",
    "verify_receipt",
    "verify_request",
    "yuan_to_fen",
]
