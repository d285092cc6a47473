"""Blocking clients for who may call the register: AuthService (log in, renew, log out, who am I) and
AdminService (principals, logins, API keys, sessions)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from google.protobuf import field_mask_pb2

from fapiao.v1 import access_pb2
from fapiao.v1 import admin_service_pb2 as admin_pb
from fapiao.v1 import admin_service_pb2_grpc as admin_grpc
from fapiao.v1 import auth_service_pb2 as auth_pb
from fapiao.v1 import auth_service_pb2_grpc as auth_grpc

from .calls import BlockingCalls
from .requests import enum_value


def role_number(value: int | str) -> int:
    """A Role by number or name ("taxpayer", "tax-officer", "ROLE_ADMIN"); 0 or "" means none (any, in a filter)."""
    return enum_value(access_pb2.Role, value) if value else 0


class AuthClient(BlockingCalls):
    """Log in with a password and TOTP code, renew the session, log out, and ask who the credentials are.

    >>> with AuthClient("127.0.0.1:50051") as client:
    ...     session = client.login("alice", password, pyotp.TOTP(secret).now())
    """

    _stub_class = auth_grpc.AuthServiceStub

    def login(self, username: str, password: str, totp_code: str) -> auth_pb.LoginResponse:
        return self._call(
            self._stub.Login, auth_pb.LoginRequest(username=username, password=password, totp_code=totp_code)
        )

    def refresh(self, refresh_token: str) -> auth_pb.SessionTokens:
        return self._call(self._stub.RefreshToken, auth_pb.RefreshTokenRequest(refresh_token=refresh_token)).tokens

    def logout(self) -> None:
        self._call(self._stub.Logout, auth_pb.LogoutRequest())

    def caller(self) -> access_pb2.Principal:
        return self._call(self._stub.GetCaller, auth_pb.GetCallerRequest()).principal


class AdminClient(BlockingCalls):
    """Manage principals, their logins and API keys (ADMIN only)."""

    _stub_class = admin_grpc.AdminServiceStub

    def create_principal(
        self,
        principal_id: str,
        role: int | str,
        *,
        display_name: str = "",
        tax_ids: Sequence[str] = (),
        regions: Sequence[str] = (),
        rate_limit: float = 0,
        certificate_name: str = "",
    ) -> access_pb2.Principal:
        principal = access_pb2.Principal(
            id=principal_id, role=role_number(role), display_name=display_name, tax_ids=tax_ids,  # type: ignore[arg-type]
            regions=regions, rate_limit=rate_limit, certificate_name=certificate_name,
        )  # fmt: skip
        return self._call(self._stub.CreatePrincipal, admin_pb.CreatePrincipalRequest(principal=principal)).principal

    def get_principal(self, principal_id: str) -> access_pb2.Principal:
        return self._call(self._stub.GetPrincipal, admin_pb.GetPrincipalRequest(id=principal_id)).principal

    def list_principals(self, role: int | str = 0, *, page_size: int = 0) -> Iterator[access_pb2.Principal]:
        request = admin_pb.ListPrincipalsRequest(role=role_number(role), page_size=page_size)  # type: ignore[arg-type]
        return self._pages(self._stub.ListPrincipals, request, "principals")

    def update_principal(self, principal_id: str, **fields: object) -> access_pb2.Principal:
        """Change the named fields (role, display_name, tax_ids, regions, rate_limit, disabled, certificate_name)."""
        if "role" in fields:
            fields["role"] = role_number(fields["role"])  # type: ignore[arg-type]
        principal = access_pb2.Principal(id=principal_id, **fields)  # type: ignore[arg-type]
        mask = field_mask_pb2.FieldMask(paths=sorted(fields))
        request = admin_pb.UpdatePrincipalRequest(principal=principal, update_mask=mask)
        return self._call(self._stub.UpdatePrincipal, request).principal

    def set_login(self, principal_id: str, username: str, password: str) -> admin_pb.SetLoginResponse:
        request = admin_pb.SetLoginRequest(principal_id=principal_id, username=username, password=password)
        return self._call(self._stub.SetLogin, request)

    def create_api_key(
        self, principal_id: str, description: str = "", expire_time: datetime | None = None
    ) -> admin_pb.CreateApiKeyResponse:
        request = admin_pb.CreateApiKeyRequest(principal_id=principal_id, description=description)
        if expire_time is not None:
            if expire_time.tzinfo is None:
                raise ValueError("expire_time must be timezone-aware")
            request.expire_time.FromDatetime(expire_time)
        return self._call(self._stub.CreateApiKey, request)

    def list_api_keys(self, principal_id: str) -> Iterable[access_pb2.ApiKey]:
        return self._call(self._stub.ListApiKeys, admin_pb.ListApiKeysRequest(principal_id=principal_id)).keys

    def revoke_api_key(self, key_id: str) -> access_pb2.ApiKey:
        return self._call(self._stub.RevokeApiKey, admin_pb.RevokeApiKeyRequest(key_id=key_id)).key

    def revoke_sessions(self, principal_id: str) -> int:
        return self._call(self._stub.RevokeSessions, admin_pb.RevokeSessionsRequest(principal_id=principal_id)).revoked
