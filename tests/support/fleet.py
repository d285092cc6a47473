"""Helpers the lifecycle e2e files share: pairs of single-worker servers (so each call's worker is known),
channels with connections of their own, and InvoiceService requests for a taxpayer of the test's own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import grpc

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao_client import FapiaoError
from fapiao_server.domain.access import Role

from .access import aio_interceptors, principal_key
from .invoices import new_request_id, tax_id
from .server import NO_QUOTAS, ServerProcess, logged_errors

OK = "OK"


# The registration regions these tests issue in. Every fleet test module acts as one TAXPAYER principal that acts
# for all of TAX_ID_POOL (pool_key), and new_tax_id hands each out once, so tests stay apart without making
# a principal per tax id.
POOL_REGIONS = ("110108", "310101", "310115", "320102", "330106", "440300", "440305", "510104", "540102", "640104",
                "650102")  # fmt: skip
POOL_SIZE = 60
TAX_ID_POOL = {region: [tax_id(region) for _ in range(POOL_SIZE)] for region in POOL_REGIONS}
_handed_out = {region: 0 for region in POOL_REGIONS}


def new_tax_id(region: str = "310115") -> str:
    """A valid unified social credit code no other test uses, registered in ``region`` (Shanghai by default),
    that the principal of pool_key acts for."""
    taken = _handed_out[region]
    assert taken < POOL_SIZE, f"tests used up the {POOL_SIZE} tax ids of region {region}: raise POOL_SIZE"
    _handed_out[region] = taken + 1
    return TAX_ID_POOL[region][taken]


def pool_key(database_url: str) -> str:
    """An API key of a new TAXPAYER acting for every tax id new_tax_id hands out."""
    every = [tax_id for ids in TAX_ID_POOL.values() for tax_id in ids]
    return principal_key(database_url, Role.TAXPAYER, tax_ids=every)


def issue_request(
    invoice_type: int, seller: str, buyer: str = "", amounts: Sequence[int] = (10_000,), rate: int = 1300
) -> pb.IssueInvoiceRequest:
    return pb.IssueInvoiceRequest(
        request_id=new_request_id(),
        invoice_type=invoice_type,  # type: ignore[arg-type]
        seller=invoice_pb2.Party(tax_id=seller, name="上海测试科技有限公司"),
        buyer=invoice_pb2.Party(tax_id=buyer, name="深圳测试贸易有限公司"),
        lines=[
            pb.IssueLine(item_name=f"*信息技术服务*软件开发服务{n}", amount_fen=amount, tax_rate_basis_points=rate)
            for n, amount in enumerate(amounts, start=1)
        ],
    )


def start_servers(
    database_url: str,
    redis_url: str,
    count: int = 2,
    settings: dict[str, str] | None = None,
    *,
    signing_key_file: Path | None = None,
) -> list[ServerProcess]:
    """``count`` single-worker servers on one database and one Redis namespace, so each call's worker is known.
    ``settings`` (FAPIAO_* variables) replace the defaults, which turn the quotas off (``NO_QUOTAS``). They sign
    with one key: the test run's (tests.support.signing), or ``signing_key_file`` to rotate to."""
    env = {
        "FAPIAO_DATABASE_URL": database_url,
        "FAPIAO_REDIS_URL": redis_url,
        "FAPIAO_REDIS_KEY_PREFIX": f"fapiao:test:{uuid.uuid4().hex[:12]}:",
        "FAPIAO_LOG_LEVEL": "WARNING",
        "FAPIAO_SHUTDOWN_GRACE_SECONDS": "1",
        **NO_QUOTAS,
        **(settings or {}),
    }
    if signing_key_file is not None:
        env["FAPIAO_SIGNING_KEY_FILE"] = str(signing_key_file)
    servers: list[ServerProcess] = []
    try:
        for _ in range(count):
            servers.append(ServerProcess("--listen", "127.0.0.1:0", "--workers", "1", env=env).start())
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def stop_servers(servers: Sequence[ServerProcess]) -> None:
    """Stop the servers; none may have logged an error (an unexpected exception is logged as one)."""
    for server in servers:
        server.stop()
    errors = [line for server in servers for line in logged_errors(server.stderr)]
    assert not errors, "".join(errors)


def channel(address: str, key: str | None = None) -> grpc.aio.Channel:
    """A channel with a connection of its own (gRPC would otherwise share one per target) whose calls carry
    ``key``; without one, for an SDK client that sends its own credentials (``token=``)."""
    return grpc.aio.insecure_channel(
        address, options=[("grpc.use_local_subchannel_pool", 1)], interceptors=aio_interceptors(key) if key else None
    )


def by_id(invoice_id: str) -> pb.InvoiceSelector:
    return pb.InvoiceSelector(id=invoice_id)


def outcome(result: object) -> str:
    """OK, or the status code and ErrorInfo reason of a refused call."""
    if isinstance(result, grpc.aio.AioRpcError):
        error = FapiaoError.from_rpc_error(result)
        return f"{error.code.name}:{error.reason}"
    return OK
