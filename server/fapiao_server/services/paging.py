"""AIP-158 page tokens: opaque, URL-safe, bound to the query they continue."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from ..domain.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the token of the next ('' on the last page), AIP-158."""

    items: list[T]
    next_page_token: str


def page_limit(page_size: int) -> int:
    """AIP-158: 0 means the default; above the maximum is coerced down; negative is an error."""
    if page_size < 0:
        raise InvalidArgument([FieldViolation("page_size", "must not be negative")], reason="INVALID_PAGE_SIZE")
    return min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def fingerprint(*parts: object) -> str:
    """A short digest of the query a token belongs to, so a token cannot continue a different query."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _pack(values: list[object], query_fingerprint: str) -> str:
    body = json.dumps([*values, query_fingerprint], separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _unpack(token: str, query_fingerprint: str, check: Callable[[list[Any]], T]) -> T:
    """The keyset ``check`` makes of a token's values; a corrupt token, one ``check`` refuses (ValueError or
    TypeError) or one of another query is an INVALID_ARGUMENT on page_token."""
    try:
        *values, owner = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        cursor = check(values)
    except (ValueError, TypeError):
        raise _bad_token("is not a page token this service issued") from None
    if owner != query_fingerprint:
        raise _bad_token("belongs to a listing with other filters; start again without it")
    return cursor


def _bad_token(description: str) -> InvalidArgument:
    return InvalidArgument([FieldViolation("page_token", description)], reason="INVALID_PAGE_TOKEN")


def encode_token(after: tuple[datetime, int], query_fingerprint: str) -> str:
    """A page token for a (time, id) keyset."""
    return _pack([after[0].isoformat(), after[1]], query_fingerprint)


def decode_token(token: str, query_fingerprint: str) -> tuple[datetime, int] | None:
    """The (time, id) keyset in ``token`` ('' -> None)."""

    def check(values: list[Any]) -> tuple[datetime, int]:
        at, record_id = values
        if type(record_id) is not int:
            raise TypeError("record id")
        return datetime.fromisoformat(at), record_id

    return _unpack(token, query_fingerprint, check) if token else None


def encode_values(values: tuple[int, ...], query_fingerprint: str) -> str:
    """A page token for an integer keyset (such as an event position)."""
    return _pack(list(values), query_fingerprint)


def decode_values(token: str, query_fingerprint: str, size: int) -> tuple[int, ...] | None:
    """The ``size`` integers in ``token`` ('' -> None)."""

    def check(values: list[Any]) -> tuple[int, ...]:
        # Keys are PostgreSQL bigints: a value outside them never came from this service.
        if len(values) != size or not all(type(v) is int and 0 <= v < 2**63 for v in values):
            raise TypeError("values")
        return tuple(values)

    return _unpack(token, query_fingerprint, check) if token else None


def encode_text(after: str, query_fingerprint: str) -> str:
    """A page token for a text keyset (such as a principal id)."""
    return _pack([after], query_fingerprint)


def decode_text(token: str, query_fingerprint: str) -> str | None:
    """The text keyset in ``token`` ('' -> None)."""

    def check(values: list[Any]) -> str:
        (after,) = values
        if type(after) is not str:
            raise TypeError("keyset")
        return after

    return _unpack(token, query_fingerprint, check) if token else None
