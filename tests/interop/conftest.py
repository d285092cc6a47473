"""A real register on a real port for clients that know it only from protos/ (a Node.js client, buf curl), and the
tools they need: present, or the test skips, unless CI says they must be there (FAPIAO_REQUIRE_NODE,
FAPIAO_REQUIRE_BUF, set by .ci/run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fapiao_server.domain.access import Role
from tests.support.access import principal_key
from tests.support.invoices import tax_id
from tests.support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
# How many times one caller may verify one invoice a day on this server: small, so the client meets the quota.
DAILY_VERIFICATIONS = 3
# Where .ci/run installs tests/interop/package.json's packages (and buf) unless NODE_PATH says otherwise.
CI_TOOLS = Path(os.environ.get("FAPIAO_CI_TOOLS", Path.home() / ".cache" / "fapiao-ci"))
NODE_PACKAGES = ("@grpc/grpc-js", "@grpc/proto-loader", "protobufjs")


def missing(what: str, variable: str) -> None:
    """Skip for want of ``what``, or fail where ``variable`` says it must be there (CI)."""
    if os.environ.get(variable):
        pytest.fail(f"{what} is required here ({variable}) but was not found")
    pytest.skip(f"not installed: {what} (.ci/run installs it and requires this test)")


def node_path() -> str:
    """NODE_PATH for the client: the caller's, else the CI tools' node_modules."""
    return os.environ.get("NODE_PATH") or str(CI_TOOLS / "node_modules")


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with the client's packages where require() finds them."""
    executable = shutil.which("node")
    if executable is None:
        missing("node", "FAPIAO_REQUIRE_NODE")
    probe = "for (const p of process.argv.slice(1)) require.resolve(p)"
    found = subprocess.run(
        [executable, "-e", probe, *NODE_PACKAGES],
        env={**os.environ, "NODE_PATH": node_path()},
        capture_output=True,
        timeout=60,
    )
    if found.returncode != 0:
        missing(f"the npm packages {', '.join(NODE_PACKAGES)}", "FAPIAO_REQUIRE_NODE")
    return executable


@pytest.fixture(scope="session")
def buf() -> str:
    executable = shutil.which("buf") or next(
        (str(p) for p in (CI_TOOLS / "node_modules" / ".bin" / "buf", ROOT / "node_modules" / ".bin" / "buf")
         if p.exists()),
        None,
    )  # fmt: skip
    if executable is None:
        missing("buf", "FAPIAO_REQUIRE_BUF")
    return executable


@pytest.fixture(scope="module")
def register_server(database_url: str, redis_url: str) -> Iterator[ServerProcess]:
    """One worker with its own Redis namespace (so the daily counts are this module's own), the daily limit
    small and no rate limit to speak of."""
    process = ServerProcess(
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
        env={
            "FAPIAO_DATABASE_URL": database_url,
            "FAPIAO_REDIS_URL": redis_url,
            "FAPIAO_REDIS_KEY_PREFIX": f"fapiao:test:{uuid.uuid4().hex[:12]}:",
            "FAPIAO_LOG_LEVEL": "WARNING",
            "FAPIAO_RATE_LIMIT_PER_SECOND": "1e9",
            "FAPIAO_VERIFICATIONS_PER_INVOICE_PER_DAY": str(DAILY_VERIFICATIONS),
        },
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def seller() -> str:
    """A tax id no other test uses, registered in Shanghai."""
    return tax_id("310115")


@pytest.fixture(scope="module")
def taxpayer_key(database_url: str, seller: str) -> str:
    """A TAXPAYER acting for ``seller``: it may verify invoices and issue seller's."""
    return principal_key(database_url, Role.TAXPAYER, tax_ids=[seller], principal_id=f"interop-{uuid.uuid4().hex[:8]}")
