"""All configuration, from FAPIAO_* environment variables (and `fapiao serve` flags that override them)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .transport.overload import MAX_IN_FLIGHT, MAX_QUEUED, MAX_WAIT_MS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FAPIAO_", extra="ignore")

    # Where to listen, HOST:PORT (port 0 picks a free one). TLS when tls_cert_file and tls_key_file are set;
    # otherwise plaintext, which is allowed on a loopback address only unless allow_plaintext says otherwise.
    listen: str = "127.0.0.1:50051"
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Plaintext on a non-loopback address: only behind a balancer that terminates TLS on a private network.
    allow_plaintext: bool = False
    # A second, mutual-TLS listener for government systems: clients must present a certificate signed by
    # mtls_client_ca_file, and its subject common name names their principal. Needs the TLS certificate too.
    mtls_listen: str | None = None
    mtls_client_ca_file: Path | None = None

    # The key access tokens are signed with, shared by the whole fleet: base64 in FAPIAO_TOKEN_KEY, or a file
    # (default <data_dir>/keys/token.key, made on first start with owner-only permissions).
    token_key: SecretStr | None = None
    token_key_file: Path | None = None
    access_token_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    refresh_token_hours: float = Field(default=12.0, gt=0, le=30 * 24)
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
    # The master key that wraps the data keys sealing personal details (docs/encryption.md): 32 bytes, base64,
    # given directly or in a file. Neither: one is generated under data_dir (0600) and reused. Every worker and
    # server on one database needs the same one.
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    # While the master key is being replaced (docs/encryption.md): the old one, so data keys it still wraps
    # unwrap until `fapiao keys rewrap` has wrapped them under master_key.
    previous_master_key: SecretStr | None = None
    previous_master_key_file: Path | None = None

    # The register's Ed25519 signing key (PEM, PKCS#8), the same file for every server of a fleet. Unset:
    # data_dir/signing-key.pem, created on first start. See keys/signing.py for rotation.
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

    # Requests per second each principal may make across the fleet, unless the principal has a rate of its own.
    rate_limit_per_second: float = Field(default=20.0, gt=0)
    # Seconds of its rate a worker leases from the fleet's bucket per Redis call; longer is cheaper but less
    # exact (docs/quotas.md gives the bounds).
    rate_limit_slice_seconds: float = Field(default=0.25, gt=0, le=5)
    # Verifications of one invoice by one caller per Asia/Shanghai day, as on the national platform
    # (docs/domain.md section 4); 0 turns the limit off (benchmarks that verify the same invoices all day).
    verifications_per_invoice_per_day: int = Field(default=5, ge=0)

    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    # Admission control, per worker (transport/overload.py): calls worked on at once, calls waiting for a place
    # and how long one may wait; past them a call is refused at once with RESOURCE_EXHAUSTED and a RetryInfo
    # (reason SERVER_OVERLOADED), which the SDK and Envoy retry.
    max_calls_in_flight: int = Field(default=MAX_IN_FLIGHT, ge=1)
    max_calls_queued: int = Field(default=MAX_QUEUED, ge=0)
    max_queue_wait_ms: int = Field(default=MAX_WAIT_MS, ge=0)
    # On SIGTERM: report NOT_SERVING, wait drain_delay for balancers to notice, then let in-flight calls
    # finish for up to shutdown_grace.
    shutdown_drain_delay_seconds: float = Field(default=0.0, ge=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    log_level: str = "INFO"
    # json: one JSON object per line; console: aligned lines for a person; auto: console when stderr is a terminal,
    # json otherwise (docs/observability.md).
    log_format: Literal["auto", "json", "console"] = "auto"
    # Tracing export: none, console (stderr), or otlp (OTEL_EXPORTER_OTLP_* variables configure it).
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    # Prometheus metrics (docs/observability.md): HOST:PORT where the node serves /metrics, one endpoint for all
    # its workers; "" or "off" installs no instrument at all. The default, a free loopback port the banner names,
    # never collides with another server on the machine; a deployment gives the fixed port its Prometheus scrapes
    # (deploy/: 0.0.0.0:9464, the OpenTelemetry Prometheus exporter's usual port).
    metrics_listen: str = "127.0.0.1:0"

    @field_validator("listen", "mtls_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:50051 or [::]:50051")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if not value:
            return value
        from psycopg import Error
        from psycopg.conninfo import conninfo_to_dict

        try:
            conninfo_to_dict(value)
        except Error:
            # Not psycopg's message: it quotes the text, password and all.
            raise ValueError(
                "not a PostgreSQL URL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE) nor key=value settings "
                "(host=... dbname=...)"
            ) from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and value.partition("://")[0].lower() not in ("redis", "rediss", "unix"):
            raise ValueError("must be redis://[USER:PASSWORD@]HOST:PORT/DB, rediss://... (TLS) or unix:///PATH")
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _metrics_address(cls, value: str) -> str:
        if value.strip().lower() in ("", "off"):
            return ""
        return cls._host_port(value) or ""

    @model_validator(mode="after")
    def _transport_security(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("FAPIAO_TLS_CERT_FILE and FAPIAO_TLS_KEY_FILE go together")
        if self.mtls_listen is not None and (self.tls_cert_file is None or self.mtls_client_ca_file is None):
            raise ValueError(
                "FAPIAO_MTLS_LISTEN needs FAPIAO_TLS_CERT_FILE, FAPIAO_TLS_KEY_FILE and FAPIAO_MTLS_CLIENT_CA_FILE"
            )
        if self.tls_cert_file is None and not self.allow_plaintext and not is_loopback(self.listen):
            raise ValueError(
                f"plaintext on {self.listen} would carry credentials in the clear: set FAPIAO_TLS_CERT_FILE and "
                "FAPIAO_TLS_KEY_FILE, or FAPIAO_ALLOW_PLAINTEXT=true behind a TLS-terminating balancer"
            )
        return self

    @property
    def token_key_path(self) -> Path:
        return self.token_key_file or self.data_dir / "keys" / "token.key"


def is_loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
