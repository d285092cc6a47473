"""A call refused for the caller's rate comes with the delay to wait (RetryInfo, and gRPC's retry pushback): the
sync SDK, the asyncio SDK and the `fapiao` command wait it out and get their answer, for every service's calls;
``retry_when_asked=False`` gets the refusal at once. A caller of its own with a rate of one call every 2 s makes
the refusal certain."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

import grpc
import pytest

from fapiao_client import AsyncVerificationClient, FapiaoError, VerificationClient
from fapiao_client.access_client import AuthClient
from fapiao_server.domain.access import Role
from tests.support.server import ServerProcess, fapiao_executable

pytestmark = pytest.mark.slow
RATE = 0.5  # one token every 2 s, a bucket of one


def _spend_the_token(address: str, key: str) -> None:
    """Leave the caller's bucket empty: call, without waiting when asked, until refused."""
    with AuthClient(address, token=key, retry_when_asked=False) as client:
        for _ in range(5):
            try:
                client.caller()
            except FapiaoError as error:
                assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED and error.retry_after
                return
    raise AssertionError("never refused")


def test_the_sync_client_waits_as_asked_or_not_at_all(server: ServerProcess, new_key: Callable[..., str]) -> None:
    key = new_key(Role.VERIFIER, rate_limit=RATE)
    _spend_the_token(server.address, key)
    with (
        AuthClient(server.address, token=key, retry_when_asked=False) as impatient,
        pytest.raises(FapiaoError) as refused,
    ):
        impatient.caller()
    assert refused.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED and refused.value.retry_after
    started = time.monotonic()
    with AuthClient(server.address, token=key) as client:
        assert client.caller().id  # a session service's call, refused first, then answered
    with VerificationClient(server.address, token=key) as client:
        assert list(client.list_verification_records(page_size=1)) is not None
    assert time.monotonic() - started > 1.0, "it waited for the tokens"


async def test_the_async_client_waits_as_asked(server: ServerProcess, new_key: Callable[..., str]) -> None:
    key = new_key(Role.VERIFIER, rate_limit=RATE)
    _spend_the_token(server.address, key)
    async with AsyncVerificationClient(server.address, token=key) as client:
        async for _ in client.list_verification_records(page_size=1):
            break


def test_the_cli_waits_as_asked(server: ServerProcess, new_key: Callable[..., str]) -> None:
    key = new_key(Role.VERIFIER, rate_limit=RATE)
    _spend_the_token(server.address, key)
    env = {**os.environ, "FAPIAO_TOKEN": key, "FAPIAO_TARGET": server.address}
    result = subprocess.run([str(fapiao_executable()), "whoami"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
