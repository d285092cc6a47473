"""Patterns that check a whole value must not let a trailing newline through (Python's ``$`` matches before a
final newline, so ``re.match(r"^...$")`` accepts "abc\n")."""

from __future__ import annotations

import uuid

import pytest

from fapiao_server.domain.access import Principal, Role, check_principal, is_region
from fapiao_server.domain.errors import InvalidArgument
from fapiao_server.security.tokens import new_api_key, new_refresh_token, parse_api_key, parse_refresh_token


def test_principal_ids_and_regions_are_whole_matches() -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_principal(Principal("alice\n", Role.TAX_OFFICER, regions=frozenset({"1100\n"})), None, field_prefix="p")
    fields = {violation.field for violation in refused.value.violations}
    assert fields == {"p.id", "p.regions[0]"}
    assert is_region("1100") and not is_region("1100\n") and not is_region("११००")


def test_credentials_with_a_trailing_newline_are_not_well_formed() -> None:
    _, key = new_api_key()
    assert parse_api_key(key) is not None
    assert parse_api_key(key + "\n") is None
    token = new_refresh_token(uuid.uuid4())
    assert parse_refresh_token(token) is not None
    assert parse_refresh_token(token + "\n") is None
