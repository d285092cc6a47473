"""The Fapiao client SDK: typed sync and asyncio clients for the register's gRPC services.

Needs only grpcio, protobuf and the googleapis common protos; the server is not imported.
"""

from .aio_client import AsyncVerificationClient
from .channel import CALLER_HEADER, DEFAULT_TARGET
from .errors import FapiaoError, FieldViolation
from .money import fen_to_yuan, yuan_to_fen
from .requests import batch_item, verify_request
from .sync_client import VerificationClient

__all__ = [
    "CALLER_HEADER",
    "DEFAULT_TARGET",
    "AsyncVerificationClient",
    "FapiaoError",
    "FieldViolation",
    "VerificationClient",
    "batch_item",
    "fen_to_yuan",
    "verify_request",
    "yuan_to_fen",
]
