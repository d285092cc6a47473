"""OpenTelemetry: with an exporter configured, every RPC but health checks becomes a server span."""

from __future__ import annotations

import json
import re

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fapiao_client import VerificationClient
from tests.conftest import Register
from tests.support.server import ServerProcess


def test_rpcs_are_traced_and_health_checks_are_not(database_url: str, register: Register) -> None:
    traced = ServerProcess(
        "--listen",
        "127.0.0.1:0",
        env={"FAPIAO_DATABASE_URL": database_url, "FAPIAO_OTEL_EXPORTER": "console", "FAPIAO_LOG_LEVEL": "WARNING"},
    ).start()
    try:
        with VerificationClient(traced.address) as client:
            client.verify_invoice(**register.sample().request_fields())
        with grpc.insecure_channel(traced.address) as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    finally:
        traced.stop()
    names = [json.loads(span)["name"] for span in re.findall(r"^\{\n.*?^\}$", traced.output(), re.M | re.S)]
    assert "/fapiao.v1.VerificationService/VerifyInvoice" in names
    assert not [name for name in names if "grpc.health" in name]
