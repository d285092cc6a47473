"""Clients for fapiao.v1.RegisterKeyService: the register's public signing keys."""

from __future__ import annotations

from fapiao.v1 import register_key_service_pb2 as pb
from fapiao.v1 import register_key_service_pb2_grpc as pb_grpc

from .calls import AsyncCalls, BlockingCalls
from .signatures import PublicKeys


class RegisterKeyClient(BlockingCalls):
    """Fetch the register's public keys, to check invoice and receipt signatures (see fapiao_client.signatures).

    >>> with RegisterKeyClient("127.0.0.1:50051") as client:
    ...     client.signing_keys().save("register-keys.json")
    """

    _stub_class = pb_grpc.RegisterKeyServiceStub

    def signing_keys(self) -> PublicKeys:
        """Every key the register has signed with, retired ones included."""
        return PublicKeys(self._call(self._stub.ListSigningKeys, pb.ListSigningKeysRequest()).keys)


class AsyncRegisterKeyClient(AsyncCalls):
    """The asyncio form of :class:`RegisterKeyClient`."""

    _stub_class = pb_grpc.RegisterKeyServiceStub

    async def signing_keys(self) -> PublicKeys:
        return PublicKeys((await self._call(self._stub.ListSigningKeys, pb.ListSigningKeysRequest())).keys)
