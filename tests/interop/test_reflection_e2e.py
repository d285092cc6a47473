"""Server reflection as tools meet it on a real port: served as grpc.reflection.v1 (what buf curl, grpcurl and
Postman ask first) and v1alpha, without credentials, so `buf curl -H "authorization: Bearer ..."` works with no
reflection flags; and buf curl calling the register through it."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

from fapiao_server.domain.access import Role
from tests.conftest import Register
from tests.support.access import principal_key
from tests.support.server import ServerProcess

from .conftest import ROOT

pytestmark = pytest.mark.slow
V1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
V1ALPHA = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def _reflect(address: str, method: str, *requests: reflection_pb2.ServerReflectionRequest) -> list:
    """Asks reflection over ``method``, with no credentials. v1 and v1alpha share their messages' wire format, so
    v1alpha's generated classes serve for both."""
    with grpc.insecure_channel(address) as channel:
        call: Callable = channel.stream_stream(
            method,
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        return list(call(iter(requests), timeout=10))


def _files(answer: reflection_pb2.ServerReflectionResponse) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in answer.file_descriptor_response.file_descriptor_proto]  # fmt: skip
    return {file.name: file for file in files}


@pytest.mark.parametrize("method", [V1, V1ALPHA])
def test_reflection_answers_both_versions_without_credentials(register_server: ServerProcess, method: str) -> None:
    listed, verification, reflection_v1 = _reflect(
        register_server.address,
        method,
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="fapiao.v1.VerificationService"),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="grpc.reflection.v1.ServerReflection"),
    )
    services = {service.name for service in listed.list_services_response.service}
    assert {
        "fapiao.v1.VerificationService",
        "fapiao.v1.InvoiceService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= services
    # The service's file with everything it imports, the googleapis files included: enough to call it.
    files = _files(verification)
    assert {"fapiao/v1/verification_service.proto", "google/rpc/status.proto", "google/type/date.proto"} <= set(files)
    (described,) = _files(reflection_v1).values()
    assert (described.name, described.package) == ("grpc/reflection/v1/reflection.proto", "grpc.reflection.v1")
    method_v1 = described.service[0].method[0]
    assert (method_v1.input_type, method_v1.output_type) == (
        ".grpc.reflection.v1.ServerReflectionRequest", ".grpc.reflection.v1.ServerReflectionResponse"
    )  # fmt: skip


@pytest.fixture(scope="module")
def verifier(database_url: str) -> str:
    return principal_key(database_url, Role.VERIFIER, principal_id=f"buf-curl-{uuid.uuid4().hex[:8]}")


def _buf_curl(buf: str, address: str, method: str, body: dict, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge", *flags, "-d", json.dumps(body),
         f"http://{address}/{method}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    "flags",
    [(), ("--reflect-protocol", "grpc-v1"), ("--schema", str(ROOT / "protos"))],
    ids=["as-documented", "v1-only", "schema-from-protos"],
)
def test_buf_curl_calls_the_register_through_reflection(
    buf: str, register_server: ServerProcess, register: Register, verifier: str, flags: tuple[str, ...]
) -> None:
    """The call's credentials as a header and nothing else: buf curl finds the schema by reflection (v1 first,
    which is all it tries with --reflect-protocol grpc-v1) and sends the header with the call only; or, without
    reflection, in protos/ as shipped."""
    sample = register.samples("invoice_type = 4 AND state = 1", limit=5)[-1]  # not the Node client's invoice
    request = {
        "invoice_code": sample.invoice_code,
        "invoice_number": sample.invoice_number,
        "issue_date": {"year": sample.issue_date.year, "month": sample.issue_date.month, "day": sample.issue_date.day},
        "check_code": sample.check_code[-6:],
    }
    header = ("-H", f"authorization: Bearer {verifier}")
    run = _buf_curl(buf, register_server.address, "fapiao.v1.VerificationService/VerifyInvoice", request,
                    *flags, *header)  # fmt: skip
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["outcome"] == "VERIFICATION_OUTCOME_MATCH"
    assert answer["invoice"]["invoiceNumber"] == sample.invoice_number

    # Without credentials the call itself is refused, and says so (not "reflection unsupported").
    refused = _buf_curl(buf, register_server.address, "fapiao.v1.VerificationService/VerifyInvoice", request, *flags)
    assert refused.returncode != 0
    assert "unauthenticated" in refused.stderr.lower() and "reflection" not in refused.stderr.lower(), refused.stderr


def test_buf_curl_lists_the_services_without_credentials(buf: str, register_server: ServerProcess) -> None:
    run = subprocess.run(
        [buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services",
         f"http://{register_server.address}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "fapiao.v1.VerificationService" in run.stdout.split()
