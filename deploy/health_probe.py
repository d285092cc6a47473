"""Container health probe for `fapiao serve`, on the port of FAPIAO_LISTEN (as the server reads it).

python health_probe.py           exit 0 only while fapiao.v1.VerificationService is SERVING (readiness;
                                 NOT_SERVING while draining or while PostgreSQL is unreachable)
python health_probe.py --alive   exit 0 whenever the server answers at all, SERVING or not (liveness: a
                                 PostgreSQL outage must not get every node restarted)
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICE = "fapiao.v1.VerificationService"
TIMEOUT_SECONDS = 2.0


def main(arguments: list[str]) -> int:
    alive_only = arguments == ["--alive"]
    port = os.environ.get("FAPIAO_LISTEN", "127.0.0.1:50051").rpartition(":")[2]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=TIMEOUT_SECONDS
            )
        except grpc.RpcError as error:
            print(f"{SERVICE}: no answer ({error.code().name})", file=sys.stderr)
            return 1
    print(f"{SERVICE}: {health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}")
    return 0 if alive_only or answer.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
