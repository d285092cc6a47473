"""After a change commits, VerifyInvoice answers with the new state: at once on the server that made it, within
1 second on every other. Two single-worker servers A and B share PostgreSQL and one Redis namespace; before each
change both have verified the invoice, so both near caches and Redis hold the old answer (or the old absence).

Each test prints the measured lag of the other server (pytest -s shows it): the time from the change's answer
to that server's first answer with the new state, polling it back to back.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import grpc
import psycopg
import pytest
import redis

from fapiao.v1 import invoice_pb2
from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import invoice_service_pb2_grpc as pb_grpc
from fapiao.v1 import lifecycle_pb2 as lc
from fapiao.v1 import verification_service_pb2 as vpb
from fapiao.v1 import verification_service_pb2_grpc as vpb_grpc
from fapiao_client import verify_request
from fapiao_server.domain.calendar import business_date, utc_now
from fapiao_server.domain.invoice_types import InvoiceType
from fapiao_server.domain.issuing import number_prefix, seller_region
from tests.support.access import authorized
from tests.support.fleet import (
    by_id,
    issue_request,
    new_request_id,
    new_tax_id,
    pool_key,
    start_servers,
    stop_servers,
)
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow
REPETITIONS = 20
BOUND = 1.0  # seconds: the promise for every other worker
MATCH, NOT_FOUND = vpb.VERIFICATION_OUTCOME_MATCH, vpb.VERIFICATION_OUTCOME_NOT_FOUND
VAT_GENERAL, E_VAT_GENERAL = invoice_pb2.INVOICE_TYPE_VAT_GENERAL, invoice_pb2.INVOICE_TYPE_E_VAT_GENERAL
ISSUED, VOIDED, FULL = (
    invoice_pb2.INVOICE_STATE_ISSUED,
    invoice_pb2.INVOICE_STATE_VOIDED,
    invoice_pb2.INVOICE_STATE_FULLY_REVERSED,
)


class Node:
    """One server as a client sees it: its two services on a connection of its own."""

    def __init__(self, server: ServerProcess, key: str) -> None:
        self.channel = authorized(
            grpc.insecure_channel(server.address, options=[("grpc.use_local_subchannel_pool", 1)]), key
        )
        self.invoices = pb_grpc.InvoiceServiceStub(self.channel)
        self.verification = vpb_grpc.VerificationServiceStub(self.channel)

    def verify(self, invoice: Any, check_code: str | None = None) -> vpb.VerifyInvoiceResponse:
        day = invoice.issue_date
        request = verify_request(
            invoice_code=invoice.invoice_code,
            invoice_number=invoice.invoice_number,
            issue_date=date(day.year, day.month, day.day),
            check_code=(check_code or invoice.check_code)[-6:],
        )
        return self.verification.VerifyInvoice(request, timeout=5)

    def state(self, invoice: Any) -> int:
        answer = self.verify(invoice)
        assert answer.outcome == MATCH, answer
        return answer.invoice.state


@pytest.fixture(scope="module")
def pair(database_url: str, redis_url: str) -> Iterator[list[ServerProcess]]:
    servers = start_servers(database_url, redis_url)
    yield servers
    stop_servers(servers)


@pytest.fixture(scope="module")
def nodes(pair: list[ServerProcess], database_url: str) -> Iterator[list[Node]]:
    key = pool_key(database_url)  # one taxpayer acting for every tax id new_tax_id hands out
    opened = [Node(server, key) for server in pair]
    yield opened
    for node in opened:
        node.channel.close()


@pytest.fixture(scope="module")
def shared_cache(pair: list[ServerProcess], redis_url: str) -> Iterator[Any]:
    """Whether the servers' shared Redis holds an entry (positive or negative) for an invoice."""
    prefix = pair[0].env["FAPIAO_REDIS_KEY_PREFIX"]
    client = redis.Redis.from_url(redis_url)

    def holds(invoice: Any) -> bool:
        return bool(client.exists(f"{prefix}inv:{invoice.invoice_code}:{invoice.invoice_number}"))

    yield holds
    client.close()


class Lags:
    """How long the other server took to answer with the new state, and how many old answers it gave first."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.stale = 0

    def until(self, node: Node, invoice: Any, since: float, state: int | None = None) -> None:
        """Poll ``node`` back to back until it finds the invoice (in ``state``, if given); fail once BOUND has
        passed since ``since``."""
        while (answer := node.verify(invoice)).outcome != MATCH or state not in (None, answer.invoice.state):
            self.stale += 1
            assert time.perf_counter() - since < BOUND, f"still the old answer {BOUND} s after the change"
        self.seconds.append(time.perf_counter() - since)

    def report(self, what: str) -> None:
        ms = sorted(lag * 1000 for lag in self.seconds)
        print(
            f"\n{what}: the other server answered the new state after median {statistics.median(ms):.1f} ms, "
            f"max {ms[-1]:.1f} ms over {len(ms)} changes ({self.stale} old answers before it; bound {BOUND:.0f} s)"
        )


def warmed(nodes: list[Node], holds: Any, invoice: Any) -> None:
    for node in nodes:
        assert node.state(invoice) == ISSUED
    assert holds(invoice), "the shared cache should hold the invoice before the change"


def test_a_void_is_answered_at_once_where_made_and_within_a_second_elsewhere(
    nodes: list[Node], shared_cache: Any
) -> None:
    seller = new_tax_id()
    lags = Lags()
    for n in range(REPETITIONS):
        changer, other = (nodes[0], nodes[1]) if n % 2 == 0 else (nodes[1], nodes[0])
        invoice = changer.invoices.IssueInvoice(issue_request(VAT_GENERAL, seller), timeout=10).invoice
        warmed(nodes, shared_cache, invoice)
        changer.invoices.VoidInvoice(
            pb.VoidInvoiceRequest(request_id=new_request_id(), invoice=by_id(invoice.id)), timeout=10
        )
        changed = time.perf_counter()
        assert changer.state(invoice) == VOIDED, "the server that voided it answered with the old state"
        lags.until(other, invoice, changed, VOIDED)
    lags.report("void")


def test_a_reversal_is_answered_at_once_where_made_and_within_a_second_elsewhere(
    nodes: list[Node], shared_cache: Any
) -> None:
    seller = new_tax_id()
    lags = Lags()
    for n in range(REPETITIONS):
        changer, other = (nodes[0], nodes[1]) if n % 2 == 0 else (nodes[1], nodes[0])
        invoice = changer.invoices.IssueInvoice(issue_request(E_VAT_GENERAL, seller), timeout=10).invoice
        warmed(nodes, shared_cache, invoice)
        form = changer.invoices.CreateRedLetterForm(
            pb.CreateRedLetterFormRequest(
                request_id=new_request_id(),
                invoice=by_id(invoice.id),
                reason=lc.RED_LETTER_REASON_ISSUED_IN_ERROR,
                initiator=lc.TRADE_PARTY_SELLER,
            ),
            timeout=10,
        ).form
        assert other.state(invoice) == ISSUED  # a form alone changes nothing a verification shows
        red = changer.invoices.IssueRedInvoice(
            pb.IssueRedInvoiceRequest(request_id=new_request_id(), form_id=form.id), timeout=10
        ).invoice
        changed = time.perf_counter()
        assert changer.state(invoice) == FULL, "the server that reversed it answered with the old state"
        lags.until(other, invoice, changed, FULL)
        for node in nodes:
            answer = node.verify(red)
            assert answer.outcome == MATCH and answer.invoice.red_letter
            assert answer.invoice.original_invoice.id == invoice.id
    lags.report("red-letter reversal")


def test_a_new_invoice_once_not_found_is_found_at_once_where_issued_and_within_a_second_elsewhere(
    nodes: list[Node], shared_cache: Any, database_url: str
) -> None:
    """Both servers (and Redis) remember "no such invoice" for the number the next issue will take."""
    seller = new_tax_id("540102")  # a region no other test issues in, so the next number is known
    prefix = number_prefix(InvoiceType.VAT_GENERAL, seller_region(seller), business_date(utc_now()))
    lags = Lags()
    for n in range(REPETITIONS // 2):
        changer, other = (nodes[0], nodes[1]) if n % 2 == 0 else (nodes[1], nodes[0])
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT next_value FROM number_counters WHERE prefix = %s", (prefix,)).fetchone()
        today = business_date(utc_now())
        expected = invoice_pb2.Invoice(
            invoice_code=prefix,
            invoice_number=f"{row[0] if row else 1:08d}",
            issue_date={"year": today.year, "month": today.month, "day": today.day},
            check_code="000000",
        )
        for node in nodes:
            assert node.verify(expected).outcome == NOT_FOUND
        assert shared_cache(expected), "the shared cache should remember the absence"
        invoice = changer.invoices.IssueInvoice(issue_request(VAT_GENERAL, seller), timeout=10).invoice
        changed = time.perf_counter()
        assert (invoice.invoice_code, invoice.invoice_number) == (expected.invoice_code, expected.invoice_number)
        assert changer.verify(invoice).outcome == MATCH, "the server that issued it still answered NOT_FOUND"
        lags.until(other, invoice, changed)
    lags.report("issue of a number verified NOT_FOUND before")
