"""The client CLI knows the server only through the ``fapiao.commands`` entry-point group: the installed package
registers the server's commands there, no client module imports the server, and a command package that cannot be
imported (a client-only install) is left out rather than breaking `fapiao`."""

from __future__ import annotations

import argparse
import ast
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import fapiao_client
from fapiao_client import cli
from fapiao_client.cli import COMMANDS_ENTRY_POINTS, add_plugin_commands, build_parser

CLIENT = Path(fapiao_client.__file__).parent


def test_the_server_registers_its_commands_as_an_entry_point() -> None:
    registered = {point.name: point.value for point in entry_points(group=COMMANDS_ENTRY_POINTS)}
    assert registered.get("server") == "fapiao_server.entrypoints:add_commands"
    subcommands = next(
        action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)
    ).choices
    assert {"serve", "migrate", "seed", "bootstrap-admin", "keys", "dev-certs", "fleet"} <= set(subcommands)


def test_no_client_module_imports_the_server() -> None:
    importers = []
    for path in CLIENT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name == "fapiao_server" or name.startswith("fapiao_server.") for name in names):
                importers.append(str(path.relative_to(CLIENT)))
    assert importers == []


class _Point:
    """An entry point as add_plugin_commands uses it: a name, and load()."""

    def __init__(self, name: str, loaded: object) -> None:
        self.name, self._loaded = name, loaded

    def load(self) -> object:
        if isinstance(self._loaded, Exception):
            raise self._loaded
        return self._loaded


def test_a_command_package_that_cannot_be_imported_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    called = []
    points = [_Point("a-missing", ModuleNotFoundError("no module named 'psycopg'")), _Point("b-present", called.append)]
    monkeypatch.setattr(cli, "entry_points", lambda group: points if group == COMMANDS_ENTRY_POINTS else [])
    commands = argparse.ArgumentParser().add_subparsers()
    add_plugin_commands(commands)
    assert called == [commands]
