"""Server-side commands of the `fapiao` CLI: serve, migrate, seed, bootstrap-admin, signing-key (and keys, in
keys_cli). Only argparse is imported up front, so `fapiao verify` never pays for (or needs) the server's
dependencies."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

from fapiao_client.cli.examples import examples


def add_commands(commands: Any) -> None:
    """Register serve / migrate / seed / signing-key on the CLI's subparsers."""
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

    from .keys_cli import add_commands as add_key_commands

    add_key_commands(commands)

    from .local_fleet import add_command as add_fleet_command

    add_fleet_command(commands)

    from .dev_certs_cli import add_command as add_dev_certs_command

    add_dev_certs_command(commands)


# Settings whose values may carry a password or a key: a complaint about one never shows what it was given.
SECRET_SETTINGS = frozenset({"database_url", "redis_url", "token_key", "master_key", "previous_master_key"})


def _settings(options: argparse.Namespace) -> Any:
    """Settings from the environment and the flags; bad ones end the command with a list of what is wrong."""
    from pydantic import ValidationError

    from .config import Settings

    overrides = {
        name: value for name in ("listen", "workers", "data_dir") if (value := getattr(options, name, None)) is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as error:
        for problem in error.errors():
            print(f"fapiao: {_setting_problem(problem)}", file=sys.stderr)
        raise SystemExit(2) from None


def _setting_problem(problem: Any) -> str:
    from .telemetry.logs import redact_text

    message = str(problem["msg"]).removeprefix("Value error, ")
    if not problem["loc"]:
        # A check across several settings names them in its message; its input is the whole configuration (the
        # database URL and the keys among it), never shown.
        return message
    field = "_".join(str(part) for part in problem["loc"])
    if field in SECRET_SETTINGS:
        return f"FAPIAO_{field.upper()}: {message}"
    # A setting's own value, with any password in it masked all the same.
    return f"FAPIAO_{field.upper()}: {message} (got {redact_text(repr(problem.get('input')))})"


def _usable_database(url: str) -> None:
    """Connect once before any work, so a database that is missing or unreachable is one line saying what to do."""
    from .storage.connection_check import DatabaseUnusable, check_database

    try:
        check_database(url)
    except DatabaseUnusable as error:
        print(f"fapiao: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _usable_tls_files(settings: Any) -> None:
    from .security.tls_files import check_tls_files

    if problems := check_tls_files(settings):
        for problem in problems:
            print(f"fapiao: {problem}", file=sys.stderr)
        raise SystemExit(2)


def _signing_key(settings: Any) -> Any:
    """The fleet's signing key (created under the data dir on a fresh machine); a bad key file ends the command."""
    from .signing_keys import signing_key

    try:
        return signing_key(settings.signing_key_file, settings.data_dir)
    except (OSError, ValueError) as error:
        print(f"fapiao: FAPIAO_SIGNING_KEY_FILE: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _publish_signing_key(url: str, key: Any) -> None:
    """List the key in the register before any worker signs with it, so every signature names a published key."""
    import psycopg

    from .storage.database import storage_errors
    from .storage.signing_keys import publish_signing_key

    with storage_errors(), psycopg.connect(url, autocommit=True) as conn:
        publish_signing_key(conn, key.key_id, key.public_key)


def _new_signing_key(options: argparse.Namespace) -> int:
    from .signing_keys import SigningKey, create_key_file

    if not create_key_file(options.file):
        print(f"fapiao: {options.file} exists; choose a new file for the new key", file=sys.stderr)
        return 2
    print(f"wrote signing key {SigningKey.load(options.file).key_id} to {options.file}")
    return 0


def _today() -> date:
    from .domain.calendar import business_date, utc_now

    return business_date(utc_now())


def _migrate_now(url: str) -> None:
    import logging

    from .storage.migrations import migrate

    for migration in migrate(url, today=_today()):
        logging.getLogger("fapiao.migrations").info("applied migration %04d_%s", migration.version, migration.name)


def _keyring(settings: Any, url: str) -> Any:
    """The data keys for this command (the first one is created on a new register); a master key that is
    malformed or cannot unwrap them ends the command with the reason."""
    from .storage.data_keys import prepare_keys
    from .storage.encryption import MasterKeyMismatch
    from .storage.master_key import MasterKeyUnusable, configured_keyring

    try:
        keyring = configured_keyring(settings)
        prepare_keys(url, keyring)
    except (MasterKeyUnusable, MasterKeyMismatch) as error:
        print(f"fapiao: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    return keyring


def open_register(options: argparse.Namespace, stack: ExitStack) -> tuple[str, Any]:
    """For commands that work on the register's data: its URL (migrated) and its data keys."""
    from .supervisor import configure_logging, resolve_database

    settings = _settings(options)
    configure_logging(settings.log_level, settings.log_format)
    url, _ = resolve_database(settings, stack)
    _usable_database(url)
    _migrate_now(url)
    return url, _keyring(settings, url)


def _migrate(options: argparse.Namespace) -> int:
    from .supervisor import configure_logging, resolve_database

    settings = _settings(options)
    configure_logging(settings.log_level, settings.log_format)
    with ExitStack() as stack:
        url, _ = resolve_database(settings, stack)
        _usable_database(url)
        _migrate_now(url)
    print("schema is up to date")
    return 0


def _seed(options: argparse.Namespace) -> int:
    from rich.progress import Progress

    from .domain.calendar import utc_now
    from .storage.bulk import seed_register

    if options.invoices <= 0:
        print("--invoices must be positive", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        url, keyring = open_register(options, stack)
        # Seeded invoices are signed like issued ones, so the key is published for checking them.
        signer = _signing_key(_settings(options))
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
    from .domain.access import Principal, PrincipalAccount, Role
    from .domain.errors import AlreadyExists, InvalidArgument
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
    print(f"Use it with: FAPIAO_TOKEN=<key> {_fapiao_command()} admin principals list", file=sys.stderr)
    return 0


def _fapiao_command() -> str:
    """How to invoke this very CLI from a shell: `fapiao` if that is what PATH finds, else the full path."""
    invoked = Path(sys.argv[0]).resolve()
    found = shutil.which("fapiao")
    if found and Path(found).resolve() == invoked:
        return "fapiao"
    return shlex.quote(str(invoked)) if invoked.name == "fapiao" else "fapiao"


# Addresses a server listens on but no client can dial by; a client needs one of the certificate's names instead.
UNSPECIFIED_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def _tls_for_clients(settings: Any, listen_host: str) -> tuple[str, str, list[str]]:
    """For the commands the banner prints: the host clients dial, the flags they need for this server's TLS, and
    lines about the listeners. The server holds only its own certificate; the CA clients must trust is the
    certificate file itself when self-signed, or the CA file found beside it (`fapiao dev-certs` writes ca.pem
    there), else a placeholder the lines explain."""
    if settings.tls_cert_file is None:
        return listen_host, "", []
    from .security.tls_files import certificate_names, trust_anchor

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

    from .demo import prepare_demo
    from .storage.migrations import pending_migrations
    from .supervisor import Endpoint, Fleet, PortTaken, claim_port, configure_logging, resolve_database, run_worker

    settings = _settings(options)
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
            from .telemetry.node_metrics import NodeMetrics

            try:
                node_metrics = NodeMetrics(settings.metrics_listen, workers=settings.workers)
            except OSError as error:
                print(f"fapiao: FAPIAO_METRICS_LISTEN {settings.metrics_listen}: {error.strerror}", file=sys.stderr)
                return 2
            stack.callback(node_metrics.close)
        url, database = resolve_database(settings, stack)
        _usable_database(url)
        if settings.migrate_on_start:
            _migrate_now(url)
        elif pending := pending_migrations(url):
            names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
            print(
                f"fapiao: the schema is behind this version ({names} not applied); run `fapiao migrate`",
                file=sys.stderr,
            )
            return 2
        # Here, once, before any worker: the first data key is created and a wrong master key stops the start; the
        # signing key is made (if need be) and published.
        keyring = _keyring(settings, url)
        key = _signing_key(settings)
        _publish_signing_key(url, key)
        demo = prepare_demo(url, keyring, key, settings.data_dir, _fapiao_command()) if options.demo else None
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
