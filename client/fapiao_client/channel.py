"""Channels to the register: retries for transient failures, round-robin across a fleet's addresses."""

from __future__ import annotations

import json

DEFAULT_TARGET = "127.0.0.1:50051"
# Names the caller until authentication lands; the register keeps each caller's history apart.
CALLER_HEADER = "x-fapiao-caller"
SERVICE = "fapiao.v1.VerificationService"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

# Verification is safe to repeat (a retry is one more recorded verification, never a changed invoice), so
# UNAVAILABLE is retried; streams are not (the caller resumes by index). round_robin spreads the calls of a
# long-lived client over every address a DNS name resolves to.
SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [
                    {"service": SERVICE, "method": "VerifyInvoice"},
                    {"service": SERVICE, "method": "VerifyQrCode"},
                    {"service": SERVICE, "method": "ListVerificationRecords"},
                ],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)


def channel_options() -> list[tuple[str, object]]:
    return [
        ("grpc.service_config", SERVICE_CONFIG),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        # A restarted worker or a rolling deploy should cost a fraction of a second, not gRPC's default 1-120 s.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 5_000),
    ]


def caller_metadata(caller: str | None) -> tuple[tuple[str, str], ...]:
    return ((CALLER_HEADER, caller),) if caller else ()
