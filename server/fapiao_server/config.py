"""All configuration, from FAPIAO_* environment variables (and `fapiao serve` flags that override them)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FAPIAO_", extra="ignore")

    # Where to listen, HOST:PORT (port 0 picks a free one). Plaintext: put TLS in front until issue 4 lands.
    listen: str = "127.0.0.1:50051"
    # Worker processes sharing the port (one grpc.aio server each).
    workers: int = Field(default=1, ge=1, le=64)
    # PostgreSQL (postgresql://...). Unset: a private PostgreSQL from the pgserver package under data_dir.
    database_url: str | None = None
    # Redis (redis://...), the cache the fleet shares. Unset: each worker's near cache only.
    redis_url: str | None = None
    # "on" caches as described; "off" sends every lookup to PostgreSQL (benchmarks, diagnosis).
    cache: Literal["on", "off"] = "on"
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("fapiao")))
    migrate_on_start: bool = True
    # The register's Ed25519 signing key (PEM, PKCS#8), the same file for every server of a fleet. Unset:
    # data_dir/signing-key.pem, created on first start. See signing_keys.py for rotation.
    signing_key_file: Path | None = None

    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    db_acquire_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_ms: int = Field(default=5000, gt=0)

    # Past this a Redis call counts as failed (and PostgreSQL answers); a few in a row open the breaker.
    redis_timeout_ms: int = Field(default=250, gt=0)
    redis_max_connections: int = Field(default=64, ge=1)
    # Namespace of every key; bump the version part when the cached format changes incompatibly.
    redis_key_prefix: str = "fapiao:v1:"
    cache_ttl_seconds: float = Field(default=300.0, gt=0)
    cache_negative_ttl_seconds: float = Field(default=30.0, gt=0)
    # Each worker's own copies in front of Redis (or alone, without Redis), dropped on PostgreSQL's change
    # announcements; 0 turns them off.
    near_cache_entries: int = Field(default=100_000, ge=0)
    near_cache_ttl_seconds: float = Field(default=60.0, gt=0)

    # Issue dates older than this many years are refused, as the national platform does.
    verification_window_years: int = Field(default=5, ge=1, le=30)

    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    # On SIGTERM: report NOT_SERVING, wait drain_delay for balancers to notice, then let in-flight calls
    # finish for up to shutdown_grace.
    shutdown_drain_delay_seconds: float = Field(default=0.0, ge=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    log_level: str = "INFO"
    # Tracing export: none, console (stderr), or otlp (OTEL_EXPORTER_OTLP_* variables configure it).
    otel_exporter: Literal["none", "console", "otlp"] = "none"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:50051 or [::]:50051")
        return value
