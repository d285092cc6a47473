"""A node with no FAPIAO_DATABASE_URL starts the embedded PostgreSQL; an install without it (the node extra, as in
the image) says what to set in one line instead of a traceback."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from fapiao_server.config import Settings
from fapiao_server.entrypoints import supervisor


def test_no_database_url_and_no_embedded_postgresql_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pgserver", None)  # import fails as if it were not installed
    with ExitStack() as stack, pytest.raises(SystemExit) as exit_:
        supervisor.resolve_database(Settings(database_url=None, data_dir=tmp_path), stack)
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "FAPIAO_DATABASE_URL" in line and "fapiao[server]" in line


def test_another_missing_module_is_not_mistaken_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data_dir: Path) -> None:
        raise ModuleNotFoundError("No module named 'psycopg'", name="psycopg")

    monkeypatch.setattr("fapiao_server.storage.embedded.start_embedded_postgres", broken)
    with ExitStack() as stack, pytest.raises(ModuleNotFoundError):
        supervisor.resolve_database(Settings(database_url=None, data_dir=tmp_path), stack)
