"""The logs of a real `fapiao serve` fleet, tracing on: JSON lines that carry the trace, method and principal of
the call they were written in, and no credential or personal detail, even at DEBUG."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from fapiao.v1 import audit_service_pb2, audit_service_pb2_grpc, invoice_pb2, verification_service_pb2
from fapiao.v1 import invoice_service_pb2_grpc as invoice_grpc
from fapiao.v1 import verification_service_pb2_grpc as verification_grpc
from fapiao_server.domain.access import Role
from tests.support.access import bearer, principal_key
from tests.support.invoices import issue_request, new_request_id, tax_id
from tests.support.server import ServerProcess, log_records

pytestmark = pytest.mark.slow

VERIFY = "/fapiao.v1.VerificationService/VerifyInvoice"
LIST_AUDIT_EVENTS = "/fapiao.v1.AuditService/ListAuditEvents"
# A well-formed API key the register never issued: its secret part must not reach the log.
FORGED_KEY = "fpk_0123456789abcdef_" + "S3cretPartOfAForgedKeyThatMustNotBeLogged12"
# An invoice's personal details, which no log line may repeat.
PERSONAL = invoice_pb2.Party(
    name="王小明个体工商户",
    address="北京市海淀区中关村大街27号",
    phone="13912345678",
    bank_name="中国工商银行北京海淀支行",
    bank_account="6222020200112233445",
)


def test_a_refused_call_is_one_json_line_with_its_trace_method_and_principal(database_url: str) -> None:
    seller = tax_id()
    verifier = principal_key(database_url, Role.VERIFIER)
    taxpayer = principal_key(database_url, Role.TAXPAYER, tax_ids=[seller])
    server = ServerProcess(
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        # No FAPIAO_LOG_FORMAT: stderr is a pipe here, so the format is JSON by itself, as in a container.
        env={"FAPIAO_DATABASE_URL": database_url, "FAPIAO_OTEL_EXPORTER": "console", "FAPIAO_LOG_LEVEL": "DEBUG"},
    ).start()
    tracer = TracerProvider().get_tracer(__name__)  # the client's own, as a traced caller would have
    client_spans = {}
    try:
        with grpc.insecure_channel(server.address) as channel:
            calls = {
                VERIFY: lambda metadata: verification_grpc.VerificationServiceStub(channel).VerifyInvoice(
                    verification_service_pb2.VerifyInvoiceRequest(),  # refused before it is read
                    metadata=(*bearer(FORGED_KEY), *metadata),
                ),
                LIST_AUDIT_EVENTS: lambda metadata: audit_service_pb2_grpc.AuditServiceStub(channel).ListAuditEvents(
                    audit_service_pb2.ListAuditEventsRequest(), metadata=(*bearer(verifier), *metadata)
                ),
            }
            for method, call in calls.items():
                with tracer.start_as_current_span(f"client {method}") as span:
                    carrier: dict[str, str] = {}
                    TraceContextTextMapPropagator().inject(carrier)
                    with pytest.raises(grpc.RpcError):
                        call(tuple(carrier.items()))
                client_spans[method] = span.get_span_context()
            # A change that carries personal details, logged at DEBUG by whatever logs while it is made.
            request = issue_request(invoice_pb2.INVOICE_TYPE_DIGITAL_GENERAL, seller, request_id=new_request_id())
            request.buyer.CopyFrom(PERSONAL)
            invoice_grpc.InvoiceServiceStub(channel).IssueInvoice(request, metadata=bearer(taxpayer))
    finally:
        server.stop()

    assert server.stderr, "the server logged nothing"
    records = log_records(server.stderr)
    assert len(records) == len(server.stderr), [line for line in server.stderr if not log_records([line])][:5]
    for record in records:
        assert list(record)[:5] == ["timestamp", "level", "logger", "message", "pid"], record
        assert datetime.fromisoformat(record["timestamp"]).utcoffset() == UTC.utcoffset(None), record

    refused = {record["rpc_method"]: record for record in records if record["message"] == "call refused"}
    assert set(refused) == {VERIFY, LIST_AUDIT_EVENTS}, records[-20:]
    assert refused[VERIFY]["grpc_status"] == "UNAUTHENTICATED" and "principal_id" not in refused[VERIFY]
    assert refused[LIST_AUDIT_EVENTS]["grpc_status"] == "PERMISSION_DENIED"
    assert refused[LIST_AUDIT_EVENTS]["reason"] == "ROLE_NOT_ALLOWED"
    assert refused[LIST_AUDIT_EVENTS]["principal_id"].startswith("verifier-")
    for method, record in refused.items():
        client = client_spans[method]
        assert record["level"] == "info" and record["logger"] == "fapiao_server.transport.access_gate"
        assert record["pid"] != server.process.pid  # a worker's line, not the supervisor's  # type: ignore[union-attr]
        # The call's trace, continued from the client's traceparent, and the server's own span of that call.
        assert record["trace_id"] == f"{client.trace_id:032x}"
        assert re.fullmatch("[0-9a-f]{16}", record["span_id"]) and record["span_id"] != f"{client.span_id:016x}"
        assert f'"span_id": "0x{record["span_id"]}"' in server.output()  # the exporter's span of that call

    raw = "".join(server.stderr)
    decoded = "\n".join(json.dumps(record, ensure_ascii=False) for record in records)
    # fpk_<id>_<secret>: the secret is URL-safe base64 and may itself hold "_", so split off the first two parts.
    for secret in (key.split("_", 2)[2] for key in (FORGED_KEY, verifier, taxpayer)):
        assert secret not in raw
    for detail in (PERSONAL.name, PERSONAL.address, PERSONAL.phone, PERSONAL.bank_name, PERSONAL.bank_account):
        assert detail not in decoded and detail not in raw
