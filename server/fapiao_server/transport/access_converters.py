"""Principals, API keys and session tokens between protobuf and the domain."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from fapiao.v1 import access_pb2, auth_service_pb2

from ..domain.access import Principal, PrincipalAccount, Role
from ..domain.errors import FieldViolation, InvalidArgument
from ..services.authentication import SessionTokens
from ..services.ports import ApiKeyInfo

_ROLES = {role: access_pb2.Role.Value(f"ROLE_{role.value}") for role in Role}
_ROLES_BACK = {number: role for role, number in _ROLES.items()}


def _timestamp(at: datetime | None) -> Timestamp | None:
    if at is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def role(number: int, field: str, *, required: bool = True) -> Role | None:
    found = _ROLES_BACK.get(number)
    if found is None and (required or number != access_pb2.ROLE_UNSPECIFIED):
        raise InvalidArgument([FieldViolation(field, "one of the roles, not ROLE_UNSPECIFIED")], reason="INVALID_ROLE")
    return found


def account(message: access_pb2.Principal, *, require_role: bool = True) -> PrincipalAccount:
    """A principal as given in a create or update request (validated by the use case)."""
    found = role(message.role, "principal.role", required=require_role)
    principal = Principal(
        message.id, found or Role.VERIFIER, frozenset(message.tax_ids), frozenset(message.regions),
        message.rate_limit or None, message.display_name,
    )  # fmt: skip
    return PrincipalAccount(principal, disabled=message.disabled, certificate_name=message.certificate_name or None)


def principal_message(found: PrincipalAccount) -> access_pb2.Principal:
    p = found.principal
    return access_pb2.Principal(
        id=p.id,
        role=_ROLES[p.role],
        display_name=p.display_name,
        tax_ids=sorted(p.tax_ids),
        regions=sorted(p.regions),
        rate_limit=p.rate_limit or 0,
        disabled=found.disabled,
        username=found.username or "",
        certificate_name=found.certificate_name or "",
        create_time=_timestamp(found.created_at),
    )


def api_key_message(key: ApiKeyInfo) -> access_pb2.ApiKey:
    return access_pb2.ApiKey(
        id=key.id,
        principal_id=key.principal_id,
        description=key.description,
        create_time=_timestamp(key.created_at),
        expire_time=_timestamp(key.expires_at),
        revoke_time=_timestamp(key.revoked_at),
    )


def tokens_message(tokens: SessionTokens) -> auth_service_pb2.SessionTokens:
    return auth_service_pb2.SessionTokens(
        access_token=tokens.access_token,
        access_token_expire_time=_timestamp(tokens.access_expires_at),
        refresh_token=tokens.refresh_token,
        refresh_token_expire_time=_timestamp(tokens.refresh_expires_at),
    )


def expire_time(message: Timestamp, present: bool) -> datetime | None:
    if not present:
        return None
    try:
        return message.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument([FieldViolation("expire_time", "not a valid time")], reason="INVALID_API_KEY") from None
