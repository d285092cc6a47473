"""Named SQL queries: the .sql parser, and that every query the code asks for exists (and every one is used)."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest

import fapiao_server
from fapiao_server.storage.queries import QUERY_FILES, parse_named_queries, query

SOURCE = Path(fapiao_server.__file__).parent
QUERIES_SQL = "\n".join(
    files("fapiao_server.storage").joinpath(name).read_text(encoding="utf-8") for name in QUERY_FILES
)
# Every call of query(...), however it is spelled, and the ones whose argument is a string literal.
_ANY_CALL = re.compile(r"(?<![\w.])(?<!def )query\(")
_LITERAL_CALL = re.compile(r"(?<![\w.])query\(\s*\"(\w+)\"\s*\)")


def used_query_names() -> set[str]:
    names: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        literal = _LITERAL_CALL.findall(text)
        assert len(_ANY_CALL.findall(text)) == len(literal), f"{path}: a query(...) call without a literal name"
        names.update(literal)
    return names


SAMPLE = """-- A header comment before the first query belongs to none.

-- name: first
-- What the first query is for.
SELECT 1
  -- an indented comment line
FROM t;

-- name: second
SELECT 'a--b' AS x -- a trailing comment stays
FROM u;
-- name: third_one
COPY x FROM STDIN;
"""


def test_splits_names_and_drops_comment_lines() -> None:
    assert parse_named_queries(SAMPLE) == {
        "first": "SELECT 1\nFROM t",
        "second": "SELECT 'a--b' AS x -- a trailing comment stays\nFROM u",
        "third_one": "COPY x FROM STDIN",
    }


def test_no_names_no_queries() -> None:
    assert parse_named_queries("-- just a comment\nSELECT 1;\n") == {}


def test_name_marker_must_be_a_whole_line() -> None:
    queries = parse_named_queries("-- name: a\nSELECT 1; -- name: b\n")
    assert list(queries) == ["a"]


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="'first' is defined twice"):
        parse_named_queries(SAMPLE + "\n-- name: first\nSELECT 2;\n")


def test_queries_sql_parses_into_statements() -> None:
    queries = parse_named_queries(QUERIES_SQL)
    assert queries
    for name, statement in queries.items():
        assert statement, name
        assert not statement.endswith(";"), name
        assert not any(line.lstrip().startswith("--") for line in statement.splitlines()), name


def test_the_scan_finds_the_query_calls() -> None:
    # Guards the regex: if it stopped matching, the next test would pass vacuously.
    assert {"invoices_by_keys", "list_verification_records", "ping", "copy_invoices"} <= used_query_names()


def test_every_query_used_in_the_code_exists() -> None:
    defined = set(parse_named_queries(QUERIES_SQL))
    assert used_query_names() - defined == set()
    for name in used_query_names():
        assert query(name)


def test_every_query_defined_is_used() -> None:
    assert set(parse_named_queries(QUERIES_SQL)) - used_query_names() == set()


def test_unknown_query_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        query("no_such_query")
