"""What encryption at rest costs (docs/encryption.md): seeding N invoices (wall and client CPU), the invoices
table's size, single lookups and single issues through the storage adapters (no cache), and sealing / opening
one invoice. Each run uses a scratch database of its own and drops it.

For a before/after comparison run it twice, once with a checkout of the commit before encryption first on the
path (the script notices that that code has no keyring)::

    git archive <commit> | tar -x -C /tmp/base
    PYTHONPATH=/tmp/base/server:/tmp/base/client python bench/encryption.py --label before
    python bench/encryption.py --label after
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.domain.invoice import InvoiceKey, Party
from fapiao_server.domain.issuing import IssueRequest, LineRequest
from fapiao_server.services.lifecycle import LifecycleService
from fapiao_server.storage import bulk
from fapiao_server.storage.invoices import PostgresInvoices
from fapiao_server.storage.issuing import PostgresIssuer
from fapiao_server.storage.lifecycle import PostgresLifecycle
from fapiao_server.storage.migrations import migrate

ADMIN_URL = os.environ.get("FAPIAO_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SELLER = Party(
    "911101089Q34Y8UWY1",
    "北京保密科技有限公司",
    "北京市海淀区中关村大街27号",
    "010-62345678",
    "招商银行",
    "6214830112345678",
)
BUYER = Party("", "上海隐私贸易有限公司", bank_account="6222020200112233")
# Issues act as the seller's taxpayer; older code took a caller's name instead of a principal.
if "actor" in inspect.signature(LifecycleService.issue).parameters:
    from fapiao_server.domain.access import Principal, Role

    ISSUING_AS: dict[str, Any] = {"actor": Principal("bench", Role.TAXPAYER, frozenset({SELLER.tax_id}))}
else:
    ISSUING_AS = {"caller": "bench"}


def percentile(values: Sequence[float], share: float) -> float:
    return sorted(values)[int(len(values) * share)] * 1000


def keyring_for(url: str) -> Any:
    """A keyring with a fresh master key, or None when the code on the path predates encryption."""
    if "keyring" not in inspect.signature(bulk.seed_register).parameters:
        return None
    from fapiao_server.keys.data_keys import prepare_keys
    from fapiao_server.keys.encryption import Keyring, MasterKey

    keyring = Keyring(MasterKey(os.urandom(32)))
    prepare_keys(url, keyring)
    return keyring


async def latencies(url: str, keyring: Any, keys: list[InvoiceKey], issues: int) -> tuple[list[float], list[float]]:
    extra = () if keyring is None else (keyring,)
    async with AsyncConnectionPool(url, min_size=2, max_size=4, kwargs={"autocommit": True}) as pool:
        invoices = PostgresInvoices(pool, *extra)
        lookups = []
        for key in keys:
            started = time.perf_counter()
            await invoices.get(key)
            lookups.append(time.perf_counter() - started)
        service = LifecycleService(PostgresLifecycle(pool, *extra), PostgresIssuer(pool, *extra))
        request = IssueRequest(32, SELLER, BUYER, (LineRequest("*信息技术服务*软件", 10_000, 600),), issuer_name="张三")
        issued = []
        for _ in range(issues):
            started = time.perf_counter()
            await service.issue(request, request_id=str(uuid.uuid4()), **ISSUING_AS)
            issued.append(time.perf_counter() - started)
    return lookups, issued


def seed_signer() -> dict[str, Any]:
    """A fresh signing key for seeding where the code signs what it seeds (since signed invoices), else nothing.
    Lookups and issues stay unsigned, so only encryption differs between before and after."""
    if "signer" not in inspect.signature(bulk.seed_register).parameters:
        return {}
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from fapiao_server.keys.signing import SigningKey

    return {"signer": SigningKey(Ed25519PrivateKey.generate())}


def sealing_cost(keyring: Any) -> str:
    if keyring is None:
        return ""
    import timeit

    class Parties:
        seller, buyer = SELLER, BUYER
        issuer_name, payee_name, reviewer_name = "王开票", "李收款", "赵复核"

    sealed = {"id": 5, **keyring.seal_invoice(5, Parties())}
    rounds = 20_000
    seal = timeit.timeit(lambda: keyring.seal_invoice(5, Parties()), number=rounds) / rounds * 1e6
    opening = timeit.timeit(lambda: keyring.open_invoice(sealed), number=rounds) / rounds * 1e6
    return f"; seal one invoice {seal:.0f} us, open one {opening:.0f} us (CPU)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="run")
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--issues", type=int, default=500)
    options = parser.parse_args()
    name = f"fapiao_bench_encryption_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        migrate(url, today=business_date(utc_now()))
        keyring = keyring_for(url)
        args: tuple[Any, ...] = (url, options.invoices) if keyring is None else (url, options.invoices, keyring)
        wall, cpu = time.perf_counter(), time.process_time()
        bulk.seed_register(*args, seed=3, now=utc_now(), **seed_signer())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        with psycopg.connect(url, autocommit=True) as conn:
            # Settle what seeding leaves behind (autovacuum's analyze of a bigger table) before timing lookups.
            conn.execute("VACUUM ANALYZE invoices")
            sample = "SELECT invoice_code, invoice_number FROM invoices ORDER BY random() LIMIT %s"
            keys = [InvoiceKey(code, number) for code, number in conn.execute(sample, (options.lookups,))]
            (size,) = conn.execute("SELECT pg_total_relation_size('invoices')").fetchone() or (0,)
        lookups, issued = asyncio.run(latencies(url, keyring, keys, options.issues))
        print(
            f"{options.label}: seed {options.invoices} in {wall:.1f} s (client CPU {cpu:.1f} s); invoices "
            f"{size / 1e6:.1f} MB; lookup p50 {percentile(lookups, 0.5):.2f} ms "
            f"p99 {percentile(lookups, 0.99):.2f} ms; "
            f"issue p50 {percentile(issued, 0.5):.2f} ms p99 {percentile(issued, 0.99):.2f} ms{sealing_cost(keyring)}"
        )
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
