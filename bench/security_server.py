"""One worker of the real register, assembled with one of three front doors, for bench/security.py.

    python bench/security_server.py --variant open|gate|limited

Every variant is ``fapiao_server.app.Application`` (pools, Redis cache, services, audit trail, servicers) with
its server rebuilt by ``transport.server.create_server`` from the same parts; only the ``gate`` differs:

- ``open``: ``gate=None``. The one interceptor still parses every request, so what the other variants add is
  authentication and authorisation alone. Servicers read the caller from a context variable the gate would
  set; here it is set once, before the server starts, and every call's task inherits it, so it costs nothing.
- ``gate``: the real AccessGate (bearer API key or access token, policy table, principal bound per call) with
  a rate limiter that admits everything without counting, so the fleet limiter is not part of the figure.
- ``limited``: the real AccessGate and the real FleetRateLimiter over Redis, at the rate the environment sets.

Prints the real server's banner ("fapiao: serving on HOST:PORT with 1 worker(s)") once serving, and drains on
SIGTERM or SIGINT. Settings come from FAPIAO_* variables as for ``fapiao serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from fapiao_server.app import Application, listeners
from fapiao_server.config import Settings
from fapiao_server.domain.access import Principal, Role
from fapiao_server.entrypoints.supervisor import configure_logging
from fapiao_server.transport.access_gate import AccessGate
from fapiao_server.transport.audit_trail import AuditTrail, refusal_recorder
from fapiao_server.transport.caller import bind_principal
from fapiao_server.transport.policy import AUDITED, REFUSALS_AUDITED
from fapiao_server.transport.server import create_server

VARIANTS = ("open", "gate", "limited")
# The caller the open variant's calls act as: a verifier, as the gated variants' principals are.
OPEN_PRINCIPAL = Principal("bench-security-open", Role.VERIFIER)


class AdmitAll:
    """A rate limiter that admits every call at once: the gate's own cost without the fleet limiter's."""

    async def admit(self, principal: str, rate: float | None = None) -> None:
        return None


def access_gate(app: Application, variant: str) -> AccessGate | None:
    """The front door of ``variant`` over the application's authenticator, limiter and audit log."""
    if variant == "open":
        return None
    limiter = app.rate_limiter if variant == "limited" else AdmitAll()
    return AccessGate(app.authenticator, limiter, on_refusal=refusal_recorder(app.audit))  # type: ignore[arg-type]


def rebuild_server(app: Application, variant: str) -> None:
    """Replace the application's (not yet started) server with one whose gate is ``variant``'s."""
    settings = app.settings
    app.server, app.ports = create_server(
        listeners(settings),
        app.servicers,
        app.health,
        gate=access_gate(app, variant),
        max_message_bytes=settings.max_message_bytes,
        audit_trail=AuditTrail(app.audit, AUDITED, refusals_of=REFUSALS_AUDITED),
    )
    app.port = app.ports[0]


async def serve(variant: str) -> None:
    settings = Settings()
    if settings.database_url is None:
        raise SystemExit("FAPIAO_DATABASE_URL must name the bench database")
    app = Application(settings, settings.database_url)
    rebuild_server(app, variant)
    if variant == "open":
        # Before start(): the server's tasks, and so every call's, copy this context.
        bind_principal(OPEN_PRINCIPAL)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port = await app.start()
    host = settings.listen.rsplit(":", 1)[0]
    print(f"fapiao: serving on {host}:{port} with 1 worker(s) (pid {os.getpid()}, {variant})", flush=True)
    await stop.wait()
    await app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    options = parser.parse_args()
    configure_logging(Settings().log_level)
    asyncio.run(serve(options.variant))


if __name__ == "__main__":
    main()
