"""Principals and credentials for tests: created straight in the test database through the same use case as
AdminService (fapiao_server.entrypoints.provisioning), each with an API key, so a test acts as the roles it needs. New
principals are unknown to every worker, so nothing cached can be stale."""

from __future__ import annotations

import base64
import concurrent.futures
import os
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

import grpc

from fapiao_server.domain.access import Principal, PrincipalAccount, Role
from fapiao_server.entrypoints.provisioning import provision

from .keys import shared_keyring

# Every server a test run starts signs access tokens with this key, so a token from one is good on all.
TOKEN_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
AUTHORIZATION = "authorization"


def principal_key(
    database_url: str,
    role: Role,
    *,
    tax_ids: Iterable[str] = (),
    regions: Iterable[str] = (),
    principal_id: str | None = None,
    rate_limit: float | None = None,
) -> str:
    """A new principal of ``role`` (or the existing one with that id) and a new API key for it."""
    principal_id = principal_id or f"{role.value.lower().replace('_', '-')}-{uuid.uuid4().hex[:10]}"
    account = PrincipalAccount(
        Principal(principal_id, role, frozenset(tax_ids), frozenset(regions), rate_limit, display_name="test")
    )
    # In a thread of its own: provisioning runs its own event loop, and async tests already have one.
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        (done,) = thread.submit(
            provision, database_url, shared_keyring(database_url), [account], description="test"
        ).result()
    return done.api_key


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return ((AUTHORIZATION, f"Bearer {key}"),)


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
              grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):  # fmt: skip
    """Adds the credential to every call of a blocking channel."""

    def __init__(self, key: str) -> None:
        self._metadata = bearer(key)

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=(*(details.metadata or ()), *self._metadata))

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


def authorized(channel: grpc.Channel, key: str) -> grpc.Channel:
    """A blocking channel whose every call carries ``key``."""
    return grpc.intercept_channel(channel, _Bearer(key))


class _AioBearer:
    def __init__(self, key: str) -> None:
        self._metadata = bearer(key)

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=grpc.aio.Metadata(*(details.metadata or ()), *self._metadata))


# grpc.aio files an interceptor under the first call kind it implements, so each kind needs a class of its own.
class _AioUnaryUnary(_AioBearer, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _AioUnaryStream(_AioBearer, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _AioStreamUnary(_AioBearer, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


class _AioStreamStream(_AioBearer, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


def aio_interceptors(key: str) -> list[Any]:
    """Interceptors for grpc.aio channels that add ``key`` to every call."""
    return [kind(key) for kind in (_AioUnaryUnary, _AioUnaryStream, _AioStreamUnary, _AioStreamStream)]


def server_env() -> dict[str, str]:
    """What every test server shares beyond its own settings."""
    return {"FAPIAO_TOKEN_KEY": TOKEN_KEY}


def use_key_by_default(key: str) -> None:
    """Clients and CLI runs of this test process that name no credentials use ``key`` (FAPIAO_TOKEN)."""
    os.environ["FAPIAO_TOKEN"] = key
