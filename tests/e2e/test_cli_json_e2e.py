"""Every `fapiao` client command's --json output, against a real server: one spelling of keys everywhere, the
proto field names (snake_case, as in protos/), whether the answer is a message, a list, a stream, an error or an
object of the CLI's own."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyotp
import pytest

from fapiao_server.domain.access import Role
from fapiao_server.domain.taxpayer import USCC_ALPHABET, uscc_check_character
from tests.conftest import Register
from tests.support.server import ServerProcess, fapiao_executable
from tests.unit.test_cli_help import client_commands, client_parsers

pytestmark = pytest.mark.slow
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# map<string, string> fields: their keys are data (an audit event's details), not field names.
MAPS = frozenset({"details"})
BEIJING = timezone(timedelta(hours=8))


def non_snake_keys(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if not SNAKE.fullmatch(key):
                yield f"{path}.{key}"
            if key not in MAPS:
                yield from non_snake_keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from non_snake_keys(item, f"{path}[{index}]")


def tax_id(division: str = "110108") -> str:
    first17 = "91" + division + "".join(secrets.choice(USCC_ALPHABET) for _ in range(9))
    return first17 + uscc_check_character(first17)


class Runs:
    """Runs `fapiao ... --json` and keeps what each command printed, by command."""

    def __init__(self, target: str, home: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FAPIAO_")}
        self.env |= {"FAPIAO_TARGET": target, "XDG_CONFIG_HOME": str(home)}
        self.printed: dict[str, list[Any]] = {}

    def __call__(self, token: str, *args: str, status: int = 0, stdin: str = "") -> Any:
        """The command's JSON output (one object, or a list of the objects of a one-per-line output)."""
        env = {**self.env, "FAPIAO_TOKEN": token} if token else self.env
        result = subprocess.run(
            [str(fapiao_executable()), *args, "--json"], input=stdin, capture_output=True, text=True, timeout=60,
            env=env,
        )  # fmt: skip
        assert result.returncode == status, (args, result.returncode, result.stdout, result.stderr)
        try:
            printed: Any = json.loads(result.stdout)
        except json.JSONDecodeError:
            printed = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        known = client_parsers()
        command = next(" ".join(args[:n]) for n in range(len(args), 0, -1) if " ".join(args[:n]) in known)
        self.printed.setdefault(command, []).append(printed)
        return printed


@pytest.fixture
def runs(server: ServerProcess, tmp_path: Path) -> Runs:
    return Runs(server.address, tmp_path / "home")


def _invoice(kind: str, seller: str, buyer: str) -> str:
    return json.dumps({
        "invoice_type": kind,
        "seller": {"tax_id": seller, "name": "北京测试科技有限公司"},
        "buyer": {"tax_id": buyer, "name": "上海采购有限公司"},
        "lines": [
            {"item_name": "*软件*开发服务", "amount": "301.00", "tax_rate": "13%"},
            {"item_name": "*信息技术服务*运维", "amount": "0.25", "tax_rate": "6%"},
        ],
    }, ensure_ascii=False)  # fmt: skip


def _key(invoice: dict[str, Any]) -> str:
    code = invoice.get("invoice_code", "")
    return f"{code}:{invoice['invoice_number']}" if code else invoice["invoice_number"]


def test_every_json_output_uses_the_proto_field_names(
    runs: Runs, register: Register, new_key: Callable[..., str], verifier_key: str, tmp_path: Path
) -> None:
    verifier = verifier_key
    sample = register.sample("invoice_type = 31 AND state = 1")
    fields = ["--number", sample.invoice_number, "--date", sample.issue_date.isoformat(),
              "--total", f"{sample.total_fen / 100:.2f}"]  # fmt: skip
    receipt, keys = tmp_path / "receipt.json", tmp_path / "keys.json"
    assert runs(verifier, "verify", *fields, "--receipt", str(receipt))["invoice"]["invoice_number"]
    assert runs(verifier, "verify", "--qr", sample.qr_payload)["decoded_request"]["invoice_number"]
    runs(verifier, "verify", "--number", "1", "--date", "2025-01-01", "--total", "1", status=2)
    csv_file = tmp_path / "batch.csv"
    csv_file.write_text(f'qr\n"{sample.qr_payload}"\n', encoding="utf-8")
    assert runs(verifier, "verify-batch", str(csv_file))["result"]["verification"]["verification_id"]
    runs(verifier, "public-keys", "-o", str(keys))
    runs(verifier, "receipt", "check", str(receipt), "--keys", str(keys))
    runs(verifier, "whoami")

    seller, buyer = tax_id(), tax_id("310101")
    taxpayer = new_key(Role.TAXPAYER, tax_ids=[seller, buyer])
    paper = runs(taxpayer, "issue", "--file", "-", stdin=_invoice("04", seller, buyer))
    runs(taxpayer, "invoice", "get", _key(paper))
    runs(taxpayer, "invoice", "list", "--seller", seller)
    runs(taxpayer, "invoice", "actions", _key(paper))
    runs(taxpayer, "void", _key(paper), "--reason", "wrong buyer")
    first = runs(taxpayer, "invoice", "events", _key(paper))[0]
    runs(taxpayer, "watch", "--tax-id", seller, "--cursor", first["cursor"], "--count", "1", "--timeout", "30")
    special = runs(taxpayer, "issue", "--file", "-", stdin=_invoice("01", seller, buyer))
    runs(taxpayer, "certify", _key(special))
    runs(taxpayer, "report-period", seller, datetime.now(BEIJING).strftime("%Y-%m"))
    today = datetime.now(BEIJING).date().isoformat()
    runs(taxpayer, "stats", "--seller", seller, "--from", today, "--to", today, "--by", "type")

    digital = runs(taxpayer, "issue", "--file", "-", stdin=_invoice("32", seller, buyer))["invoice_number"]
    form = runs(taxpayer, "red-letter", "create", digital, "--reason", "goods-returned", "--as", "buyer", "--line",
                "1:100.00")  # fmt: skip
    runs(taxpayer, "red-letter", "confirm", form["id"], "--as", "seller")
    runs(taxpayer, "red-letter", "issue", form["id"])
    runs(taxpayer, "red-letter", "get", form["id"])
    runs(taxpayer, "red-letter", "list", "--invoice", digital)
    other = runs(taxpayer, "issue", "--file", "-", stdin=_invoice("31", seller, buyer))["invoice_number"]
    refused = runs(taxpayer, "red-letter", "create", other, "--reason", "4", "--as", "buyer", "--line", "2")
    runs(taxpayer, "red-letter", "reject", refused["id"], "--as", "seller")
    own = runs(taxpayer, "red-letter", "create", other, "--reason", "issued-in-error", "--as", "seller")
    runs(taxpayer, "red-letter", "withdraw", own["id"], "--as", "seller")

    auditor = new_key(Role.AUDITOR)
    runs(auditor, "audit", "list", "--limit", "5")
    runs(auditor, "audit", "verify")

    admin = new_key(Role.ADMIN)
    principal, username = f"json-{uuid.uuid4().hex[:8]}", f"json-{uuid.uuid4().hex[:8]}"
    runs(admin, "admin", "principals", "create", principal, "--role", "taxpayer", "--tax-id", seller)
    runs(admin, "admin", "principals", "list", "--limit", "3")
    runs(admin, "admin", "principals", "get", principal)
    runs(admin, "admin", "principals", "update", principal, "--display-name", "JSON test")
    enrolled = runs(admin, "admin", "principals", "set-login", principal, "--username", username, "--password-stdin",
                    stdin="correct horse battery staple\n")  # fmt: skip
    secret = re.search(r"secret=([A-Z2-7]+)", enrolled["totp_uri"])
    assert secret, enrolled
    created = runs(admin, "admin", "keys", "create", principal, "--description", "json")
    runs(admin, "admin", "keys", "list", principal)
    runs(admin, "admin", "keys", "revoke", created["key"]["id"])
    code = pyotp.TOTP(secret.group(1)).now()
    runs("", "login", "--username", username, "--password-stdin", "--code", code,
         stdin="correct horse battery staple\n")  # fmt: skip
    runs("", "logout")
    runs(admin, "admin", "sessions", "revoke", principal)

    assert set(runs.printed) == set(client_commands()), "a command with --json is not checked here"
    wrong = {command: bad for command, outputs in runs.printed.items() if (bad := list(non_snake_keys(outputs)))}
    assert not wrong, wrong
    assert runs.printed["verify"][2]["error"]["field_violations"], "errors too"
