"""`fapiao stats` against a real server: a seller's totals are exactly the fen of the invoices it issued (voided
ones included unless the state filter leaves them out), a tax officer gets its region's and counts only its
regions' invoices of a tax id, anybody asking for what is not theirs exits 7, and bad arguments exit 2."""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from fapiao.v1 import invoice_pb2
from fapiao_client import AsyncReportClient, InvoiceClient, fen_to_yuan
from fapiao_server.domain.access import Role
from tests.support.fleet import issue_request, new_tax_id, pool_key
from tests.support.invoices import tax_id
from tests.support.server import ServerProcess, fapiao_executable

pytestmark = pytest.mark.slow
BEIJING = timezone(timedelta(hours=8))
SUMS = ("invoice_count", "amount_fen", "tax_fen", "total_fen")
# The officer's region (Ningxia). Other tests issue there too, so its totals are compared before and after this
# test issues (tests of one run take turns); a tax id's totals are this test's invoices alone.
OFFICER_DIVISION, OFFICER_REGION = "640104", "6400"
JANUARY = ("--from", "2026-01-01", "--to", "2026-01-31")

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def taxpayer_key(database_url: str) -> str:
    """A TAXPAYER acting for every tax id tests.support.fleet.new_tax_id hands out."""
    return pool_key(database_url)


def runner(server: ServerProcess, key: str) -> Run:
    """Runs the installed `fapiao` against ``server`` as the principal of ``key``."""
    env = {**os.environ, "FAPIAO_TARGET": server.address, "FAPIAO_TOKEN": key}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(fapiao_executable()), *args], capture_output=True, text=True, timeout=60, env=env)

    return run


def answer(run: Run, *args: str) -> dict[str, Any]:
    result = run("stats", *args, "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def sums(totals: dict[str, Any]) -> tuple[int, ...]:
    """Count and fen of an InvoiceTotals as JSON (int64 written as strings; zeros left out)."""
    return tuple(int(totals.get(field, 0)) for field in SUMS)


def expected(invoices: Iterable[invoice_pb2.Invoice]) -> tuple[int, ...]:
    chosen = list(invoices)
    return (len(chosen), *(sum(getattr(invoice, field) for invoice in chosen) for field in SUMS[1:]))


def issue(key: str, server: ServerProcess, seller: str, buyer: str = "") -> list[invoice_pb2.Invoice]:
    """Four invoices of three types with amounts that leave odd fen of tax, the first of them (04) voided."""
    plans = [(4, (12_345, 7)), (4, (99_999,)), (10, (1, 2, 3)), (32, (500_050,))]
    with InvoiceClient(server.address, token=key) as client:
        invoices = [client.issue_invoice(issue_request(kind, seller, buyer, amounts)) for kind, amounts in plans]
        invoices[0] = client.void_invoice(invoices[0], reason="stats e2e")
    return invoices


def dates(invoices: Iterable[invoice_pb2.Invoice]) -> tuple[str, str]:
    """--from and --to covering the invoices' issue dates."""
    days = sorted(date(i.issue_date.year, i.issue_date.month, i.issue_date.day) for i in invoices)
    return ("--from", days[0].isoformat(), "--to", days[-1].isoformat())


def test_a_sellers_totals_are_its_invoices_fen_exactly(server: ServerProcess, taxpayer_key: str) -> None:
    seller, buyer = new_tax_id(), new_tax_id("320102")
    invoices = issue(taxpayer_key, server, seller, buyer)
    fapiao, when = runner(server, taxpayer_key), dates(invoices)

    by_type = answer(fapiao, "--seller", seller, *when, "--by", "type")
    kinds: dict[str, list[invoice_pb2.Invoice]] = defaultdict(list)
    for invoice in invoices:
        kinds[invoice_pb2.InvoiceType.Name(invoice.invoice_type)].append(invoice)
    assert [group["invoice_type"] for group in by_type["groups"]] == sorted(kinds, key=invoice_pb2.InvoiceType.Value)
    assert {group["invoice_type"]: sums(group) for group in by_type["groups"]} == {
        kind: expected(chosen) for kind, chosen in kinds.items()
    }
    assert sums(by_type["total"]) == expected(invoices), "a voided invoice counts unless the state leaves it out"
    assert sums(answer(fapiao, "--buyer", buyer, *when)["total"]) == expected(invoices)

    issued = answer(fapiao, "--seller", seller, *when, "--state", "issued", "--type", "04")
    assert sums(issued["total"]) == expected([invoices[1]])
    by_state = answer(fapiao, "--seller", seller, *when, "--by", "state")
    assert {group["state"]: sums(group) for group in by_state["groups"]} == {
        "INVOICE_STATE_ISSUED": expected(invoices[1:]),
        "INVOICE_STATE_VOIDED": expected(invoices[:1]),
    }

    people = fapiao("stats", "--seller", seller, *when, "--by", "type,state")
    assert people.returncode == 0, people.stderr
    total = expected(invoices)
    row = next(line for line in people.stdout.splitlines() if "total" in line and "(yuan)" not in line)
    assert [cell.strip() for cell in row.split("│")[-5:-1]] == [str(total[0]), *(fen_to_yuan(fen) for fen in total[1:])]
    assert "04 VAT_GENERAL" in people.stdout and "VOIDED" in people.stdout


async def test_a_tax_officer_gets_its_regions_totals(
    server: ServerProcess, taxpayer_key: str, new_key: Callable[..., str]
) -> None:
    officer_key = new_key(Role.TAX_OFFICER, regions=[OFFICER_REGION])
    today = datetime.now(BEIJING).date()
    whole_days = {"start_date": today - timedelta(days=1), "end_date": today}
    async with AsyncReportClient(server.address, token=officer_key) as reports:
        before = await reports.summarize_invoices(region_code=OFFICER_REGION, **whole_days)
        seller = new_tax_id(OFFICER_DIVISION)
        invoices = issue(taxpayer_key, server, seller)
        after = await reports.summarize_invoices(region_code=OFFICER_REGION, **whole_days, group_by=["region"])
    assert [group.region_code for group in after.groups] == [OFFICER_REGION]
    grown = tuple(getattr(after.total, field) - getattr(before.total, field) for field in SUMS)
    assert grown == expected(invoices)

    officer = runner(server, officer_key)
    of_seller = answer(officer, "--seller", seller, *dates(invoices), "--by", "region")
    assert sums(of_seller["total"]) == expected(invoices)
    assert [group["region_code"] for group in of_seller["groups"]] == [OFFICER_REGION]
    elsewhere = runner(server, new_key(Role.TAX_OFFICER, regions=["1500"]))
    assert sums(answer(elsewhere, "--seller", seller, *dates(invoices))["total"]) == (0, 0, 0, 0)
    denied = elsewhere("stats", "--region", OFFICER_REGION, *dates(invoices))
    assert denied.returncode == 7 and "PERMISSION_DENIED" in denied.stderr, denied.stderr


def test_what_is_not_the_callers_exits_7(server: ServerProcess, taxpayer_key: str, verifier_key: str) -> None:
    taxpayer, when = runner(server, taxpayer_key), JANUARY
    for whose in (["--seller", tax_id()], ["--buyer", tax_id()], ["--region", "1100"]):
        refused = taxpayer("stats", *whose, *when)
        assert refused.returncode == 7 and "PERMISSION_DENIED" in refused.stderr, (whose, refused.stderr)
    as_json = taxpayer("stats", "--seller", tax_id(), *when, "--json")
    assert as_json.returncode == 7 and json.loads(as_json.stdout)["error"]["code"] == "PERMISSION_DENIED"
    verifier = runner(server, verifier_key)("stats", "--seller", new_tax_id(), *when)
    assert verifier.returncode == 7 and "PERMISSION_DENIED" in verifier.stderr, verifier.stderr
    stranger = runner(server, "not-a-key")("stats", "--seller", new_tax_id(), *when)
    assert stranger.returncode == 7 and "UNAUTHENTICATED" in stranger.stderr, stranger.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--seller", "SELLER", "--buyer", "BUYER", *JANUARY], "not allowed with"),
        (list(JANUARY), "one of the arguments --seller --buyer --region is required"),
        (["--region", "6400", *JANUARY, "--by", "week"], "'week' is not a grouping"),
        (["--region", "6400", *JANUARY, "--type", "99"], "not an invoice type"),
        (["--region", "6400", "--from", "2025-01-01", "--to", "2026-01-02"], "--to: at most 366 days"),
        (["--region", "6400", "--from", "2026-02-01", "--to", "2026-01-31"], "--to: must not be before"),
        (["--seller", "91110108MA01ABCD0", *JANUARY], "--seller:"),
    ],
)
def test_bad_arguments_exit_2_naming_them(
    server: ServerProcess, new_key: Callable[..., str], args: list[str], says: str
) -> None:
    officer = runner(server, new_key(Role.TAX_OFFICER, regions=[OFFICER_REGION]))
    refused = officer("stats", *args)
    assert refused.returncode == 2 and says in refused.stderr, refused.stderr
