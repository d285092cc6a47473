"""Credentials the client sends: an API key or a login session's tokens, from the argument, the environment
(FAPIAO_TOKEN) or a credentials file that only its owner may read (FAPIAO_CREDENTIALS_FILE, by default
~/.config/fapiao/credentials.json, written by `fapiao login`).

A session's access token lives minutes; ``TokenSource`` renews it with the refresh token shortly before it
expires and writes the renewed tokens back to the file, so a long-running client or a day of CLI use needs one
login."""

from __future__ import annotations

import json
import os
import stat
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc

TOKEN_ENV = "FAPIAO_TOKEN"
CREDENTIALS_FILE_ENV = "FAPIAO_CREDENTIALS_FILE"
AUTHORIZATION = "authorization"
# Renew this long before the access token expires, so a call in flight never carries an expired one.
RENEW_AHEAD = timedelta(seconds=60)


class CredentialsError(Exception):
    """The credentials file cannot be used (unsafe permissions, unreadable, not ours)."""


def default_credentials_path() -> Path:
    configured = os.environ.get(CREDENTIALS_FILE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "fapiao" / "credentials.json"


def credentials_in_use() -> str:
    """Where a client given no token takes its credentials from, as a person would be told: FAPIAO_TOKEN when
    set, else the credentials file (named even when it does not exist yet)."""
    if os.environ.get(TOKEN_ENV):
        return f"the API key or token in {TOKEN_ENV}"
    return f"the session in {default_credentials_path()} (written by `fapiao login`)"


@dataclass
class StoredCredentials:
    """What the credentials file holds: an API key, or a session's tokens (and where they were issued)."""

    target: str = ""
    api_key: str = ""
    access_token: str = ""
    access_token_expire_time: str = ""
    refresh_token: str = ""
    principal_id: str = ""

    @property
    def access_expires(self) -> datetime | None:
        return datetime.fromisoformat(self.access_token_expire_time) if self.access_token_expire_time else None


def read_credentials(path: Path) -> StoredCredentials | None:
    """The credentials in ``path`` (None when there is no file). Refuses a file others can read or write, as
    ssh refuses such keys: a credential anyone on the machine can read is not a credential."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(f"{path} is readable by others; run: chmod 600 {path}")
    try:
        data = json.loads(path.read_text())
        return StoredCredentials(**{k: str(v) for k, v in data.items() if k in StoredCredentials.__dataclass_fields__})
    except (OSError, ValueError, TypeError) as error:
        raise CredentialsError(f"{path}: not a credentials file ({error})") from None


def write_credentials(path: Path, credentials: StoredCredentials) -> None:
    """Write atomically, owner-only (0600) from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({k: v for k, v in credentials.__dict__.items() if v}, file, indent=2)
    os.replace(temporary, path)


class TokenSource:
    """The bearer credential for each call. Thread-safe; renewal happens at most once at a time."""

    def __init__(self, credentials: StoredCredentials | None, *, path: Path | None = None) -> None:
        self._credentials = credentials
        self._path = path
        self._lock = threading.Lock()

    @classmethod
    def of(cls, token: str | TokenSource | None) -> TokenSource:
        """A source for what a client was given: a TokenSource as is, a string as a fixed bearer credential
        (an API key or an access token), None as the environment's (FAPIAO_TOKEN, else the credentials file)."""
        if isinstance(token, TokenSource):
            return token
        if token:
            return cls(StoredCredentials(api_key=token))
        from_env = os.environ.get(TOKEN_ENV)
        if from_env:
            return cls(StoredCredentials(api_key=from_env))
        path = default_credentials_path()
        return cls(read_credentials(path), path=path)

    @property
    def principal_id(self) -> str:
        return self._credentials.principal_id if self._credentials else ""

    def metadata(self, renew: Any = None) -> tuple[tuple[str, str], ...]:
        """The call's authorization header (none when there are no credentials: the register then says so)."""
        credentials = self._credentials
        if credentials is None:
            return ()
        if credentials.api_key:
            return ((AUTHORIZATION, f"Bearer {credentials.api_key}"),)
        expires = credentials.access_expires
        renewable = renew is not None and credentials.refresh_token and expires is not None
        if renewable and datetime.now(UTC) + RENEW_AHEAD >= expires:  # type: ignore[operator]
            self._renew(renew)
            credentials = self._credentials
            assert credentials is not None
        return ((AUTHORIZATION, f"Bearer {credentials.access_token}"),) if credentials.access_token else ()

    def _renew(self, renew: Any) -> None:
        """Exchange the refresh token (``renew`` does the call) and keep the new tokens, in the file too."""
        with self._lock:
            current = self._credentials
            assert current is not None
            expires = current.access_expires
            if expires is not None and datetime.now(UTC) + RENEW_AHEAD < expires:
                return  # another thread renewed meanwhile
            try:
                tokens = renew(current.refresh_token)
            except grpc.RpcError:
                return  # the call goes out with the old token and the register says what is wrong
            self._credentials = StoredCredentials(
                target=current.target,
                access_token=tokens.access_token,
                access_token_expire_time=tokens.access_token_expire_time.ToDatetime(tzinfo=UTC).isoformat(),
                refresh_token=tokens.refresh_token,
                principal_id=current.principal_id,
            )
            if self._path is not None:
                write_credentials(self._path, self._credentials)
