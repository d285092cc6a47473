"""The Fapiao client SDK: typed sync and asyncio clients for the register's gRPC services.

Needs only grpcio, protobuf and the googleapis common protos; the server is not imported.
"""

from .aio_client import AsyncVerificationClient
from .aio_invoice_client import AsyncInvoiceClient
from .audit_client import AuditClient
from .channel import CALLER_HEADER, DEFAULT_TARGET
from .drafts import DraftError, issue_request
from .errors import FapiaoError, FieldViolation
from .invoice_client import InvoiceClient
from .money import fen_to_yuan, rate_to_basis_points, yuan_to_fen
from .requests import batch_item, invoice_selector, verify_request
from .sync_client import VerificationClient
from .watching import AsyncInvoiceWatch, InvoiceWatch

__all__ = [
    "CALLER_HEADER",
    "DEFAULT_TARGET",
    "AsyncInvoiceClient",
    "AsyncInvoiceWatch",
    "AsyncVerificationClient",
    "AuditClient",
    "DraftError",
    "FapiaoError",
    "FieldViolation",
    "InvoiceClient",
    "InvoiceWatch",
    "VerificationClient",
    "batch_item",
    "fen_to_yuan",
    "invoice_selector",
    "issue_request",
    "rate_to_basis_points",
    "verify_request",
    "yuan_to_fen",
]
