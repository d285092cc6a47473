"""Building the grpc.aio server: our servicers plus health, reflection, the access gate, limits, keepalive and
its listeners (plaintext for local use, TLS, and mutual TLS for government systems)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from fapiao.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    audit_service_pb2,
    audit_service_pb2_grpc,
    auth_service_pb2,
    auth_service_pb2_grpc,
    invoice_service_pb2,
    invoice_service_pb2_grpc,
    register_key_service_pb2,
    register_key_service_pb2_grpc,
    report_service_pb2,
    report_service_pb2_grpc,
    verification_service_pb2,
    verification_service_pb2_grpc,
)

from .access_gate import AccessGate
from .admin_servicer import AdminServicer
from .admission import AdmitCalls
from .audit_servicer import AuditServicer
from .auth_servicer import AuthServicer
from .invoice_servicer import InvoiceServicer
from .key_servicer import RegisterKeyServicer
from .overload import MAX_IN_FLIGHT, MAX_QUEUED, MAX_WAIT_MS, CallLimiter
from .report_servicer import ReportServicer
from .verification_servicer import VerificationServicer

MAX_PENDING_IN_CORE = 100_000
SERVICE_NAMES = (
    verification_service_pb2.DESCRIPTOR.services_by_name["VerificationService"].full_name,
    invoice_service_pb2.DESCRIPTOR.services_by_name["InvoiceService"].full_name,
    auth_service_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name,
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    register_key_service_pb2.DESCRIPTOR.services_by_name["RegisterKeyService"].full_name,
    audit_service_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
    report_service_pb2.DESCRIPTOR.services_by_name["ReportService"].full_name,
)
# Server reflection under both names tools ask for: grpc.reflection.v1 is the current one (buf curl and grpcurl
# try it first; gRPC Java has deprecated v1alpha), v1alpha the one older tools know. grpcio-reflection serves only
# v1alpha. The two protocols are the same messages with the same field numbers under another package,
# so the one servicer answers both, and v1's descriptor is v1alpha's renamed.
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
REFLECTION_V1ALPHA = reflection.SERVICE_NAME
_REFLECTION_V1_FILE = "grpc/reflection/v1/reflection.proto"


@functools.cache
def reflection_v1_file() -> descriptor.FileDescriptor:
    """grpc.reflection.v1's file, added to the default descriptor pool (what reflection describes) so a client
    that asks reflection about reflection gets an answer for v1 too. Built once per process from v1alpha's; taken
    as it is if something else (a later grpcio-reflection) has added it."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindFileByName(_REFLECTION_V1_FILE)
    except KeyError:
        pass
    alpha, v1 = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = _REFLECTION_V1_FILE, v1.strip(".")
    proto.options.Clear()  # v1alpha's are its own: deprecated, and its Java and Go packages
    proto.options.java_package, proto.options.java_multiple_files = "io.grpc.reflection.v1", True
    proto.options.java_outer_classname = "ServerReflectionProto"
    proto.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):  # message fields only: a scalar with a type_name is invalid
                field.type_name = field.type_name.replace(alpha, v1)
    for method in proto.service[0].method:
        method.input_type = method.input_type.replace(alpha, v1)
        method.output_type = method.output_type.replace(alpha, v1)
    pool.Add(proto)
    return pool.FindFileByName(_REFLECTION_V1_FILE)


def _add_reflection(server: grpc.aio.Server, service_names: Sequence[str]) -> None:
    reflection_v1_file()
    servicer = reflection.aio.ReflectionServicer((*service_names, REFLECTION_V1, REFLECTION_V1ALPHA))
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": v1})])


@dataclass(frozen=True, slots=True)
class Servicers:
    verification: VerificationServicer
    invoices: InvoiceServicer
    auth: AuthServicer
    admin: AdminServicer
    keys: RegisterKeyServicer
    audit: AuditServicer
    reports: ReportServicer


@dataclass(frozen=True, slots=True)
class Listener:
    """An address to listen on; plaintext when ``credentials`` is None."""

    address: str
    credentials: grpc.ServerCredentials | None = None


def server_credentials(
    certificate_chain: bytes, private_key: bytes, client_ca: bytes | None = None
) -> grpc.ServerCredentials:
    """TLS with the given certificate; with ``client_ca``, mutual TLS: only clients whose certificate that CA
    signed may connect, and the certificate's common name says which principal they are."""
    return grpc.ssl_server_credentials(
        [(private_key, certificate_chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def server_options(max_message_bytes: int, *, share_port: bool = False) -> list[tuple[str, int]]:
    """``share_port``: the workers of one `fapiao serve` share its port and the kernel spreads connections across
    them. Only they may: with it, any process of the same user could bind the port too and take a share of the
    connections (supervisor.claim_port keeps other registers out)."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.so_reuseport", int(share_port)),
        # Calls gRPC core holds until the worker takes them. Past its default thousand it cancels calls, which the
        # caller reads as CANCELLED (its own giving up) and does not retry. Here the worker's admission control
        # (overload.py) answers every call instead, and a call that waits too long meets its own deadline.
        ("grpc.server.max_pending_requests", MAX_PENDING_IN_CORE),
        ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_IN_CORE),
        # Recycle connections now and then so clients rebalance when the fleet grows or a worker restarts.
        ("grpc.max_connection_age_ms", 10 * 60 * 1000),
        ("grpc.max_connection_age_grace_ms", 30 * 1000),
        ("grpc.keepalive_time_ms", 60 * 1000),
        ("grpc.keepalive_timeout_ms", 20 * 1000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10 * 1000),
    ]


def create_server(
    listeners: Sequence[Listener],
    servicers: Servicers,
    health_servicer: health.aio.HealthServicer,
    *,
    gate: AccessGate | None,
    max_message_bytes: int = 4 * 1024 * 1024,
    share_port: bool = False,
    limiter: CallLimiter | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    audit_trail: grpc.aio.ServerInterceptor | None = None,
) -> tuple[grpc.aio.Server, list[int]]:
    """A server bound to every listener (port 0 picks a free port) and not yet started; returns it and the bound
    ports, in the listeners' order. ``audit_trail`` runs innermost, after the access gate has named the caller
    and the request is parsed, so it records who asked for what rather than bytes."""
    if limiter is None:
        limiter = CallLimiter(max_in_flight=MAX_IN_FLIGHT, max_queued=MAX_QUEUED, max_wait=MAX_WAIT_MS / 1000)
    innermost = [AdmitCalls(gate, limiter), *([audit_trail] if audit_trail else [])]
    server = grpc.aio.server(
        interceptors=[*interceptors, *innermost], options=server_options(max_message_bytes, share_port=share_port)
    )
    verification_service_pb2_grpc.add_VerificationServiceServicer_to_server(servicers.verification, server)
    invoice_service_pb2_grpc.add_InvoiceServiceServicer_to_server(servicers.invoices, server)
    auth_service_pb2_grpc.add_AuthServiceServicer_to_server(servicers.auth, server)
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(servicers.admin, server)
    register_key_service_pb2_grpc.add_RegisterKeyServiceServicer_to_server(servicers.keys, server)
    audit_service_pb2_grpc.add_AuditServiceServicer_to_server(servicers.audit, server)
    report_service_pb2_grpc.add_ReportServiceServicer_to_server(servicers.reports, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    _add_reflection(server, (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name))
    ports = []
    for listener in listeners:
        if listener.credentials is None:
            port = server.add_insecure_port(listener.address)
        else:
            port = server.add_secure_port(listener.address, listener.credentials)
        if port == 0:
            raise OSError(f"could not listen on {listener.address}")
        ports.append(port)
    return server, ports
