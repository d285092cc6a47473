"""The log format (telemetry/logs.py): one JSON object per line with the fields an operator filters on, the
call's trace, method and principal inside a call, readable lines on a terminal, and no credential or personal
detail in any of them."""

from __future__ import annotations

import argparse
import contextvars
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from fapiao_server.telemetry import logs

DATABASE_URL = "postgresql://fapiao:Db-Pa55word@db.internal:5432/fapiao"
API_KEY = "fpk_0123456789abcdef_" + "k" * 43
REFRESH_TOKEN = "fpr_" + "a" * 32 + "_" + "r" * 43
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


@pytest.fixture
def configure() -> Iterator[Callable[..., io.StringIO]]:
    """configure_logging onto a fresh buffer (JSON by default); the process's logging is put back afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    hooks = sys.excepthook, threading.excepthook

    def configure_into(level: str = "INFO", log_format: logs.LogFormat = "json", **options: Any) -> io.StringIO:
        stream = io.StringIO()
        logs.configure_logging(level, log_format, stream=stream, **{"capture_uncaught": False, **options})
        return stream

    yield configure_into
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    sys.excepthook, threading.excepthook = hooks
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n"), text
    return [json.loads(line) for line in text.splitlines()]


def only(stream: io.StringIO) -> dict[str, Any]:
    (line,) = lines(stream)
    return line


def in_fresh_context(action: Callable[[], None]) -> None:
    """Run ``action`` in a context of its own, as gRPC runs each call in a task of its own."""
    contextvars.copy_context().run(action)


def test_a_standard_logging_call_becomes_one_json_object_with_the_leading_fields(configure: Callable) -> None:
    stream = configure()
    logging.getLogger("fapiao.test").warning("voided %d forms", 3, extra={"region": "1100"})
    line = only(stream)
    assert list(line)[:5] == ["timestamp", "level", "logger", "message", "pid"]
    assert line["level"] == "warning" and line["logger"] == "fapiao.test" and line["message"] == "voided 3 forms"
    assert line["pid"] == os.getpid() and line["region"] == "1100"
    assert line["timestamp"].endswith("Z")
    written = datetime.fromisoformat(line["timestamp"])
    assert written.utcoffset() == UTC.utcoffset(None) and abs((datetime.now(UTC) - written).total_seconds()) < 60
    assert not {"trace_id", "span_id", "rpc_method", "principal_id"} & set(line)  # outside a call


def test_the_level_comes_from_the_setting(configure: Callable) -> None:
    stream = configure("warning")
    log = logging.getLogger("fapiao.test")
    log.info("not shown")
    log.error("shown")
    assert [line["message"] for line in lines(stream)] == ["shown"]


def test_a_line_inside_a_call_names_its_trace_span_method_and_principal(configure: Callable) -> None:
    stream = configure()
    tracer = TracerProvider().get_tracer(__name__)
    spans = []

    def call(method: str, principal: str) -> None:
        logs.bind_call(method)
        logs.bind_principal(principal)
        with tracer.start_as_current_span("server") as span:
            logging.getLogger("fapiao.test").info("inside")
            spans.append(span.get_span_context())

    in_fresh_context(lambda: call("/fapiao.v1.AuditService/ListAuditEvents", "auditor-1"))
    in_fresh_context(lambda: call("/fapiao.v1.VerificationService/VerifyInvoice", "verifier-2"))
    logging.getLogger("fapiao.test").info("between calls")
    first, second, between = lines(stream)
    for line, span, method, principal in (
        (first, spans[0], "/fapiao.v1.AuditService/ListAuditEvents", "auditor-1"),
        (second, spans[1], "/fapiao.v1.VerificationService/VerifyInvoice", "verifier-2"),
    ):
        assert line["trace_id"] == f"{span.trace_id:032x}" and line["span_id"] == f"{span.span_id:016x}"
        assert line["rpc_method"] == method and line["principal_id"] == principal
    assert first["trace_id"] != second["trace_id"]
    assert not {"trace_id", "span_id", "rpc_method", "principal_id"} & set(between)


def test_an_exception_stays_inside_its_one_line(configure: Callable) -> None:
    stream = configure()
    try:
        raise RuntimeError("the register's database is unavailable")
    except RuntimeError:
        logging.getLogger("fapiao.test").exception("upkeep failed unexpectedly")
    line = only(stream)
    assert line["level"] == "error" and line["message"] == "upkeep failed unexpectedly"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("RuntimeError: the register's database is unavailable")


def test_structlog_loggers_write_the_same_lines(configure: Callable) -> None:
    stream = configure()
    in_fresh_context(lambda: (logs.bind_call("/m"), structlog.get_logger("fapiao.native").info("event", count=2)))
    line = only(stream)
    assert list(line)[:5] == ["timestamp", "level", "logger", "message", "pid"]
    assert (line["logger"], line["message"], line["count"], line["rpc_method"]) == ("fapiao.native", "event", 2, "/m")


def test_credentials_are_masked_in_messages_fields_and_tracebacks(configure: Callable) -> None:
    stream = configure()
    log = logging.getLogger("fapiao.test")
    log.warning("cannot reach %s", DATABASE_URL)
    log.warning("redis at %s", "redis://:r3dis-Secret@cache:6379/0")
    log.warning("libpq: host=db user=fapiao password=Db-Pa55word sslmode=require")
    log.warning("sent %s, %s and %s", f"authorization: Bearer {JWT}", API_KEY, REFRESH_TOKEN)
    log.warning("settings %r", {"token_key": "dG9rZW4ta2V5", "database_url": DATABASE_URL})
    try:
        raise ConnectionError(f"connection to {DATABASE_URL} failed")
    except ConnectionError:
        log.exception("startup failed")
    text = stream.getvalue()
    for secret in ("Db-Pa55word", "r3dis-Secret", JWT, "k" * 43, "r" * 43, "dG9rZW4ta2V5"):
        assert secret not in text
    messages = [line["message"] for line in lines(stream)]
    # What identifies the thing stays: the user, the host, the key's id.
    assert messages[0] == "cannot reach postgresql://fapiao:[REDACTED]@db.internal:5432/fapiao"
    assert messages[1] == "redis at redis://:[REDACTED]@cache:6379/0"
    assert messages[2] == "libpq: host=db user=fapiao password=[REDACTED] sslmode=require"
    assert messages[3] == (
        f"sent authorization: Bearer [REDACTED], fpk_0123456789abcdef_[REDACTED] and fpr_{'a' * 32}_[REDACTED]"
    )
    assert "postgresql://fapiao:[REDACTED]@db.internal" in lines(stream)[-1]["exception"]


def test_fields_named_like_secrets_or_personal_details_are_dropped(configure: Callable) -> None:
    stream = configure()
    logging.getLogger("fapiao.test").info(
        "issued",
        extra={
            "buyer_name": "王小明",
            "address": "北京市海淀区中关村大街27号",
            "phone": "13912345678",
            "bank_account": "6222020200112233445",
            "password": "hunter2",
            "api_key": API_KEY,
            "totp_secret": "JBSWY3DPEHPK3PXP",
            "details": {"username": "xiaoming", "tax_id": "91110108MA01ABCD0B"},
            "key_id": "0123456789abcdef",
            "tax_id": "91110108MA01ABCD0B",
            "count": 1,
        },
    )
    line = only(stream)
    for field in ("buyer_name", "address", "phone", "bank_account", "password", "api_key", "totp_secret"):
        assert line[field] == logs.REDACTED, field
    assert line["details"] == {"username": logs.REDACTED, "tax_id": "91110108MA01ABCD0B"}
    assert (line["key_id"], line["tax_id"], line["count"]) == ("0123456789abcdef", "91110108MA01ABCD0B", 1)


def test_postgresql_error_details_keep_the_columns_and_lose_the_values(configure: Callable) -> None:
    stream = configure()
    logging.getLogger("fapiao.test").error(
        'duplicate key value violates unique constraint "logins_username_key"\n'
        "DETAIL:  Key (username)=(wang.xiaoming) already exists.\n"
        'null value in column "tax_id" violates not-null constraint\n'
        "DETAIL:  Failing row contains (42, 王小明, 北京市海淀区中关村大街27号, null)."
    )
    message = only(stream)["message"]
    assert "wang.xiaoming" not in message and "王小明" not in message and "中关村" not in message
    assert "Key (username)=([REDACTED]) already exists." in message
    assert "Failing row contains ([REDACTED])." in message


def test_console_format_is_for_people(configure: Callable) -> None:
    stream = configure(log_format="console")
    in_fresh_context(lambda: (logs.bind_principal("auditor-1"), logging.getLogger("fapiao.test").info("draining")))
    try:
        raise RuntimeError(f"cannot reach {DATABASE_URL}")
    except RuntimeError:
        logging.getLogger("fapiao.test").exception("startup failed")
    text = stream.getvalue()
    first = text.splitlines()[0]
    assert not first.startswith("{") and "[info" in first and "draining" in first and "principal_id=auditor-1" in first
    assert "\x1b[" not in text  # no colours where no terminal reads it
    assert "Traceback (most recent call last):" in text and "Db-Pa55word" not in text


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_console_on_a_terminal_and_json_anywhere_else() -> None:
    assert logs.chosen_format("auto", Terminal()) == "console"
    assert logs.chosen_format("auto", io.StringIO()) == "json"
    assert logs.chosen_format("json", Terminal()) == "json"
    assert logs.chosen_format("console", io.StringIO()) == "console"


def test_an_uncaught_exception_is_one_critical_line_with_credentials_masked() -> None:
    program = (
        "from fapiao_server.telemetry.logs import configure_logging\n"
        "configure_logging('INFO', 'auto')\n"
        f"raise ConnectionError('cannot reach {DATABASE_URL}')\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    (line,) = [json.loads(text) for text in done.stderr.splitlines()]  # stderr is a pipe: JSON
    assert line["level"] == "critical" and line["logger"] == "fapiao.uncaught"
    assert "ConnectionError: cannot reach postgresql://fapiao:[REDACTED]@db.internal" in line["exception"]
    assert "Db-Pa55word" not in done.stderr


def test_a_configuration_error_does_not_echo_the_database_password_or_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fapiao_server.entrypoints.register import settings_from as _settings

    for name in [name for name in os.environ if name.startswith("FAPIAO_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FAPIAO_DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("FAPIAO_TOKEN_KEY", "dG9rZW4ta2V5LXRoYXQtbXVzdC1ub3QtYmUtc2hvd24=")
    monkeypatch.setenv("FAPIAO_LISTEN", "0.0.0.0:50051")  # plaintext off loopback: a check across settings
    with pytest.raises(SystemExit):
        _settings(argparse.Namespace())
    monkeypatch.setenv("FAPIAO_LISTEN", "127.0.0.1:50051")
    monkeypatch.setenv("FAPIAO_REDIS_URL", "redis://:r3dis-Secret@cache:6379/0")
    monkeypatch.setenv("FAPIAO_WORKERS", "many")  # a single setting's own value is still shown
    with pytest.raises(SystemExit):
        _settings(argparse.Namespace())
    errors = capsys.readouterr().err
    assert "plaintext on 0.0.0.0:50051" in errors and "FAPIAO_WORKERS" in errors and "'many'" in errors
    for secret in ("Db-Pa55word", "dG9rZW4ta2V5", "r3dis-Secret"):
        assert secret not in errors
