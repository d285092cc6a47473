"""The ways into the register: the `fapiao` commands of the server (serve, migrate, seed, bootstrap-admin,
signing-key, keys, dev-certs, fleet), the supervisor that runs its workers, the demo and the provisioning of
principals outside the service. register.py is the one way they open the register; the commands import it,
never each other.

``add_commands`` is what the client CLI loads through the ``fapiao.commands`` entry point (pyproject.toml)."""

from __future__ import annotations

from typing import Any


def add_commands(commands: Any) -> None:
    """Register every server command on the `fapiao` CLI's subparsers."""
    from .cli import add_commands as add_register_commands
    from .dev_certs_cli import add_command as add_dev_certs_command
    from .keys_cli import add_commands as add_key_commands
    from .local_fleet import add_command as add_fleet_command

    add_register_commands(commands)
    add_key_commands(commands)
    add_dev_certs_command(commands)
    add_fleet_command(commands)
