"""Who is calling: the principal the access gate authenticated for this call, kept in a context variable that
the servicer methods of the same call read."""

from __future__ import annotations

from contextvars import ContextVar, Token

import grpc

from ..domain.access import Principal

_CURRENT: ContextVar[Principal] = ContextVar("fapiao_principal")


def bind_principal(principal: Principal) -> Token[Principal]:
    return _CURRENT.set(principal)


def principal_of(context: grpc.aio.ServicerContext) -> Principal:
    """The authenticated principal of the call ``context`` belongs to (LookupError for an open method)."""
    return _CURRENT.get()


def caller_of(context: grpc.aio.ServicerContext) -> str:
    """The id of the call's principal: what history and records name as the actor."""
    return _CURRENT.get().id
