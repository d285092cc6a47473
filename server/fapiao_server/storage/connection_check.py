"""The first connection a command makes to the register's database: when it fails, the reason in one line that
names the database (never its password) and what to do, instead of a traceback burying it."""

from __future__ import annotations

import getpass
import re
import shlex

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ..telemetry.logs import redact_text

CONNECT_TIMEOUT_SECONDS = 10
_MISSING_DATABASE = re.compile(r'database "([^"]*)" does not exist')
_MISSING_ROLE = re.compile(r'role "([^"]*)" does not exist')


class DatabaseUnusable(Exception):
    """The database cannot be used at all; the message says why and what to do, with no password in it."""


def _parts(url: str) -> dict[str, str]:
    try:
        params = {key: str(value) for key, value in conninfo_to_dict(url).items() if value is not None}
    except psycopg.Error:
        return {}
    params.setdefault("user", getpass.getuser())
    params.setdefault("dbname", params["user"])
    params.setdefault("host", "localhost")
    params.setdefault("port", "5432")
    return params


def describe_database(url: str) -> str:
    """``postgresql://USER@HOST:PORT/DATABASE`` for ``url``, whatever its form, without its password."""
    parts = _parts(url)
    if not parts:
        return "FAPIAO_DATABASE_URL (unparsable, not shown)"
    host = parts["host"]
    host = f"[{host}]" if ":" in host and not host.startswith("/") else host
    return f"postgresql://{parts['user']}@{host}:{parts['port']}/{parts['dbname']}"


def explain(url: str, error: psycopg.Error) -> str:
    """One line for a failed connection: what is wrong and how to fix it."""
    parts, described = _parts(url), describe_database(url)
    # libpq gives no SQLSTATE for a refused connection, only its message (the password is never in it).
    message = redact_text(" ".join(str(error).split()))
    host, port, user = parts.get("host", "localhost"), parts.get("port", "5432"), parts.get("user", "")
    # The options a client needs to reach the same server as the same user: -h, -p, -U.
    reach = f"-h {shlex.quote(host)} -p {port} -U {shlex.quote(user)}"
    if found := _MISSING_DATABASE.search(message):
        name = found[1]
        quoted = '"' + name.replace('"', '""') + '"'
        return (
            f'database "{name}" does not exist on the PostgreSQL at {host}:{port} ({described}); create it with '
            f"`createdb {reach} {shlex.quote(name)}` "
            f"or `psql {reach} -d postgres -c {shlex.quote(f'CREATE DATABASE {quoted}')}`"
        )
    if "Connection refused" in message:
        return (
            f"nothing answers at {host}:{port} (connection refused) for {described}: is PostgreSQL running there, "
            "and are FAPIAO_DATABASE_URL's host and port right?"
        )
    if "No such file or directory" in message and host.startswith("/"):
        return f"no PostgreSQL socket in {host} for {described}: is PostgreSQL running, with its socket there?"
    if found := _MISSING_ROLE.search(message):
        return f"PostgreSQL at {host}:{port} has no role {found[1]!r} ({described}); create it or name another user"
    if "password authentication failed" in message or "no password supplied" in message:
        return f"PostgreSQL at {host}:{port} refused the password of user {user!r} ({described})"
    if "could not translate host name" in message or "Name or service not known" in message:
        return f"the database host {host!r} is unknown ({described}): check FAPIAO_DATABASE_URL's host"
    if "timeout expired" in message:
        return f"PostgreSQL at {host}:{port} did not answer within {CONNECT_TIMEOUT_SECONDS} s ({described})"
    return f"cannot connect to {described}: {message.removeprefix('connection failed: ')}"


def check_database(url: str) -> None:
    """Connect once; raises DatabaseUnusable with the reason when that fails."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except psycopg.Error as error:
        raise DatabaseUnusable(explain(url, error)) from None
