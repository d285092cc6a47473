"""Channels to the register: its address (the default port), retries for transient failures, round-robin across a
fleet's addresses."""

from __future__ import annotations

import ipaddress
import json

# The port `fapiao serve` listens on unless told otherwise; a target naming no port means it. (gRPC itself would
# dial 443, the https port, which no register listens on unless it is behind a balancer there.)
DEFAULT_PORT = 50051
DEFAULT_TARGET = f"127.0.0.1:{DEFAULT_PORT}"
# gRPC target forms that carry their own syntax (a resolver scheme, a socket path): passed on as they are.
_SCHEMES = ("dns:", "unix:", "unix-abstract:", "vsock:", "ipv4:", "ipv6:", "xds:")
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


def with_default_port(target: str) -> str:
    """``target`` with the register's default port when it names none: ``host`` -> ``host:50051``,
    ``[::1]`` -> ``[::1]:50051``, a bare IPv6 literal ``::1`` -> ``[::1]:50051``; ``host:port``, ``[v6]:port`` and
    scheme targets (``dns:///host:443``, ``unix:/path``) unchanged. ValueError for what cannot be a target."""
    text = target.strip()
    example = f"HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT}, fapiao.example.com or [::1]:{DEFAULT_PORT}"
    if not text:
        raise ValueError(f"the target is empty; give {example}")
    if text.startswith(_SCHEMES):
        return text
    if text.startswith("["):
        address, bracket, rest = text[1:].partition("]")
        if not bracket or not _is_ipv6(address):
            raise ValueError(f"{target!r} is not an IPv6 address in brackets, e.g. [::1]:{DEFAULT_PORT}")
        if not rest:
            return f"[{address}]:{DEFAULT_PORT}"
        if rest.startswith(":") and rest[1:].isdigit():
            return text
        raise ValueError(f"{target!r}: after the bracket comes :PORT, e.g. [{address}]:{DEFAULT_PORT}")
    if text.count(":") > 1:  # IPv6 without brackets: its last group cannot be told from a port
        if _is_ipv6(text):
            return f"[{text}]:{DEFAULT_PORT}"
        raise ValueError(f"{target!r}: write an IPv6 address in brackets, e.g. [::1]:{DEFAULT_PORT}")
    host, colon, port = text.rpartition(":")
    if not colon:
        return f"{text}:{DEFAULT_PORT}"
    if not host or not port.isdigit():
        raise ValueError(f"{target!r} is not {example}")
    return text


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])  # a zone (fe80::1%eth0) is not part of the address
    except ValueError:
        return False
    return True


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
                # Every other method (sessions, administration, reports, keys): only a refusal that asks to be
                # retried, since a change refused so was not made, while one cut off (UNAVAILABLE) may have been.
                *([{"name": [{}], "retryPolicy": _retry(3, busy)}] if busy else []),
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
