"""The named queries of queries.sql, loaded once."""

from __future__ import annotations

import re
from importlib.resources import files
from typing import LiteralString

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse_named_queries(text: str) -> dict[str, str]:
    """Split a .sql file into {name: statement}; comment lines are dropped from the statements."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        statement = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--")).strip()
        queries[name] = statement.rstrip(";")
    return queries


# Verification and maintenance queries, those of the invoice lifecycle, of principals, of the data keys, of the
# signing keys, of the audit log and of reporting.
QUERY_FILES = (
    "queries.sql",
    "lifecycle.sql",
    "access.sql",
    "encryption.sql",
    "signing.sql",
    "audit.sql",
    "reporting.sql",
)


def _load() -> dict[str, str]:
    loaded: dict[str, str] = {}
    for name in QUERY_FILES:
        found = parse_named_queries(files(__package__).joinpath(name).read_text(encoding="utf-8"))
        duplicated = loaded.keys() & found.keys()
        if duplicated:
            raise ValueError(f"queries {sorted(duplicated)} are defined in two files")
        loaded |= found
    return loaded


# The statements are the package's own files, never input: they are literal SQL as psycopg's execute() asks.
_QUERIES: dict[str, LiteralString] = _load()


def query(name: str) -> LiteralString:
    """The statement called ``name`` in queries.sql (KeyError if there is none)."""
    return _QUERIES[name]
