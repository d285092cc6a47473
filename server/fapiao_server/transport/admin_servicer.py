"""fapiao.v1.AdminService over gRPC."""

from __future__ import annotations

import grpc

from fapiao.v1 import admin_service_pb2 as pb
from fapiao.v1 import admin_service_pb2_grpc as pb_grpc

from ..services.administration import Administration
from . import access_converters as convert
from .errors import unary_errors


class AdminServicer(pb_grpc.AdminServiceServicer):
    def __init__(self, administration: Administration) -> None:
        self._admin = administration

    @unary_errors
    async def CreatePrincipal(
        self, request: pb.CreatePrincipalRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreatePrincipalResponse:
        created = await self._admin.create(convert.account(request.principal))
        return pb.CreatePrincipalResponse(principal=convert.principal_message(created))

    @unary_errors
    async def GetPrincipal(
        self, request: pb.GetPrincipalRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPrincipalResponse:
        return pb.GetPrincipalResponse(principal=convert.principal_message(await self._admin.get(request.id)))

    @unary_errors
    async def ListPrincipals(
        self, request: pb.ListPrincipalsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPrincipalsResponse:
        role = convert.role(request.role, "role", required=False)
        page = await self._admin.list(role, page_size=request.page_size, page_token=request.page_token)
        return pb.ListPrincipalsResponse(
            principals=[convert.principal_message(a) for a in page.items], next_page_token=page.next_page_token
        )

    @unary_errors
    async def UpdatePrincipal(
        self, request: pb.UpdatePrincipalRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdatePrincipalResponse:
        mask = set(request.update_mask.paths)
        changed = convert.account(request.principal, require_role="role" in mask)
        updated = await self._admin.update(changed, mask)
        return pb.UpdatePrincipalResponse(principal=convert.principal_message(updated))

    @unary_errors
    async def SetLogin(self, request: pb.SetLoginRequest, context: grpc.aio.ServicerContext) -> pb.SetLoginResponse:
        secret, uri = await self._admin.set_login(request.principal_id, request.username, request.password)
        return pb.SetLoginResponse(totp_secret=secret, totp_uri=uri)

    @unary_errors
    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateApiKeyResponse:
        expires = convert.expire_time(request.expire_time, request.HasField("expire_time"))
        key, secret = await self._admin.create_api_key(request.principal_id, request.description, expires)
        return pb.CreateApiKeyResponse(key=convert.api_key_message(key), secret=secret)

    @unary_errors
    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListApiKeysResponse:
        keys = await self._admin.api_keys(request.principal_id)
        return pb.ListApiKeysResponse(keys=[convert.api_key_message(k) for k in keys])

    @unary_errors
    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeApiKeyResponse:
        return pb.RevokeApiKeyResponse(key=convert.api_key_message(await self._admin.revoke_api_key(request.key_id)))

    @unary_errors
    async def RevokeSessions(
        self, request: pb.RevokeSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeSessionsResponse:
        return pb.RevokeSessionsResponse(revoked=await self._admin.revoke_sessions(request.principal_id))
