"""What signing costs: Ed25519 and the canonical forms in isolation, IssueInvoice's use case with and without
signing, and a warm VerifyInvoice use case with and without a receipt.

    FAPIAO_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/signing.py

The use cases run in this process against a scratch database (dropped at the end), without gRPC, in interleaved
rounds (off, on, off, on, ...) so a neighbour's load on a shared machine falls on both sides; the report gives
each side's median round.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import tempfile
import time
import timeit
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from environment import create_database, drop_database

from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.domain.invoice import Party
from fapiao_server.domain.issuing import IssueRequest, LineRequest
from fapiao_server.domain.signing import canonical_invoice, receipt, signed
from fapiao_server.domain.taxpayer import uscc_check_character
from fapiao_server.domain.verification import VerificationRequest
from fapiao_server.keys.signing import SigningKey, create_key_file
from fapiao_server.storage.migrations import migrate

# Sellers of several regions and several invoice types, so issues spread over number counters as real ones do
# (one counter per type, region and year; issues under one counter queue on its row lock).
DIVISIONS = ("110108", "310115", "440300", "330106", "510107", "420106")
TYPES = (1, 4, 8, 10, 31, 32)


def _tax_id(division: str, serial: int) -> str:
    first17 = f"91{division}MA{serial:07d}"
    return first17 + uscc_check_character(first17)


def issue_request(lines: int, variant: int = 0) -> IssueRequest:
    division = DIVISIONS[variant % len(DIVISIONS)]
    return IssueRequest(
        invoice_type=TYPES[variant // len(DIVISIONS) % len(TYPES)],
        seller=Party(
            _tax_id(division, variant), "上海测试科技有限公司", "上海市浦东新区", "021-12345678", "工商银行", "6222020"
        ),
        buyer=Party(_tax_id("110108", 9_999_999), "北京采购有限公司"),
        lines=tuple(
            LineRequest(f"*信息技术服务*开发{n}", 123_456, 600, unit="项", quantity="1", unit_price="1234.56")
            for n in range(lines)
        ),
    )


def issuing_taxpayer() -> Any:
    """The principal that issues: a taxpayer acting for every seller issue_request makes."""
    from fapiao_server.domain.access import Principal, Role

    sellers = {issue_request(0, variant).seller.tax_id for variant in range(len(DIVISIONS) * len(TYPES))}
    return Principal("bench", Role.TAXPAYER, frozenset(sellers))


def micro(key: SigningKey) -> dict[str, float]:
    """Microseconds per operation, best of five."""
    from fapiao_server.domain.issuing import check_issue_request, finish

    invoice = finish(check_issue_request(issue_request(3)), invoice_id=1, code="", number="1", now=utc_now())
    message = canonical_invoice(invoice)

    def per_call(fn: Callable[[], object], number: int = 2000) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6

    return {
        "ed25519_sign_us": per_call(lambda: key.sign(message)),
        "canonical_invoice_3_lines_us": per_call(lambda: canonical_invoice(invoice)),
        "sign_invoice_3_lines_us": per_call(lambda: signed(invoice, key)),
    }


async def _rate(call: Callable[[], Awaitable[object]], *, seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return done / (time.perf_counter() - began)


async def rounds(
    label: str, sides: dict[str, Callable[[], Awaitable[object]]], *, seconds: float, count: int, concurrency: int
) -> dict[str, float]:
    """Calls per second of each side, median of ``count`` interleaved rounds of ``seconds``."""
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(count):
        for name, call in sides.items():
            rates[name].append(await _rate(call, seconds=seconds, concurrency=concurrency))
    return {f"{label}_{name}_per_s": round(statistics.median(values), 1) for name, values in rates.items()}


async def use_cases(url: str, key: SigningKey, options: argparse.Namespace) -> dict[str, float]:
    from fapiao_server.cache.invoices import CachedInvoices, CachePolicy
    from fapiao_server.cache.near import NearCache
    from fapiao_server.keys.data_keys import prepare_keys
    from fapiao_server.keys.encryption import Keyring, MasterKey
    from fapiao_server.services.lifecycle import LifecycleService
    from fapiao_server.services.verification import VerificationService
    from fapiao_server.storage.database import create_pool
    from fapiao_server.storage.invoices import PostgresInvoices
    from fapiao_server.storage.issuing import PostgresIssuer
    from fapiao_server.storage.lifecycle import PostgresLifecycle
    from fapiao_server.storage.verification_records import GroupCommitRecorder, PostgresVerificationRecords

    pool = create_pool(url, min_size=10, max_size=10, acquire_timeout=5, statement_timeout_ms=5000)
    await pool.open(wait=True)
    # Both sides seal personal details as the server does; only signing differs.
    keyring = Keyring(MasterKey(os.urandom(32)))
    await asyncio.to_thread(prepare_keys, url, keyring)
    actor = issuing_taxpayer()
    try:
        unsigned = LifecycleService(PostgresLifecycle(pool, keyring), PostgresIssuer(pool, keyring))
        signing = LifecycleService(
            PostgresLifecycle(pool, keyring, signer=key), PostgresIssuer(pool, keyring, signer=key)
        )
        requests = [issue_request(3, variant) for variant in range(len(DIVISIONS) * len(TYPES))]
        request = requests[len(DIVISIONS)]  # a type 04, verified by its check code
        turn = itertools.count()

        def issue(service: LifecycleService) -> Awaitable[object]:
            return service.issue(requests[next(turn) % len(requests)], actor=actor, request_id="")

        report = await rounds(
            "issue_invoice",
            {"unsigned": lambda: issue(unsigned), "signed": lambda: issue(signing)},
            seconds=options.seconds,
            count=options.rounds,
            concurrency=options.concurrency,
        )
        invoice = await signing.issue(request, actor=actor, request_id="")
        records = PostgresVerificationRecords(pool)
        recorder = GroupCommitRecorder(records)
        near = NearCache(max_entries=1000, ttl_seconds=600, negative_ttl_seconds=30)
        lookup = CachedInvoices(PostgresInvoices(pool, keyring), near=near, shared=None, policy=CachePolicy(600, 30))
        verification = VerificationService(lookup, recorder, records, signer=key)
        day = invoice.issue_date
        asked = VerificationRequest(
            invoice.invoice_code, invoice.invoice_number, (day.year, day.month, day.day),
            ("check_code", invoice.check_code[-6:]),
        )  # fmt: skip
        assert (await verification.verify(asked, caller="bench")).invoice is not None  # warm and matching
        report |= await rounds(
            "verify_invoice_warm",
            {
                "plain": lambda: verification.verify(asked, caller="bench"),
                "with_receipt": lambda: verification.verify(asked, caller="bench", with_receipt=True),
            },
            seconds=options.seconds,
            count=options.rounds,
            concurrency=options.concurrency,
        )
        answer = await verification.verify(asked, caller="bench")
        report["receipt_alone_us"] = round(
            min(
                timeit.repeat(
                    lambda: receipt(answer.record, asked, invoice, key, receipt_id=str(uuid.uuid4())),
                    number=2000,
                    repeat=5,
                )
            )
            / 2000
            * 1e6,
            1,
        )
        await recorder.close()
        return report
    finally:
        await pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per round (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side (default 3)")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent callers (default 64)")
    options = parser.parse_args()
    admin = os.environ.get("FAPIAO_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "key.pem"
        create_key_file(path)
        key = SigningKey.load(path)
    report: dict[str, Any] = {k: round(v, 1) for k, v in micro(key).items()}
    name, url = create_database(admin)
    try:
        migrate(url, today=business_date(utc_now()))
        report |= asyncio.run(use_cases(url, key, options))
    finally:
        drop_database(admin, name)
    for field, value in report.items():
        print(f"{field:40} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
