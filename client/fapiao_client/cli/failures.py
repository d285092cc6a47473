"""What the CLI says when a call fails: the register's refusal with its reason and the bad fields (by their
flags), or, when the call never reached the register or carried no usable credentials, one line saying what to
do about it. The exit status of each is in the package doc."""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

from ..credentials import TOKEN_ENV, credentials_in_use, default_credentials_path
from ..errors import FapiaoError
from .json_output import data_json
from .reachability import EXIT_UNREACHABLE, explain, unreachable
from .render import FLAGS

# The exit status of a refused call (cli/__init__ lists them all); anything else is 1.
# 6: a quota; wait as the message says. 7: who you are, or what you may do, stops the command: log in (again)
# or ask for the right.
ERROR_EXIT = {
    "INVALID_ARGUMENT": 2, "NOT_FOUND": 4, "FAILED_PRECONDITION": 5, "RESOURCE_EXHAUSTED": 6, "UNAUTHENTICATED": 7,
    "PERMISSION_DENIED": 7,
}  # fmt: skip


def credentials_hint(error: FapiaoError) -> str:
    """What to do about a refusal of the credentials, naming where the CLI took them from; "" for others."""
    if error.code.name != "UNAUTHENTICATED":
        return ""
    if error.reason == "CREDENTIALS_MISSING":
        return (
            f"no credentials: set {TOKEN_ENV} to an API key, or run `fapiao login` (it keeps a session in "
            f"{default_credentials_path()}); a government system presents --client-cert and --client-key"
        )
    if error.reason == "TOKEN_EXPIRED":
        return f"{credentials_in_use()} has expired: run `fapiao login` again"
    if error.reason in ("CREDENTIALS_INVALID", "CREDENTIALS_REVOKED"):
        fix = f"set {TOKEN_ENV} to a current API key" if os.environ.get(TOKEN_ENV) else "run `fapiao login` again"
        return f"the register does not accept {credentials_in_use()}: {fix}"
    return ""


def print_error(error: FapiaoError, options: argparse.Namespace) -> int:
    """Say why the call failed (standard error; with --json also the error object on standard output) and return
    the command's exit status."""
    command = getattr(options, "command", None) or "fapiao"
    if unreachable(error):
        line = explain(error, options)
        if options.json:
            print(data_json({"error": {"code": error.code.name, "message": line, "detail": error.message}}))
        print(f"{command}: {line}", file=sys.stderr)
        return EXIT_UNREACHABLE
    hint = credentials_hint(error)
    if options.json:
        body: dict[str, object] = {
            "code": error.code.name,
            "message": error.message,
            "reason": error.reason,
            "field_violations": [{"field": v.field, "description": v.description} for v in error.field_violations],
        }
        if error.retry_after is not None:
            body["retry_after_seconds"] = error.retry_after
        print(data_json({"error": body}))
    else:
        console = Console(stderr=True)
        console.print(f"[bold red]error[/]: {error.code.name}" + (f" ({error.reason})" if error.reason else ""))
        # soft_wrap: a message stays one line however narrow the terminal, so scripts can match it. A refusal of
        # the credentials is said by the hint below, in the CLI's terms rather than the register's protocol terms.
        if not error.field_violations and not hint:
            console.print(f"  {error.message}", markup=False, soft_wrap=True)
        for violation in error.field_violations:
            field = FLAGS.get(violation.field, violation.field)
            console.print(f"  {field}: {violation.description}", markup=False, soft_wrap=True)
    if hint:
        print(f"{command}: {hint}", file=sys.stderr)
    return ERROR_EXIT.get(error.code.name, 1)
