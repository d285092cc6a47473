"""The `fapiao` lifecycle commands against a real server: issue from a JSON file, allowed actions, void, certify,
report a period, red-letter forms and red invoices, history, lists, watch, and the exit status and message of
every kind of refusal. Each test sells as its own new taxpayer, so tests sharing the database never meet."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from fapiao.v1 import invoice_service_pb2 as pb
from fapiao.v1 import lifecycle_pb2
from fapiao_client import AsyncInvoiceClient, InvoiceClient
from fapiao_server.domain.access import Role
from fapiao_server.domain.taxpayer import USCC_ALPHABET, uscc_check_character
from tests.conftest import Register
from tests.support.server import ServerProcess, fapiao_executable

pytestmark = pytest.mark.slow
BEIJING = timezone(timedelta(hours=8))


# The tax ids the running test made; its taxpayer acts for all of them (see Cli.env).
_TEST_TAX_IDS: list[str] = []


def new_tax_id(division: str = "110108") -> str:
    """An enterprise's unified social credit code no other test uses, registered in ``division``."""
    first17 = "91" + division + "".join(secrets.choice(USCC_ALPHABET) for _ in range(9))
    _TEST_TAX_IDS.append(first17 + uscc_check_character(first17))
    return _TEST_TAX_IDS[-1]


class Cli:
    """Runs the installed `fapiao` against the test server as the test's taxpayer, a TAXPAYER principal acting
    for every tax id the test has made (a new principal whenever the test has made more, via FAPIAO_TOKEN)."""

    def __init__(self, server: ServerProcess, new_key: Callable[..., str]) -> None:
        self._new_key = new_key
        self._covered = 0
        self._env = {**os.environ, "FAPIAO_TARGET": server.address}
        self.principal_id = ""

    @property
    def env(self) -> dict[str, str]:
        if self._covered < len(_TEST_TAX_IDS):
            self._covered = len(_TEST_TAX_IDS)
            self.principal_id = f"e2e-cli-{uuid.uuid4().hex[:8]}"
            self._env["FAPIAO_TOKEN"] = self._new_key(
                Role.TAXPAYER, tax_ids=_TEST_TAX_IDS, principal_id=self.principal_id
            )
        return self._env

    @property
    def token(self) -> str:
        return self.env["FAPIAO_TOKEN"]

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(fapiao_executable()), *args], input=stdin, capture_output=True, text=True, timeout=60, env=self.env
        )

    def json(self, *args: str, stdin: str | None = None) -> Any:
        result = self(*args, "--json", stdin=stdin)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def lines(self, *args: str) -> list[Any]:
        result = self(*args, "--json")
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    def refused(self, status: int, *args: str) -> str:
        """Run a command that must fail with exit ``status``; its standard error."""
        result = self(*args)
        assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
        return result.stderr


@pytest.fixture
def cli(server: ServerProcess, new_key: Callable[..., str]) -> Cli:
    _TEST_TAX_IDS.clear()
    new_tax_id()  # so the CLI acts as a taxpayer from the test's first command
    return Cli(server, new_key)


def invoice_data(kind: str, seller: str, buyer: str = "", *, unit_price: str = "150.50") -> dict[str, Any]:
    """Two lines: 2 x ``unit_price`` at 13%, and 0.25 yuan at 6%."""
    amount = f"{2 * Decimal(unit_price):.2f}"
    return {
        "invoice_type": kind,
        "seller": {"tax_id": seller, "name": "北京测试科技有限公司", "address": "北京市海淀区"},
        "buyer": {"tax_id": buyer, "name": "上海采购有限公司"},
        "lines": [
            {"item_name": "*软件*开发服务", "amount": amount, "tax_rate": "13%", "quantity": "2",
             "unit_price": unit_price},
            {"item_name": "*信息技术服务*运维", "amount_fen": 25, "tax_rate_basis_points": 600},
        ],
        "issuer_name": "张三",
    }  # fmt: skip


def write(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def write_text(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.json"
    path.write_text(text, encoding="utf-8")
    return str(path)


def key(invoice: dict[str, Any]) -> str:
    """The INVOICE argument naming an invoice from its JSON."""
    code = invoice.get("invoice_code", "")
    return f"{code}:{invoice['invoice_number']}" if code else invoice["invoice_number"]


def test_issue_check_the_actions_then_void(cli: Cli, tmp_path: Path) -> None:
    seller, buyer = new_tax_id(), new_tax_id("310101")
    issued = cli.json("issue", "--file", write(tmp_path, invoice_data("01", seller, buyer)))
    # Proto field names, amounts in fen (int64 as strings, as protobuf's JSON mapping writes them).
    assert issued["invoice_type"] == "INVOICE_TYPE_VAT_SPECIAL" and issued["state"] == "INVOICE_STATE_ISSUED"
    assert (issued["amount_fen"], issued["tax_fen"], issued["total_fen"]) == ("30125", "3915", "34040")
    assert issued["lines"][0]["tax_rate_basis_points"] == 1300 and issued["seller"]["tax_id"] == seller
    invoice = key(issued)

    actions = cli("invoice", "actions", invoice)
    assert actions.returncode == 0, actions.stderr
    assert "ISSUED" in actions.stdout and "301.25 yuan left to reverse" in actions.stdout
    by_action = {a["action"]: a for a in cli.json("invoice", "actions", "--id", issued["id"])["actions"]}
    assert by_action["INVOICE_ACTION_VOID"]["allowed"] is True and "deadline" in by_action["INVOICE_ACTION_VOID"]
    assert by_action["INVOICE_ACTION_ISSUE_RED_INVOICE"]["refusal_reason"] == "NO_ISSUABLE_FORM"

    voided = cli("void", invoice, "--reason", "开错了")
    assert voided.returncode == 0, voided.stderr
    assert f"voided 01 VAT_SPECIAL {invoice} (id {issued['id']})" in voided.stdout and "VOIDED" in voided.stdout
    assert "301.25 / 39.15 / 340.40 yuan" in voided.stdout, "people read yuan with two decimals"

    again = cli.refused(5, "void", invoice)
    assert "FAILED_PRECONDITION (ALREADY_VOIDED)" in again and "the invoice is already voided" in again
    as_json = cli("void", "--id", issued["id"], "--json")
    assert as_json.returncode == 5 and json.loads(as_json.stdout)["error"]["reason"] == "ALREADY_VOIDED"
    refusal = {a["action"]: a for a in cli.json("invoice", "actions", invoice)["actions"]}["INVOICE_ACTION_VOID"]
    assert refusal.get("allowed", False) is False and refusal["refusal_reason"] == "ALREADY_VOIDED"

    history = cli.lines("invoice", "events", invoice)
    assert [e["event_type"] for e in history] == ["INVOICE_EVENT_TYPE_ISSUED", "INVOICE_EVENT_TYPE_VOIDED"]
    assert history[1]["reason"] == "开错了" and history[1]["actor"] == cli.principal_id and history[1]["cursor"]
    shown = cli("invoice", "get", invoice)
    assert shown.returncode == 0 and "VOIDED" in shown.stdout and "*软件*开发服务" in shown.stdout


def test_void_refusals_name_their_rule(cli: Cli, register: Register, tmp_path: Path) -> None:
    # A seeded paper invoice from an earlier month: general (04), so no test certifies it.
    old = register.samples("invoice_type = 4 AND state = 1 AND issue_date < current_date - 40", limit=40)[-1]
    with psycopg.connect(register.url) as conn:
        (seeded_seller,) = conn.execute("SELECT seller_tax_id FROM invoices WHERE id = %s", (old.id,)).fetchone()
    _TEST_TAX_IDS.append(seeded_seller)  # the test's taxpayer is its seller too
    ended = cli.refused(5, "void", f"{old.invoice_code}:{old.invoice_number}")
    assert "FAILED_PRECONDITION (VOID_PERIOD_ENDED)" in ended and "month of issue" in ended

    seller, buyer = new_tax_id(), new_tax_id("440300")
    general = cli.json("issue", "-f", write(tmp_path, invoice_data("04", seller, buyer)))
    assert "NOT_DEDUCTIBLE" in cli.refused(5, "certify", key(general))
    month = datetime.now(BEIJING).strftime("%Y-%m")
    reported = cli("report-period", seller, month)
    assert reported.returncode == 0 and f"reported {month}" in reported.stdout
    assert "(PERIOD_REPORTED)" in cli.refused(5, "void", key(general))

    special = cli.json("issue", "-f", write(tmp_path, invoice_data("01", new_tax_id(), buyer)))
    certified = cli.json("certify", key(special))
    assert certified["certify_time"] and certified["state"] == "INVOICE_STATE_ISSUED"
    assert "(CERTIFIED_BY_BUYER)" in cli.refused(5, "void", key(special))

    digital = cli.json("issue", "-f", write(tmp_path, invoice_data("32", new_tax_id(), buyer)))
    assert "(ELECTRONIC_NOT_VOIDABLE)" in cli.refused(5, "void", digital["invoice_number"])


def test_naming_an_invoice_that_is_not_there_or_cannot_be(cli: Cli) -> None:
    missing = cli.refused(4, "void", "1100269100:99999999")
    assert "NOT_FOUND (INVOICE_NOT_FOUND)" in missing
    assert json.loads(cli("invoice", "get", "--id", "999999999999", "--json").stdout)["error"]["code"] == "NOT_FOUND"
    assert "CODE:NUMBER" in cli.refused(2, "void", "12345")
    assert "needs its invoice code" in cli.refused(2, "invoice", "get", "00001234")
    assert "not both" in cli.refused(2, "certify", "25312000000000000001", "--id", "3")
    assert "not a UUID" in cli.refused(2, "void", "25312000000000000001", "--request-id", "again")
    assert "usage: fapiao red-letter" in cli.refused(2, "red-letter")
    assert "NOT_FOUND (FORM_NOT_FOUND)" in cli.refused(4, "red-letter", "get", "999999999999")


def test_a_digital_invoice_reversed_through_a_buyers_form(cli: Cli, tmp_path: Path) -> None:
    seller, buyer = new_tax_id(), new_tax_id("310101")
    number = cli.json("issue", "-f", write(tmp_path, invoice_data("32", seller, buyer)))["invoice_number"]

    form = cli.json("red-letter", "create", number, "--reason", "goods-returned", "--as", "buyer", "--line", "1:100.00")
    assert form["state"] == "RED_LETTER_FORM_STATE_AWAITING_SELLER" and form["initiator"] == "TRADE_PARTY_BUYER"
    assert (form["amount_fen"], form["tax_fen"]) == ("-10000", "-1300") and form["expire_time"]
    assert "(FORM_STATE)" in cli.refused(5, "red-letter", "issue", form["id"])
    assert "(NOT_AWAITED_PARTY)" in cli.refused(5, "red-letter", "confirm", form["id"], "--as", "buyer")
    assert "(RED_LETTER_FORM_OPEN)" in cli.refused(5, "red-letter", "create", number, "--reason", "1", "--as", "seller")

    confirmed = cli("red-letter", "confirm", form["id"], "--as", "seller")
    assert confirmed.returncode == 0, confirmed.stderr
    assert f"confirmed form {form['id']}: 04 CONFIRMED" in confirmed.stdout and "-100.00 / -13.00" in confirmed.stdout

    red = cli.json("red-letter", "issue", form["id"])
    assert red["invoice"]["red_letter"] is True and red["invoice"]["original_invoice"]["invoice_number"] == number
    original = red["original_invoice"]
    assert original["state"] == "INVOICE_STATE_PARTIALLY_REVERSED" and original["reversed_amount_fen"] == "10000"
    assert "(FORM_ALREADY_ISSUED)" in cli.refused(5, "red-letter", "issue", form["id"])

    shown = cli("invoice", "get", number)
    assert "PARTIALLY_REVERSED" in shown.stdout and "100.00 yuan" in shown.stdout
    assert red["invoice"]["invoice_number"] in shown.stdout
    history = [e["event_type"].removeprefix("INVOICE_EVENT_TYPE_") for e in cli.lines("invoice", "events", number)]
    assert history == ["ISSUED", "RED_LETTER_FORM_CREATED", "RED_LETTER_FORM_CONFIRMED", "REVERSED"]
    (listed,) = cli.lines("red-letter", "list", "--invoice", number)
    assert listed["id"] == form["id"] and listed["red_invoice"]["invoice_number"] == red["invoice"]["invoice_number"]


def test_forms_are_refused_and_withdrawn(cli: Cli, tmp_path: Path) -> None:
    seller, buyer = new_tax_id(), new_tax_id("320102")
    big = invoice_data("31", seller, buyer, unit_price="15050.00")  # see test_a_full_reversal_of_a_few_hundred_yuan
    number = cli.json("issue", "-f", write(tmp_path, big))["invoice_number"]
    entered = cli.json("red-letter", "create", number, "--reason", "4", "--as", "buyer", "--line", "2")
    refused = cli("red-letter", "reject", entered["id"], "--as", "seller", "--reason", "没有折让")
    assert refused.returncode == 0 and "06 REFUSED_BY_SELLER" in refused.stdout

    own = cli.json("red-letter", "create", number, "--reason", "issued-in-error", "--as", "seller")
    assert own["state"] == "RED_LETTER_FORM_STATE_NO_CONFIRMATION_NEEDED" and own["amount_fen"] == "-3010025"
    assert "(NOT_INITIATOR)" in cli.refused(5, "red-letter", "withdraw", own["id"], "--as", "buyer")
    withdrawn = cli.json("red-letter", "withdraw", own["id"], "--as", "seller", "--reason", "改开")
    assert withdrawn["state"] == "RED_LETTER_FORM_STATE_WITHDRAWN"
    states = [form["state"] for form in cli.lines("red-letter", "list", "--seller", seller)]
    assert states == ["RED_LETTER_FORM_STATE_WITHDRAWN", "RED_LETTER_FORM_STATE_REFUSED_BY_SELLER"], "newest first"
    refused_only = cli.lines("red-letter", "list", "--buyer", buyer, "--state", "refused-by-seller")
    assert [form["id"] for form in refused_only] == [entered["id"]]
    table = cli("red-letter", "list", "--buyer", buyer, "--state", "06")
    assert "06 REFUSED_BY_SELLER" in table.stdout and "WITHDRAWN" not in table.stdout


def test_a_full_reversal_of_a_few_hundred_yuan(cli: Cli, tmp_path: Path) -> None:
    number = cli.json("issue", "-f", write(tmp_path, invoice_data("32", new_tax_id())))["invoice_number"]
    form = cli.json("red-letter", "create", number, "--reason", "issued-in-error", "--as", "seller")
    assert (form["amount_fen"], form["tax_fen"], form["total_fen"]) == ("-30125", "-3915", "-34040")


def test_issue_reads_stdin_and_a_request_id_makes_it_happen_once(cli: Cli) -> None:
    seller = new_tax_id()
    text = json.dumps(invoice_data("04", seller), ensure_ascii=False)
    request_id = str(uuid.uuid4())
    first = cli.json("issue", "--file", "-", "--request-id", request_id, stdin=text)
    second = cli.json("issue", "--file", "-", "--request-id", request_id, stdin=text)
    assert second["id"] == first["id"] and second["invoice_number"] == first["invoice_number"]
    assert [i["id"] for i in cli.lines("invoice", "list", "--seller", seller)] == [first["id"]]
    changed = text.replace("301.00", "302.00").replace("150.50", "151.00")
    reused = cli("issue", "-f", "-", "--request-id", request_id, "--json", stdin=changed)
    assert reused.returncode == 2 and json.loads(reused.stdout)["error"]["reason"] == "REQUEST_ID_REUSED"


def test_issue_reports_every_problem_of_the_file(cli: Cli, tmp_path: Path) -> None:
    data = invoice_data("01", new_tax_id())
    data["lines"][0].update(amount="301.001", tax_rate="13")
    data["lines"][1]["amount"] = "0.25"
    data["colour"] = "red"
    problems = cli.refused(2, "issue", "--file", write(tmp_path, data))
    for path in ("lines[0].amount:", "lines[0].tax_rate:", "lines[1].amount: give amount or amount_fen", "colour:"):
        assert path in problems, problems
    assert "nothing was sent" in problems
    # Well formed, but breaking the rules of an invoice: found before sending too, all at once.
    seller = new_tax_id()
    ruled = invoice_data("01", seller)  # a special invoice without the buyer's tax id
    ruled["lines"][0]["tax_rate"] = "12%"
    ruled["lines"][0]["unit_price"] = "150.00"  # 2 x 150.00 is not the 301.00 of the line
    refused = cli.refused(2, "issue", "-f", write(tmp_path, ruled))
    assert "INVALID_ARGUMENT" not in refused, "found by the CLI, not the register"
    for said in ("buyer.tax_id: is required", "lines[0].tax_rate: 12% is not a VAT rate in use",
                 "lines[0].amount: quantity x unit_price is 300.00 yuan"):  # fmt: skip
        assert said in refused, refused
    assert "cannot read" in cli.refused(2, "issue", "-f", str(tmp_path / "missing.json"))

    # Several drafts in one file: one wrong draft and none is issued; each mistake names its draft and line.
    good = invoice_data("04", seller)
    bad = invoice_data("04", seller)
    bad["seller"]["tax_id"] = seller[:-1] + ("0" if seller[-1] != "0" else "1")  # a mistyped character
    path = tmp_path / "drafts.json"
    path.write_text(json.dumps([good, bad, good], ensure_ascii=False, indent=1), encoding="utf-8")
    several = cli.refused(2, "issue", "-f", str(path))
    assert "draft 2 (line " in several and "seller.tax_id:" in several and "check character" in several, several
    assert cli.lines("invoice", "list", "--seller", seller) == [], "nothing was issued"
    lines = "\n".join(json.dumps(draft, ensure_ascii=False) for draft in (good, good))
    issued = cli.lines("issue", "-f", write_text(tmp_path, lines))
    assert len(issued) == 2 and len({invoice["id"] for invoice in issued}) == 2
    assert len(cli.lines("invoice", "list", "--seller", seller)) == 2


def test_lists_and_pages(cli: Cli, server: ServerProcess, tmp_path: Path) -> None:
    seller = new_tax_id()
    issued = [cli.json("issue", "-f", write(tmp_path, invoice_data("04", seller))) for _ in range(3)]
    numbers = [invoice["invoice_number"] for invoice in issued]
    cli.json("void", key(issued[0]))
    newest_first = [i["invoice_number"] for i in cli.lines("invoice", "list", "--seller", seller, "--limit", "0")]
    assert newest_first == numbers[::-1]
    cut = cli("invoice", "list", "--seller", seller, "--limit", "2")
    assert cut.returncode == 0 and numbers[2] in cut.stdout and numbers[0] not in cut.stdout
    assert "showing the first 2 invoices" in cut.stderr
    voided = cli.lines("invoice", "list", "--seller", seller, "--state", "voided", "--type", "04")
    assert [i["invoice_number"] for i in voided] == numbers[:1]
    assert "give --seller" in cli.refused(2, "invoice", "list")
    assert "not an invoice state" in cli.refused(2, "invoice", "list", "--seller", seller, "--state", "paid")
    with InvoiceClient(server.address, token=cli.token) as client:  # the pager follows next_page_token
        assert [i.invoice_number for i in client.list_invoices(seller_tax_id=seller, page_size=1)] == numbers[::-1]
        history = list(client.list_invoice_events(key(issued[0]), page_size=1))
        assert [event.event_type for event in history] == [1, 2]  # ISSUED, VOIDED


def test_watch_prints_changes_made_while_it_runs_and_resumes(cli: Cli, tmp_path: Path) -> None:
    seller = new_tax_id()
    command = [str(fapiao_executable()), "watch", "--tax-id", seller, "--count", "2", "--timeout", "60", "--json"]
    watcher = subprocess.Popen(command, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stderr is not None
        started = watcher.stderr.readline()
        assert "watching from cursor" in started, started
        start_cursor = started.rsplit(" ", 1)[-1].strip()
        issued = cli.json("issue", "-f", write(tmp_path, invoice_data("04", seller)))
        cli.json("void", key(issued))
        out, err = watcher.communicate(timeout=60)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event_type"] for e in events] == ["INVOICE_EVENT_TYPE_ISSUED", "INVOICE_EVENT_TYPE_VOIDED"]
    assert all(e["invoice"]["invoice_number"] == issued["invoice_number"] for e in events)
    assert f"resume with --cursor {events[-1]['cursor']}" in err

    # From the cursor it started at, a later watch replays exactly what happened since; from the last one, nothing.
    replay = cli("watch", "--tax-id", seller, "--cursor", start_cursor, "--count", "2", "--timeout", "30", "--json")
    assert replay.returncode == 0, replay.stderr
    assert [json.loads(line)["id"] for line in replay.stdout.splitlines()] == [e["id"] for e in events]
    quiet = cli("watch", key(issued), "--cursor", events[-1]["cursor"], "--count", "1", "--timeout", "1")
    assert quiet.returncode == 124 and quiet.stdout == "" and "0 event(s) in 1 s" in quiet.stderr
    human = cli("watch", "--id", issued["id"], "--cursor", start_cursor, "--count", "1", "--timeout", "30")
    assert human.returncode == 0 and "ISSUED" in human.stdout and f"(cursor {events[0]['cursor']})" in human.stdout


def test_a_tax_officer_lists_and_watches_its_region(cli: Cli, new_key: Callable[..., str], tmp_path: Path) -> None:
    """`invoice list --region` and `watch --region` as a tax officer of Tibet (5400), with a taxpayer issuing."""
    seller = new_tax_id("540102")
    officer_env = {**cli.env, "FAPIAO_TOKEN": new_key(Role.TAX_OFFICER, regions=["5400"])}

    def officer(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(fapiao_executable()), *args], capture_output=True, text=True, timeout=60,
                              env=officer_env)  # fmt: skip

    command = [str(fapiao_executable()), "watch", "--region", "5400", "--count", "1", "--timeout", "60", "--json"]
    watcher = subprocess.Popen(command, env=officer_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stderr is not None
        started = watcher.stderr.readline()
        assert "watching from cursor" in started, started
        issued = cli.json("issue", "-f", write(tmp_path, invoice_data("04", seller)))
        out, err = watcher.communicate(timeout=60)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert (event["invoice"]["invoice_number"], event["region_code"]) == (issued["invoice_number"], "5400")

    listed = officer("invoice", "list", "--region", "5400", "--json")
    assert listed.returncode == 0, listed.stderr
    assert issued["id"] in [json.loads(line)["id"] for line in listed.stdout.splitlines()]
    elsewhere = officer("watch", "--region", "1100", "--timeout", "5")
    assert elsewhere.returncode == 7 and "PERMISSION_DENIED" in elsewhere.stderr, elsewhere.stderr
    assert "--region" in cli.refused(2, "watch", "--region", "5400", "--tax-id", seller)


def test_an_unreachable_register_says_how_to_retry_safely(cli: Cli) -> None:
    failed = cli.refused(9, "void", "25312000000000000001", "--target", "127.0.0.1:9")
    assert "could not reach 127.0.0.1:9: connection refused" in failed
    assert "run the command again with --request-id" in failed
    request_id = failed.split("--request-id ", 1)[1].split()[0]
    assert uuid.UUID(request_id)
    watch = cli.refused(9, "watch", "--tax-id", new_tax_id(), "--timeout", "2", "--target", "127.0.0.1:9")
    assert "reconnecting in" in watch and "could not reach 127.0.0.1:9" in watch


async def test_the_async_client_issues_reverses_and_lists(server: ServerProcess, cli: Cli) -> None:
    seller, buyer = new_tax_id(), new_tax_id("310101")
    async with AsyncInvoiceClient(server.address, token=cli.token) as client:
        invoice = await client.issue_invoice(invoice_data("08", seller, buyer))
        assert (invoice.amount_fen, invoice.tax_fen) == (30125, 3915)
        allowed = {a.action: a for a in (await client.get_allowed_actions(invoice)).actions}
        assert allowed[pb.INVOICE_ACTION_VOID].refusal_reason == "ELECTRONIC_NOT_VOIDABLE"
        certified = await client.certify_invoice(invoice)
        form = await client.create_red_letter_form(certified, reason="sales-discount", initiator="seller", items=[2])
        assert form.state == lifecycle_pb2.RED_LETTER_FORM_STATE_AWAITING_BUYER, "a certified invoice needs the buyer"
        await client.confirm_red_letter_form(form.id, party="buyer")
        red = await client.issue_red_invoice(form.id)
        assert red.original_invoice.reversed_amount_fen == 25
        assert [f.id async for f in client.list_red_letter_forms(invoice=invoice, page_size=1)] == [form.id]
        listed = [i.id async for i in client.list_invoices(seller_tax_id=seller, page_size=1)]
        assert listed == [red.invoice.id, invoice.id]
        kinds = [e.event_type async for e in client.list_invoice_events(invoice, page_size=2)]
        assert (
            kinds[0] == lifecycle_pb2.INVOICE_EVENT_TYPE_ISSUED
            and kinds[-1] == lifecycle_pb2.INVOICE_EVENT_TYPE_REVERSED
        )
