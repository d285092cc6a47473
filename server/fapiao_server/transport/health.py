"""grpc.health.v1 for balancers and orchestrators: grpcio-health-checking's servicer, plus the List method the
protocol declares and that servicer (1.85) leaves unimplemented, so a probe calling it gets an answer rather than
an error logged on every call."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2


class HealthServicer(health.aio.HealthServicer):
    async def List(
        self, request: health_pb2.HealthListRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthListResponse:
        # The parent keeps each service's status in _server_status; it offers no public way to read them all.
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status) for name, status in self._server_status.items()
            }
        )
