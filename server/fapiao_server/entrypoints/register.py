"""What every command that works on the register shares: its settings (bad ones end the command with what is
wrong, never a secret), the database checked and migrated, the data keys opened, and how to name this CLI in the
commands it prints. The commands (cli.py, keys_cli.py, dev_certs_cli.py, local_fleet) import this module, never
each other."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

# Settings whose values may carry a password or a key: a complaint about one never shows what it was given.
SECRET_SETTINGS = frozenset({"database_url", "redis_url", "token_key", "master_key", "previous_master_key"})


def settings_from(options: argparse.Namespace) -> Any:
    """Settings from the environment and the flags; bad ones end the command with a list of what is wrong."""
    from pydantic import ValidationError

    from ..config import Settings

    overrides = {
        name: value for name in ("listen", "workers", "data_dir") if (value := getattr(options, name, None)) is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as error:
        for problem in error.errors():
            print(f"fapiao: {setting_problem(problem)}", file=sys.stderr)
        raise SystemExit(2) from None


def setting_problem(problem: Any) -> str:
    from ..telemetry.logs import redact_text

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


def usable_database(url: str) -> None:
    """Connect once before any work, so a database that is missing or unreachable is one line saying what to do."""
    from ..storage.connection_check import DatabaseUnusable, check_database

    try:
        check_database(url)
    except DatabaseUnusable as error:
        print(f"fapiao: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def business_today() -> date:
    from ..domain.calendar import business_date, utc_now

    return business_date(utc_now())


def migrate_now(url: str) -> None:
    import logging

    from ..storage.migrations import migrate

    for migration in migrate(url, today=business_today()):
        logging.getLogger("fapiao.migrations").info("applied migration %04d_%s", migration.version, migration.name)


def keyring_for(settings: Any, url: str) -> Any:
    """The data keys for this command (the first one is created on a new register); a master key that is
    malformed or cannot unwrap them ends the command with the reason."""
    from ..keys.data_keys import prepare_keys
    from ..keys.encryption import MasterKeyMismatch
    from ..keys.master_key import MasterKeyUnusable, configured_keyring

    try:
        keyring = configured_keyring(settings)
        prepare_keys(url, keyring)
    except (MasterKeyUnusable, MasterKeyMismatch) as error:
        print(f"fapiao: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    return keyring


def open_database(options: argparse.Namespace, stack: ExitStack) -> tuple[Any, str]:
    """For commands that work on the register's database: the settings (logging configured by them) and the
    database's URL, checked and migrated; an embedded database stays up until ``stack`` closes."""
    from .supervisor import configure_logging, resolve_database

    settings = settings_from(options)
    configure_logging(settings.log_level, settings.log_format)
    url, _ = resolve_database(settings, stack)
    usable_database(url)
    migrate_now(url)
    return settings, url


def open_register(options: argparse.Namespace, stack: ExitStack) -> tuple[str, Any]:
    """For commands that work on the register's data: its URL (migrated) and its data keys."""
    settings, url = open_database(options, stack)
    return url, keyring_for(settings, url)


def fapiao_command() -> str:
    """How to invoke this very CLI from a shell: `fapiao` if that is what PATH finds, else the full path."""
    invoked = Path(sys.argv[0]).resolve()
    found = shutil.which("fapiao")
    if found and Path(found).resolve() == invoked:
        return "fapiao"
    return shlex.quote(str(invoked)) if invoked.name == "fapiao" else "fapiao"
