"""Building the grpc.aio server: our servicers plus health, reflection, limits and keepalive."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from fapiao.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    invoice_service_pb2,
    invoice_service_pb2_grpc,
    verification_service_pb2,
    verification_service_pb2_grpc,
)

from .audit_servicer import AuditServicer
from .invoice_servicer import InvoiceServicer
from .malformed import RejectMalformedRequests
from .verification_servicer import VerificationServicer

SERVICE_NAMES = (
    verification_service_pb2.DESCRIPTOR.services_by_name["VerificationService"].full_name,
    invoice_service_pb2.DESCRIPTOR.services_by_name["InvoiceService"].full_name,
    audit_service_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
)


def server_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # Workers of one host share the port; the kernel spreads connections across them.
        ("grpc.so_reuseport", 1),
        # Recycle connections now and then so clients rebalance when the fleet grows or a worker restarts.
        ("grpc.max_connection_age_ms", 10 * 60 * 1000),
        ("grpc.max_connection_age_grace_ms", 30 * 1000),
        ("grpc.keepalive_time_ms", 60 * 1000),
        ("grpc.keepalive_timeout_ms", 20 * 1000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10 * 1000),
    ]


def create_server(
    address: str,
    verification: VerificationServicer,
    invoices: InvoiceServicer,
    health_servicer: health.aio.HealthServicer,
    audit: AuditServicer,
    *,
    max_message_bytes: int = 4 * 1024 * 1024,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    audit_trail: grpc.aio.ServerInterceptor | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A server bound to ``address`` (port 0 picks a free port) and not yet started; returns it and its port.
    ``audit_trail`` runs innermost, after requests are parsed, so it records messages rather than bytes."""
    innermost = [RejectMalformedRequests(), *([audit_trail] if audit_trail else [])]
    server = grpc.aio.server(interceptors=[*interceptors, *innermost], options=server_options(max_message_bytes))
    verification_service_pb2_grpc.add_VerificationServiceServicer_to_server(verification, server)
    invoice_service_pb2_grpc.add_InvoiceServiceServicer_to_server(invoices, server)
    audit_service_pb2_grpc.add_AuditServiceServicer_to_server(audit, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not listen on {address}")
    return server, port
