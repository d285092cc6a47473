"""Channels to the register: retries for transient failures, round-robin across a fleet's addresses."""

from __future__ import annotations

import json

DEFAULT_TARGET = "127.0.0.1:50051"
VERIFICATION_SERVICE = "fapiao.v1.VerificationService"
INVOICE_SERVICE = "fapiao.v1.InvoiceService"
AUDIT_SERVICE = "fapiao.v1.AuditService"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

# Changes carry a request id that the client fills in before the first attempt, and gRPC resends the same bytes,
# so a retry returns the first attempt's result instead of changing anything twice (AIP-155). ABORTED means a
# concurrent change to the same invoice won, or the first attempt with this id is still running: retry as is.
INVOICE_CHANGES = (
    "IssueInvoice", "VoidInvoice", "CertifyInvoice", "ReportTaxPeriod", "CreateRedLetterForm",
    "ConfirmRedLetterForm", "RejectRedLetterForm", "WithdrawRedLetterForm", "IssueRedInvoice",
)  # fmt: skip
INVOICE_READS = (
    "GetInvoice", "ListInvoices", "GetAllowedActions", "ListInvoiceEvents", "GetRedLetterForm", "ListRedLetterForms",
)  # fmt: skip


def _retry(attempts: int, codes: list[str]) -> dict[str, object]:
    return {
        "maxAttempts": attempts,
        "initialBackoff": "0.1s",
        "maxBackoff": "1s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": codes,
    }


def _methods(service: str, names: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"service": service, "method": name} for name in names]


def service_config(*, retry_when_asked: bool = True) -> str:
    """Verification and reads are safe to repeat (a retry is one more recorded verification, never a changed
    invoice), so UNAVAILABLE is retried. Streams are not: a batch resumes by index, a watch by its cursor.
    round_robin spreads the calls of a long-lived client over every address a DNS name resolves to.

    ``retry_when_asked``: RESOURCE_EXHAUSTED is retried too, after the delay the register asks for. It refuses so
    (an overloaded worker, a caller over its rate) before doing anything, so any call is safe to resend; it sends
    that delay as gRPC's retry pushback, which gRPC waits out instead of its own backoff, and a refusal that
    lifts only much later (the daily verifications of one invoice) comes with "do not retry". Throttling stops
    retrying altogether while most calls fail, so a fleet in trouble is not sent each call several times."""
    busy = ["RESOURCE_EXHAUSTED"] if retry_when_asked else []
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "methodConfig": [
                {
                    "name": [
                        *_methods(VERIFICATION_SERVICE, ("VerifyInvoice", "VerifyQrCode", "ListVerificationRecords")),
                        *_methods(INVOICE_SERVICE, INVOICE_READS),
                        *_methods(AUDIT_SERVICE, ("ListAuditEvents", "VerifyAuditChain")),
                    ],
                    "retryPolicy": _retry(3, ["UNAVAILABLE", *busy]),
                },
                {
                    "name": _methods(INVOICE_SERVICE, INVOICE_CHANGES),
                    "retryPolicy": _retry(5, ["UNAVAILABLE", "ABORTED", *busy]),
                },
            ],
            "retryThrottling": {"maxTokens": 100, "tokenRatio": 1.0},
        }
    )


def channel_options(*, retry_when_asked: bool = True) -> list[tuple[str, object]]:
    return [
        ("grpc.service_config", service_config(retry_when_asked=retry_when_asked)),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        # gRPC keeps a request for retrying only up to this size (256 KiB by default); a large invoice must fit.
        ("grpc.per_rpc_retry_buffer_size", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        # A restarted worker or a rolling deploy should cost a fraction of a second, not gRPC's default 1-120 s.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 5_000),
    ]
