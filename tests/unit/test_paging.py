"""AIP-158 paging: page sizes and opaque page tokens bound to their query."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from fapiao_server.domain.errors import InvalidArgument
from fapiao_server.services.paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    decode_token,
    decode_values,
    encode_token,
    encode_values,
    fingerprint,
    page_limit,
)

AFTER = (datetime(2026, 11, 27, 2, 30, 15, 123456, tzinfo=UTC), 4242)
OWNER = fingerprint("caller-a", ("011001605111", None, None))


@pytest.mark.parametrize(
    ("page_size", "limit"),
    [(0, DEFAULT_PAGE_SIZE), (1, 1), (50, 50), (999, 999), (1000, 1000), (1001, 1000), (10**9, MAX_PAGE_SIZE)],
)
def test_page_limit(page_size: int, limit: int) -> None:
    assert (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) == (50, 1000)
    assert page_limit(page_size) == limit


@pytest.mark.parametrize("page_size", [-1, -1000])
def test_negative_page_size(page_size: int) -> None:
    with pytest.raises(InvalidArgument) as caught:
        page_limit(page_size)
    assert [v.field for v in caught.value.violations] == ["page_size"]
    assert caught.value.reason == "INVALID_PAGE_SIZE"


def test_token_round_trip() -> None:
    token = encode_token(AFTER, OWNER)
    assert decode_token(token, OWNER) == AFTER


def test_token_keeps_the_offset_of_the_instant() -> None:
    shanghai = datetime(2026, 11, 27, 10, 30, tzinfo=timezone(timedelta(hours=8)))
    decoded = decode_token(encode_token((shanghai, 1), OWNER), OWNER)
    assert decoded == (shanghai, 1)
    assert decoded[0].utcoffset() == timedelta(hours=8)


def test_token_is_url_safe_and_unpadded() -> None:
    for record_id in range(1, 40):
        token = encode_token((AFTER[0], record_id), OWNER)
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_empty_token_starts_at_the_beginning() -> None:
    assert decode_token("", OWNER) is None


def test_fingerprint_depends_on_every_part() -> None:
    assert fingerprint("a", 1) == fingerprint("a", 1)
    assert len({fingerprint("a", 1), fingerprint("b", 1), fingerprint("a", 2), fingerprint("a", 1, None)}) == 4


def test_token_of_another_query_is_rejected() -> None:
    token = encode_token(AFTER, fingerprint("caller-a", ("011001605111", None, None)))
    with pytest.raises(InvalidArgument) as caught:
        decode_token(token, fingerprint("caller-a", ("011001605111", None, 2)))
    assert [v.field for v in caught.value.violations] == ["page_token"]
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
    assert "other filters" in caught.value.violations[0].description


def _raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!!",
        "a",
        "\u00e9t\u00e9",
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        _raw(None),
        _raw(5),
        _raw("abc"),
        _raw([]),
        _raw(["2026-11-27T02:30:15+00:00", 1]),
        _raw(["not a time", 1, OWNER]),
        _raw([12345, 1, OWNER]),
        _raw(["2026-11-27T02:30:15+00:00", "x", OWNER]),
        _raw(["2026-11-27T02:30:15+00:00", [1], OWNER]),
        _raw({"at": 1, "id": 2, "owner": 3}),
    ],
)
def test_garbage_token_is_rejected_on_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_token(token, OWNER)
    assert [v.field for v in caught.value.violations] == ["page_token"]
    assert caught.value.reason == "INVALID_PAGE_TOKEN"


def test_integer_keyset_round_trips_and_is_bound_to_its_query() -> None:
    token = encode_values((2**63 - 1, 7), OWNER)
    assert decode_values(token, OWNER, 2) == (2**63 - 1, 7)
    assert decode_values("", OWNER, 2) is None
    with pytest.raises(InvalidArgument, match="other filters"):
        decode_values(token, "another", 2)


@pytest.mark.parametrize(
    "values",
    [
        [2**63, 1, OWNER],
        [-1, 1, OWNER],
        [1, OWNER],
        [1, 2, 3, OWNER],
        [True, 1, OWNER],
        [1.5, 1, OWNER],
        ["1", 1, OWNER],
    ],
)
def test_integer_keyset_refuses_what_it_never_issued(values: list[object]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_values(_raw(values), OWNER, 2)
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
