"""Secret key files: made once with owner-only permissions, reused, agreed on by processes starting at once, and
refused when others can read them."""

from __future__ import annotations

import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from fapiao_server.keys.files import KeyFileError, load_or_create_key, write_private_file


def test_a_key_is_made_once_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "token.key"
    first = load_or_create_key(path)
    assert len(first) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_key(path) == first
    assert not write_private_file(path, b"another")  # an existing file is never replaced
    assert load_or_create_key(path) == first


def test_processes_starting_together_all_read_one_key(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    with ProcessPoolExecutor(4) as pool:
        keys = set(pool.map(load_or_create_key, [path] * 8))
    assert len(keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["token.key"]  # no temporary left behind


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    load_or_create_key(path)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_or_create_key(path)


def test_a_short_or_garbled_key_is_refused(tmp_path: Path) -> None:
    for text in ("not base64!", "c2hvcnQ="):
        path = tmp_path / f"k{len(text)}"
        write_private_file(path, text.encode())
        with pytest.raises(KeyFileError):
            load_or_create_key(path)
