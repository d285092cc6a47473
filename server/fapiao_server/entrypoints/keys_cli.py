"""`fapiao keys list|rotate|rewrap`: the data keys that seal personal details at rest, and the master key that
wraps them (docs/encryption.md)."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from fapiao_client.cli.examples import examples


def add_commands(commands: Any) -> None:
    """Register `keys` and its subcommands on the CLI's subparsers."""
    keys = commands.add_parser(
        "keys",
        help="list or rotate the data keys that encrypt personal details and TOTP secrets",
        **examples("fapiao keys list", "fapiao keys rotate", "fapiao keys rewrap"),
    )
    actions = keys.add_subparsers(dest="keys_action", required=True, metavar="{list,rotate,rewrap}")
    listing = actions.add_parser(
        "list",
        help="each data key, its state and how many invoices and logins it encrypts",
        **examples("fapiao keys list"),
    )
    listing.add_argument("--data-dir", type=Path, help="embedded PostgreSQL data folder (FAPIAO_DATA_DIR)")
    listing.set_defaults(handler=_list)
    rotate = actions.add_parser(
        "rotate",
        help="make a new data key primary, re-encrypt every invoice and login with it, retire the old key",
        **examples(
            "fapiao keys rotate --batch-rows 1000",
            "fapiao keys rotate --resume                    # finish a rotation that was stopped",
        ),
    )
    rotate.add_argument(
        "--resume", action="store_true", help="no new key: finish moving rows onto the primary key (after a stop)"
    )
    rotate.add_argument("--batch-rows", type=int, default=500, metavar="N", help="rows per transaction (default 500)")
    rotate.add_argument("--data-dir", type=Path, help="embedded PostgreSQL data folder (FAPIAO_DATA_DIR)")
    rotate.set_defaults(handler=_rotate)
    rewrap = actions.add_parser(
        "rewrap",
        help="wrap every data key under the master key now configured (FAPIAO_MASTER_KEY), when replacing it; the "
        "old one is FAPIAO_PREVIOUS_MASTER_KEY",
        **examples("fapiao keys rewrap             # with FAPIAO_MASTER_KEY and FAPIAO_PREVIOUS_MASTER_KEY set"),
    )
    rewrap.add_argument("--data-dir", type=Path, help="embedded PostgreSQL data folder (FAPIAO_DATA_DIR)")
    rewrap.set_defaults(handler=_rewrap)


def _list(options: argparse.Namespace) -> int:
    from ..keys.rotation import key_usage
    from .register import open_register

    with ExitStack() as stack:
        url, _ = open_register(options, stack)
        usage = key_usage(url)
    print(f"{'key':>5}  {'state':<13} {'invoices':>10} {'logins':>8}  {'master key':<16}  created / retired")
    for key in usage:
        when = "" if key.created_at is None else key.created_at.isoformat(timespec="seconds")
        if key.retired_at is not None:
            when += " / " + key.retired_at.isoformat(timespec="seconds")
        name = "-" if key.key_id is None else key.key_id
        master = key.master_fingerprint or "-"
        print(f"{name:>5}  {key.state:<13} {key.invoices:>10} {key.logins:>8}  {master:<16}  {when}")
    return 0


def _rotate(options: argparse.Namespace) -> int:
    from rich.progress import Progress

    from ..keys.rotation import reencrypt, rows_to_reencrypt, start_rotation
    from .provisioning import record_maintenance
    from .register import open_register

    if options.batch_rows <= 0:
        print("--batch-rows must be positive", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        url, keyring = open_register(options, stack)
        if not options.resume:
            started = start_rotation(url, keyring)
            record_maintenance(url, "fapiao keys rotate", f"data-keys/{started}", {"step": "new primary key"})
            print(f"data key {started} is now primary; new invoices and logins are encrypted with it")
        with Progress(transient=False) as progress:
            task = progress.add_task("re-encrypting invoices and logins", total=rows_to_reencrypt(url))
            retired = reencrypt(
                url, keyring, batch_rows=options.batch_rows, on_batch=lambda n: progress.advance(task, n)
            )
        for key_id in retired:
            record_maintenance(url, "fapiao keys rotate", f"data-keys/{key_id}", {"step": "retired"})
    for key_id in retired:
        print(f"data key {key_id} retired: no invoice or login uses it any more")
    print(f"every invoice and login is encrypted with data key {keyring.primary_id}")
    return 0


def _rewrap(options: argparse.Namespace) -> int:
    from ..keys.data_keys import rewrap_keys
    from .provisioning import record_maintenance
    from .register import open_register

    with ExitStack() as stack:
        url, keyring = open_register(options, stack)
        moved = rewrap_keys(url, keyring)
        for key_id in moved:
            record_maintenance(
                url, "fapiao keys rewrap", f"data-keys/{key_id}", {"master_key": keyring.master.fingerprint}
            )
    fingerprint = keyring.master.fingerprint
    if moved:
        print(f"data keys {', '.join(map(str, moved))} are now wrapped by master key {fingerprint}")
    else:
        print(f"every data key was already wrapped by master key {fingerprint}")
    print("FAPIAO_PREVIOUS_MASTER_KEY is no longer needed: remove it from every worker at their next restart")
    return 0
