"""Three times what the fleet can answer, offered through Envoy: the excess is refused at once with
RESOURCE_EXHAUSTED or UNAVAILABLE, never CANCELLED or INTERNAL; health stays SERVING (an overloaded node is busy,
not broken, and must not be taken out of the balancer); SDK callers meanwhile get answers or retryable refusals,
and the invoices they issue with request ids are neither lost nor doubled. The goodput (answers per second under
the flood, against the capacity measured just before) is reported as the suite's figure (docs/reliability.md)."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter

import pytest

from fapiao_client.requests import verify_request
from fapiao_server.domain.access import Role
from tests.support.access import principal_key
from tests.support.invoices import tax_id
from tests.support.server import serving

from . import checker
from .fleet import ChaosFleet
from .load import RETRYABLE, Load, verify_fields
from .overload import VERIFY, grpc_statuses, h2load, h2load_binary
from .report import report

pytestmark = pytest.mark.slow
OVERLOAD = 3
FLOOD_SECONDS = 8
OK_STATUS, CANCELLED, INTERNAL = 0, 1, 13
# What a full fleet may answer: each says "later" (RESOURCE_EXHAUSTED from a worker's admission control,
# UNAVAILABLE from Envoy's circuit breaker).
REFUSED = {8, 14}


@pytest.mark.timeout(600)
def test_three_times_capacity_is_refused_cleanly_and_loses_nothing(fleet: ChaosFleet) -> None:
    h2load_binary()
    sellers = [tax_id("110108"), tax_id("440305")]
    url = fleet.database_url
    verifier = principal_key(url, Role.VERIFIER)
    load = Load(
        fleet.target,
        taxpayer_key=principal_key(url, Role.TAXPAYER, tax_ids=sellers),
        verifier_key=verifier,
        sellers=sellers,
        issuers=2,
        verifiers=0,  # Envoy's VerifyInvoice counters must count h2load's calls alone
        voiders=1,
    ).start()
    load.run_for(2)
    invoice = load.acknowledged()[0].acknowledged
    assert invoice is not None
    request = verify_request(**verify_fields(invoice))  # type: ignore[arg-type]

    # Capacity: a closed loop with enough calls at once to keep every node busy (256 left them idle part of the
    # time: the flood then got more answered than that "capacity").
    before = grpc_statuses(fleet.admin, VERIFY)
    measured = h2load(fleet.target, VERIFY, request, verifier, requests=12_000, clients=16, streams=64)
    capacity_codes = grpc_statuses(fleet.admin, VERIFY) - before
    capacity = capacity_codes[OK_STATUS] / measured.seconds

    health: Counter[bool] = Counter()
    flooding = threading.Event()

    def watch_health() -> None:
        while flooding.is_set():
            for slot in fleet.nodes:
                health[serving(slot.address, timeout=5.0)] += 1
            time.sleep(0.25)

    clients = 16
    rate = math.ceil(OVERLOAD * capacity / clients)
    flooding.set()
    watcher = threading.Thread(target=watch_health, daemon=True)
    watcher.start()
    began = time.monotonic()
    before = grpc_statuses(fleet.admin, VERIFY)
    shed_before = fleet.envoy_stats("cluster.fapiao.upstream_rq_pending_overflow")
    try:
        flood = h2load(fleet.target, VERIFY, request, verifier, requests=rate * clients * FLOOD_SECONDS,
                       clients=clients, streams=256, rate_per_client=rate)  # fmt: skip
    finally:
        flooding.clear()
        watcher.join(30)
    flood_codes = grpc_statuses(fleet.admin, VERIFY) - before
    shed = Counter(fleet.envoy_stats("cluster.fapiao.upstream_rq_pending_overflow")) - Counter(shed_before)
    sdk = load.codes(("issue", "void"), began, began + flood.seconds)
    load.stop()

    goodput = flood_codes[OK_STATUS] / flood.seconds
    figures = {
        "scenario": f"{OVERLOAD}x overload",
        "capacity_per_s": round(capacity, 1),
        "offered_per_s": rate * clients,
        "flood_seconds": round(flood.seconds, 1),
        "goodput_per_s": round(goodput, 1),
        "goodput_ratio": round(goodput / capacity, 2),
        "flood_statuses": dict(flood_codes),
        "capacity_statuses": dict(capacity_codes),
        "sdk_changes_during_flood": dict(sdk),
        "shed_by_envoy": sum(shed.values()),
        "health_checks": {"SERVING" if k else "not SERVING": n for k, n in health.items()},
    }
    found = checker.problems(url, load)
    figures["problems"] = len(found)
    report(figures)
    assert not found, "\n".join(found[:40])
    assert sum(flood_codes.values()) == flood.requests, figures  # every call answered, none lost in between
    assert set(flood_codes) <= {OK_STATUS} | REFUSED, figures  # no CANCELLED, no INTERNAL, nothing else
    assert set(sdk) <= {"OK"} | RETRYABLE - {"DEADLINE_EXCEEDED"}, figures
    assert health[False] == 0 and health[True] > 0, figures
