"""The register's own commands: serve, migrate, seed, bootstrap-admin, signing-key. Only argparse is imported up
front, so `fapiao verify` never pays for (or needs) the server's dependencies."""

from __future__ import annotations

import argparse
import shlex
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from fapiao_client.cli.examples import examples

from .register import (
    fapiao_command,
    keyring_for,
    migrate_now,
    open_database,
    open_register,
    settings_from,
    usable_database,
)


def add_commands(commands: Any) -> None:
    """Register serve / migrate / seed / bootstrap-admin / signing-key on the CLI's subparsers."""
    serve = commands.add_parser(
        "serve",
        help="run the gRPC server",
        **examples(
            "fapiao serve --demo                            # embedded PostgreSQL, demo principals, commands to try",
            "fapiao serve --listen 0.0.0.0:50051 --workers 4 # behind a balancer; TLS settings: docs/security.md",
            "fapiao serve --data-dir /srv/fapiao            # the embedded register in another folder",
        ),
    )
    serve.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (FAPIAO_LISTEN)")
    serve.add_argument("--workers", type=int, metavar="N", help="worker processes sharing the port (FAPIAO_WORKERS)")
    serve.add_argument("--data-dir", type=Path, help="where the embedded PostgreSQL keeps its data (FAPIAO_DATA_DIR)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed demo invoices on first start, create one demo principal per role and show commands to try",
    )
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser(
        "migrate",
        help="apply pending schema migrations",
        **examples("fapiao migrate                                 # FAPIAO_DATABASE_URL, or the embedded register"),
    )
    migrate.add_argument("--data-dir", type=Path, help="embedded PostgreSQL data folder (FAPIAO_DATA_DIR)")
    migrate.set_defaults(handler=_migrate)

    seed = commands.add_parser(
        "seed",
        help="fill the register with realistic invoices of every type",
        **examples(
            "fapiao seed --invoices 20000                   # enough for a load test's sample",
            "fapiao seed --invoices 1000000 --seed 7        # another million, drawn differently",
        ),
    )
    seed.add_argument("--invoices", type=int, required=True, metavar="N", help="how many invoices to add")
    seed.add_argument("--seed", type=int, default=1, help="random seed (same seed, same invoices modulo numbers)")
    seed.add_argument("--data-dir", type=Path, help="embedded PostgreSQL data folder (FAPIAO_DATA_DIR)")
    seed.set_defaults(handler=_seed)

    bootstrap = commands.add_parser(
        "bootstrap-admin",
        help="create an ADMIN principal straight in the database and print an API key for it",
        **examples(
            "fapiao bootstrap-admin                         # principal 'admin'; its new API key is the last line",
            "fapiao bootstrap-admin --id ops-admin | tail -n 1",
        ),
    )
    bootstrap.add_argument("--id", default="admin", help="the administrator's principal id (default: admin)")
    bootstrap.add_argument("--data-dir", type=Path, help="embedded PostgreSQL data folder (FAPIAO_DATA_DIR)")
    bootstrap.set_defaults(handler=_bootstrap_admin)

    key = commands.add_parser(
        "signing-key",
        help="the register's Ed25519 signing key (see docs/signing.md)",
        **examples("fapiao signing-key new /etc/fapiao/signing-key-2027.pem"),
    )
    key_commands = key.add_subparsers(title="signing-key commands", metavar="COMMAND", required=True)
    new_key = key_commands.add_parser(
        "new",
        help="write a new key file (0600) to rotate to: FAPIAO_SIGNING_KEY_FILE",
        **examples("fapiao signing-key new /etc/fapiao/signing-key-2027.pem  # then FAPIAO_SIGNING_KEY_FILE names it"),
    )
    new_key.add_argument("file", type=Path, help="where to write it (must not exist)")
    new_key.set_defaults(handler=_new_signing_key)


def _usable_tls_files(settings: Any) -> None:
    from ..security.tls_files import check_tls_files

    if problems := check_tls_files(settings):
        for problem in problems:
            print(f"fapiao: {problem}", file=sys.stderr)
        raise SystemExit(2)


def _signing_key(settings: Any) -> Any:
    """The fleet's signing key (created under the data dir on a fresh machine); a bad key file ends the command."""
    from ..keys.signing import signing_key

    try:
        return signing_key(settings.signing_key_file, settings.data_dir)
    except (OSError, ValueError) as error:
        print(f"fapiao: FAPIAO_SIGNING_KEY_FILE: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _publish_signing_key(url: str, key: Any) -> None:
    """List the key in the register before any worker signs with it, so every signature names a published key."""
    import psycopg

    from ..keys.published import publish_signing_key
    from ..storage.database import storage_errors

    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        publish_signing_key(conn, key.key_id, key.public_key)


def _new_signing_key(options: argparse.Namespace) -> int:
    from ..keys.signing import SigningKey, create_key_file

    if not create_key_file(options.file):
        print(f"fapiao: {options.file} exists; choose a new file for the new key", file=sys.stderr)
        return 2
    print(f"wrote signing key {SigningKey.load(options.file).key_id} to {options.file}")
    return 0


def _migrate(options: argparse.Namespace) -> int:
    with ExitStack() as stack:
        open_database(options, stack)
    print("schema is up to date")
    return 0


def _seed(options: argparse.Namespace) -> int:
    from rich.progress import Progress

    from ..domain.calendar import utc_now
    from ..storage.bulk import seed_register

    if options.invoices <= 0:
        print("--invoices must be positive", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        settings, url = open_database(options, stack)
        keyring = keyring_for(settings, url)
        # Seeded invoices are signed like issued ones, so the key is published for checking them.
        signer = _signing_key(settings)
        _publish_signing_key(url, signer)
        with Progress(transient=False) as progress:
            task = progress.add_task("seeding invoices", total=options.invoices)
            count = seed_register(
                url,
                options.invoices,
                keyring,
                seed=options.seed,
                now=utc_now(),
                signer=signer,
                on_batch=lambda n: progress.advance(task, n),
            )
    print(f"added {count} invoices")
    return 0


def _bootstrap_admin(options: argparse.Namespace) -> int:
    from ..domain.access import Principal, PrincipalAccount, Role
    from ..domain.errors import AlreadyExists, InvalidArgument
    from .provisioning import provision, record_maintenance

    admin = PrincipalAccount(Principal(options.id, Role.ADMIN, display_name="administrator"))
    with ExitStack() as stack:
        url, keyring = open_register(options, stack)
        try:
            (done,) = provision(url, keyring, [admin], description="fapiao bootstrap-admin")
        except (InvalidArgument, AlreadyExists) as error:
            print(f"fapiao: {error}", file=sys.stderr)
            return 2
        record_maintenance(url, "fapiao bootstrap-admin", f"principals/{options.id}", {"created": str(done.created)})
    state = "created" if done.created else "already existed; a new key was added"
    print(f"principal {options.id} (ADMIN) {state}. Its API key, shown once:\n{done.api_key}", flush=True)
    print(f"Use it with: FAPIAO_TOKEN=<key> {fapiao_command()} admin principals list", file=sys.stderr)
    return 0


# Addresses a server listens on but no client can dial by; a client needs one of the certificate's names instead.
UNSPECIFIED_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def _tls_for_clients(settings: Any, listen_host: str) -> tuple[str, str, list[str]]:
    """For the commands the banner prints: the host clients dial, the flags they need for this server's TLS, and
    lines about the listeners. The server holds only its own certificate; the CA clients must trust is the
    certificate file itself when self-signed, or the CA file found beside it (`fapiao dev-certs` writes ca.pem
    there), else a placeholder the lines explain."""
    if settings.tls_cert_file is None:
        return listen_host, "", []
    from ..security.tls_files import certificate_names, trust_anchor

    names = certificate_names(settings.tls_cert_file)
    host = listen_host
    if host in UNSPECIFIED_HOSTS and names:
        host = next((n for n in ("127.0.0.1", "localhost", "::1") if n in names), names[0])
        host = f"[{host}]" if ":" in host else host
    anchor = trust_anchor(settings.tls_cert_file)
    if anchor is not None:
        ca = shlex.quote(str(anchor))
        trusted = f"clients trust {anchor} (--ca-cert)"
    else:
        ca = "CA_FILE"
        trusted = "clients trust the CA that signed it: --ca-cert CA_FILE below stands for that CA's certificate"
    lines = [f"  TLS: certificate {settings.tls_cert_file}; {trusted}"]
    if settings.mtls_listen is not None:
        lines.append(
            f"  mutual TLS: {settings.mtls_listen}, for client certificates signed by {settings.mtls_client_ca_file}"
            " (--client-cert, --client-key); their common name is a principal's certificate_name"
        )
    return host, f" --ca-cert {ca}", lines


def _serve(options: argparse.Namespace) -> int:
    import asyncio
    import signal

    from ..storage.migrations import pending_migrations
    from .demo import prepare_demo
    from .supervisor import Endpoint, Fleet, PortTaken, claim_port, configure_logging, resolve_database, run_worker

    settings = settings_from(options)
    _usable_tls_files(settings)
    configure_logging(settings.log_level, settings.log_format)
    with ExitStack() as stack:
        endpoint = Endpoint.parse(settings.listen)
        try:
            reserved = claim_port(endpoint, workers=settings.workers)
        except PortTaken as error:
            print(f"fapiao: {error}; is another `fapiao serve` running there?", file=sys.stderr)
            return 2
        if reserved is not None:
            stack.callback(reserved.close)
            endpoint = Endpoint(endpoint.host, reserved.getsockname()[1])
        node_metrics = None
        if settings.metrics_listen:
            from ..telemetry.node_metrics import NodeMetrics

            try:
                node_metrics = NodeMetrics(settings.metrics_listen, workers=settings.workers)
            except OSError as error:
                print(f"fapiao: FAPIAO_METRICS_LISTEN {settings.metrics_listen}: {error.strerror}", file=sys.stderr)
                return 2
            stack.callback(node_metrics.close)
        url, database = resolve_database(settings, stack)
        usable_database(url)
        if settings.migrate_on_start:
            migrate_now(url)
        elif pending := pending_migrations(url):
            names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
            print(
                f"fapiao: the schema is behind this version ({names} not applied); run `fapiao migrate`",
                file=sys.stderr,
            )
            return 2
        # Here, once, before any worker: the first data key is created and a wrong master key stops the start; the
        # signing key is made (if need be) and published.
        keyring = keyring_for(settings, url)
        key = _signing_key(settings)
        _publish_signing_key(url, key)
        demo = prepare_demo(url, keyring, key, settings.data_dir, fapiao_command()) if options.demo else None
        cache = "a near cache per worker" + (", then Redis at FAPIAO_REDIS_URL" if settings.redis_url else "")
        cache = cache if settings.cache == "on" else "off (every lookup reads PostgreSQL)"

        dial_host, connection, tls_lines = _tls_for_clients(settings, endpoint.host)

        def banner(port: int) -> None:
            bound = Endpoint(endpoint.host, port)
            print(f"fapiao: serving on {bound} with {settings.workers} worker(s)", flush=True)
            for line in tls_lines:
                print(line, flush=True)
            print(f"  database: {database}\n  cache: {cache}\n  signing key: {key.key_id}", flush=True)
            if node_metrics is not None:
                host = Endpoint.parse(settings.metrics_listen).host
                print(f"  metrics: http://{host}:{node_metrics.port}/metrics", flush=True)
            if demo is not None:
                print(demo(str(Endpoint(dial_host, port)), connection), flush=True)

        if settings.workers == 1:
            asyncio.run(run_worker(settings, url, banner, node_metrics=node_metrics))
            return 0
        fleet = Fleet(settings, url, str(endpoint), metrics=node_metrics)
        signal.signal(signal.SIGTERM, fleet.request_stop)
        signal.signal(signal.SIGINT, fleet.request_stop)
        try:
            fleet.start(settings.workers)
        except RuntimeError as error:
            print(f"fapiao: {error}", file=sys.stderr)
            fleet.stop()
            return 1
        banner(endpoint.port)
        return fleet.supervise()
