"""Who is calling. Until authentication lands (issue 4), a caller names itself with the ``x-fapiao-caller``
metadata header, and callers that do not are "anonymous"; the history is kept per caller either way."""

from __future__ import annotations

import re
from collections.abc import Iterable

import grpc

from ..domain.errors import FieldViolation, InvalidArgument

CALLER_HEADER = "x-fapiao-caller"
ANONYMOUS = "anonymous"
_CALLER = re.compile(r"^[A-Za-z0-9._:@/-]{1,128}$")


def caller_of(context: grpc.aio.ServicerContext) -> str:
    return caller_in(context.invocation_metadata())


def caller_in(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The caller named by request metadata (as interceptors see it, before a servicer context exists)."""
    for key, value in metadata or ():
        if key == CALLER_HEADER:
            if not isinstance(value, str) or not _CALLER.match(value):
                raise InvalidArgument(
                    [FieldViolation(CALLER_HEADER, "1-128 characters of A-Z a-z 0-9 . _ : @ / -")],
                    reason="INVALID_CALLER",
                )
            return value
    return ANONYMOUS
