"""fapiao.v1.AuthService over gRPC."""

from __future__ import annotations

import grpc

from fapiao.v1 import auth_service_pb2 as pb
from fapiao.v1 import auth_service_pb2_grpc as pb_grpc

from ..services.administration import Administration
from ..services.authentication import Sessions
from . import access_converters as convert
from .access_gate import bearer_of
from .caller import caller_of
from .errors import unary_errors


class AuthServicer(pb_grpc.AuthServiceServicer):
    def __init__(self, sessions: Sessions, administration: Administration) -> None:
        self._sessions = sessions
        self._administration = administration

    @unary_errors
    async def Login(self, request: pb.LoginRequest, context: grpc.aio.ServicerContext) -> pb.LoginResponse:
        tokens, account = await self._sessions.login(request.username, request.password, request.totp_code)
        return pb.LoginResponse(tokens=convert.tokens_message(tokens), principal=convert.principal_message(account))

    @unary_errors
    async def RefreshToken(
        self, request: pb.RefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.RefreshTokenResponse:
        tokens = await self._sessions.refresh(request.refresh_token)
        return pb.RefreshTokenResponse(tokens=convert.tokens_message(tokens))

    @unary_errors
    async def Logout(self, request: pb.LogoutRequest, context: grpc.aio.ServicerContext) -> pb.LogoutResponse:
        await self._sessions.logout(bearer_of(context.invocation_metadata()))
        return pb.LogoutResponse()

    @unary_errors
    async def GetCaller(self, request: pb.GetCallerRequest, context: grpc.aio.ServicerContext) -> pb.GetCallerResponse:
        account = await self._administration.get(caller_of(context))
        return pb.GetCallerResponse(principal=convert.principal_message(account))
