"""The chaos suite's fleet: three nodes behind Envoy on a PostgreSQL and a Redis of its own, shared by the suite's
tests (starting it costs more than most of them) and made whole again before each one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.envoy import require_envoy

from .fleet import ChaosFleet


@pytest.fixture(scope="session")
def chaos_fleet() -> Iterator[ChaosFleet]:
    require_envoy()
    fleet = ChaosFleet(nodes=3)
    try:
        yield fleet.start()
    finally:
        fleet.close()


@pytest.fixture
def fleet(chaos_fleet: ChaosFleet) -> ChaosFleet:
    chaos_fleet.heal()
    return chaos_fleet
