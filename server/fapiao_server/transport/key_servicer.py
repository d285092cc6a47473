"""fapiao.v1.RegisterKeyService over gRPC: the public keys that check the register's signatures."""

from __future__ import annotations

import grpc

from fapiao.v1 import register_key_service_pb2 as pb
from fapiao.v1 import register_key_service_pb2_grpc as pb_grpc

from ..services.ports import SigningKeyDirectory
from . import converters
from .errors import unary_errors


class RegisterKeyServicer(pb_grpc.RegisterKeyServiceServicer):
    def __init__(self, keys: SigningKeyDirectory) -> None:
        self._keys = keys

    @unary_errors
    async def ListSigningKeys(
        self, request: pb.ListSigningKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSigningKeysResponse:
        return pb.ListSigningKeysResponse(keys=[converters.signing_key_message(k) for k in await self._keys.list()])
