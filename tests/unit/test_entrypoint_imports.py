"""The entry points' room has no import circle: the commands (cli, keys_cli, dev_certs_cli, local_fleet) reach the
register through register.py and the supervisor, never through each other, and nothing below the entry points
(domain, services, storage, transport, ...) imports them. Imports inside functions count too: they are how the
commands stay cheap to load, and a circle through them is still a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import fapiao_server

PACKAGE = Path(fapiao_server.__file__).parent
ENTRYPOINTS = PACKAGE / "entrypoints"
COMMANDS = {"cli", "keys_cli", "dev_certs_cli", "local_fleet"}


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The fapiao_server modules ``path`` imports, relative imports resolved."""
    module = _module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("fapiao_server")}


def _command_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "entrypoints" and parts[2] in COMMANDS:
        return parts[2]
    return None


def test_no_command_imports_another() -> None:
    crossings = []
    for path in ENTRYPOINTS.rglob("*.py"):
        own = _command_of(_module_of(path))
        if own is None:
            continue
        for target in _imports(path):
            other = _command_of(target)
            if other is not None and other != own:
                crossings.append(f"{_module_of(path)} -> {target}")
    assert crossings == []


def test_nothing_below_the_entry_points_imports_them() -> None:
    upward = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_of(path)
        if module.startswith("fapiao_server.entrypoints") or module == "fapiao_server":
            continue
        upward += [
            f"{module} -> {target}" for target in _imports(path) if target.startswith("fapiao_server.entrypoints")
        ]
    assert upward == []


def test_the_scan_resolves_relative_imports() -> None:
    assert "fapiao_server.entrypoints.register" in _imports(ENTRYPOINTS / "keys_cli.py")
    assert "fapiao_server.config" in _imports(ENTRYPOINTS / "local_fleet" / "command.py")
