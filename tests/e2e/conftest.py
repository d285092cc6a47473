"""End-to-end tests talk to real servers, which let nobody in without credentials: every e2e test runs with the
session's VERIFIER key as the default credential (FAPIAO_TOKEN) of clients and CLI runs that name none."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def default_credentials(verifier_key: str) -> str:
    return verifier_key
