"""Logs: one JSON object per line on stderr (or aligned lines for a person at a terminal), the same for the
supervisor, every worker and every library that logs through the standard ``logging`` module. A line written
inside a call carries that call's trace and span ids, its RPC method and its principal. No line carries a
secret: values shaped like credentials are masked, and fields named like personal details are dropped.

The code base logs with ``logging.getLogger(__name__)``; structlog's ProcessorFormatter turns those records into
the same event dictionaries as structlog's own loggers, so both end up in one format with one set of fields."""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from types import TracebackType
from typing import Any, Literal, TextIO

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["auto", "json", "console"]
REDACTED = "[REDACTED]"
# The handler configure_logging installs, found again by this name when it is called a second time.
HANDLER_NAME = "fapiao"

# --- what a call adds to its lines ------------------------------------------------------------------------------


def bind_call(method: str) -> None:
    """Name the RPC ``method`` in every line logged from here on in the current context. gRPC runs each call in
    a task of its own, so the name stays with that call and is gone when it ends."""
    structlog.contextvars.bind_contextvars(rpc_method=method)


def bind_principal(principal_id: str) -> None:
    """Name the call's authenticated principal (its id, never its credential) in the lines that follow."""
    structlog.contextvars.bind_contextvars(principal_id=principal_id)


def add_trace_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The trace and span the line was written in, as W3C trace context writes them (32 and 16 hex digits), so a
    line can be found from its trace and the other way round. Nothing when no span is current (tracing off, or
    outside a call); an unsampled span still names its trace, which the balancer's and the client's logs share."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = trace.format_trace_id(context.trace_id)
        event_dict["span_id"] = trace.format_span_id(context.span_id)
    return event_dict


def add_process_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Which process wrote the line: the supervisor or one of its workers (formatting runs where the call was)."""
    event_dict["pid"] = os.getpid()
    return event_dict


# --- what never reaches a log ---------------------------------------------------------------------------------

# Fields the pipeline fills itself from values it controls; masking them could only hide what a reader needs.
_OWN_FIELDS = frozenset({"timestamp", "level", "logger", "pid", "trace_id", "span_id", "rpc_method", "principal_id"})
# Fields whose name says they hold a credential or a personal detail (a person's or a company's name, address,
# phone, bank or account, as an invoice's parties carry them): their values are replaced whatever they look like.
_SENSITIVE_FIELD = re.compile(
    r"(?:^|_)(?:pass(?:word|wd|phrase)?|pwd|secrets?|tokens?|api_?keys?|(?:private|master|token)_?key|"
    r"authorization|credentials?|cookies?|totp|otp|username|names?|address(?:es)?|phones?|mobile|e?mail|bank|"
    r"accounts?)(?:$|_)",
    re.IGNORECASE,
)
# Credentials as they appear inside text: messages, exception messages, tracebacks, configuration values.
_TEXT_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host (a database or Redis URL): the password goes, the user and host stay.
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/?#@'\"]*:)[^\s'\"]*@"), rf"\g<1>{REDACTED}@"),
    # password=..., token: '...' (libpq conninfo, URL queries, reprs of mappings)
    (
        re.compile(
            r"(?i)(\b(?:pass(?:word|wd)?|pwd|sslpassword|secret|totp_secret|client_secret|(?:access_|refresh_)?token|"
            r"api_?key|master_key|token_key)\b['\"]?\s*[=:]\s*)('[^']*'|\"[^\"]*\"|[^\s&,;'\"]+)"
        ),
        rf"\g<1>{REDACTED}",
    ),
    (re.compile(r"(?i)\bbearer\s+[^\s'\",;]+"), f"Bearer {REDACTED}"),
    # The register's API keys (fpk_<key id>_<secret>) and refresh tokens (fpr_<session>_<secret>): the id stays,
    # it is what the audit log and the administrators name a key by.
    (re.compile(r"\b(fp[kr]_[0-9a-f]+_)[A-Za-z0-9_-]+"), rf"\g<1>{REDACTED}"),
    # Access tokens (JWTs).
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # PostgreSQL's error details quote the row's values ("Key (username)=(...) already exists", "Failing row
    # contains (...)"), which may be personal details: keep the columns and the complaint, drop the values.
    (
        re.compile(
            r"(\bKey \([^)\n]*\)=)\(.*\)( (?:already exists|is not present|is still referenced|conflicts with))"
        ),
        rf"\g<1>({REDACTED})\g<2>",
    ),
    (re.compile(r"(\bFailing row contains )\(.*\)"), rf"\g<1>({REDACTED})"),
)


def redact_text(text: str) -> str:
    """``text`` with every credential it contains masked (see _TEXT_SECRETS)."""
    for pattern, replacement in _TEXT_SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: REDACTED if _sensitive(key) else _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(item) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(repr(value))  # rendered as its repr anyway; masked before it is


def _sensitive(key: object) -> bool:
    return isinstance(key, str) and bool(_SENSITIVE_FIELD.search(key))


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The last word before rendering: fields named like secrets or personal details are replaced, and
    credentials are masked in every other value, the message and a logged exception's traceback included."""
    for key, value in event_dict.items():
        if key in _OWN_FIELDS:
            continue
        event_dict[key] = REDACTED if _sensitive(key) else _redact_value(value)
    return event_dict


# --- rendering -------------------------------------------------------------------------------------------------

# What a JSON line starts with, in this order; the other fields follow in the order they were added.
_LEADING = ("timestamp", "level", "logger", "message", "pid")
# Set on a record by a formatter that ran before ours (another handler's): not the caller's fields.
_FORMATTER_LEFTOVERS = ("message", "asctime", "taskName")


def _message_first(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``event`` becomes ``message`` (what log collectors look for) and the leading fields come first, so a line
    reads the same whatever logged it."""
    event_dict["message"] = event_dict.pop("event", "")
    leading = {key: event_dict.pop(key) for key in _LEADING if key in event_dict}
    return {**leading, **event_dict}


def _drop_formatter_leftovers(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key in _FORMATTER_LEFTOVERS:
        event_dict.pop(key, None)
    return event_dict


def _shared_processors() -> list[Processor]:
    """Run where the line is logged (in the call's context) for structlog's loggers and the standard ones."""
    return [
        structlog.contextvars.merge_contextvars,  # rpc_method, principal_id (bind_call, bind_principal)
        add_trace_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        add_process_id,
    ]


def formatter(log_format: Literal["json", "console"], *, colors: bool = False) -> structlog.stdlib.ProcessorFormatter:
    """The logging.Formatter that renders every record, the standard library's and structlog's alike."""
    renderer: list[Processor]
    if log_format == "json":
        renderer = [_message_first, structlog.processors.JSONRenderer()]
    else:
        # The traceback is already text (format_exc_info, then masked), so the renderer prints it as it is and
        # never shows local variables, which may hold secrets.
        renderer = [structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.ExtraAdder(),  # logging's extra={...} fields become fields of the line
            _drop_formatter_leftovers,
            *_shared_processors(),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,  # the traceback as one field, so the line stays one line
            redact,
            *renderer,
        ],
    )


def chosen_format(log_format: LogFormat, stream: TextIO) -> Literal["json", "console"]:
    """``auto``: readable lines for a person at a terminal, JSON wherever something else reads the stream (a
    container runtime, a log shipper, a pipe, a file), which is where a production fleet runs."""
    if log_format != "auto":
        return log_format
    try:
        return "console" if stream.isatty() else "json"
    except (AttributeError, ValueError):  # no isatty, or closed
        return "json"


def configure_logging(
    level: str, log_format: LogFormat = "auto", *, stream: TextIO | None = None, capture_uncaught: bool = True
) -> None:
    """Send every log record of this process to ``stream`` (stderr) in ``log_format`` at ``level`` and above.
    Called once per process, the supervisor and each worker; calling it again replaces what it installed.

    ``capture_uncaught`` also logs an exception nothing caught (in the main thread or another) as one line at
    CRITICAL before the process ends, instead of Python's traceback of many lines that no collector can tell
    apart from other output."""
    stream = sys.stderr if stream is None else stream
    rendered = chosen_format(log_format, stream)
    handler = logging.StreamHandler(stream)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter(rendered, colors=rendered == "console" and _is_terminal(stream)))
    root = logging.getLogger()
    for installed in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(installed)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings.warn(...) as lines of the "py.warnings" logger, in the same format
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    if capture_uncaught:
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


_uncaught = logging.getLogger("fapiao.uncaught")


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):  # Ctrl-C is not a failure to report
        sys.__excepthook__(kind, error, traceback)
        return
    _uncaught.critical("uncaught %s; exiting", kind.__name__, exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # as threading's own hook: a thread that exits is not an error
        return
    name = args.thread.name if args.thread is not None else "?"
    error = args.exc_value if args.exc_value is not None else args.exc_type()
    _uncaught.critical(
        "uncaught %s in thread %s", args.exc_type.__name__, name, exc_info=(args.exc_type, error, args.exc_traceback)
    )
