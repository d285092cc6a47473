"""The `fapiao` command line against a real server: verify (fields, QR, --json) and verify-batch CSV files."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

from tests.conftest import Register
from tests.support.server import ServerProcess, fapiao_executable


def fapiao(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(fapiao_executable()), *args], capture_output=True, text=True, timeout=60)


def _flags(server: ServerProcess, sample) -> list[str]:  # type: ignore[no-untyped-def]
    flags = ["--target", server.address, "--number", sample.invoice_number, "--date", sample.issue_date.isoformat()]
    if sample.invoice_code:
        flags += ["--code", sample.invoice_code]
    ((name, value),) = sample.proof().items()
    if name == "check_code":
        return [*flags, "--check-code", value]
    yuan = f"{value / 100:.2f}" if value >= 0 else f"-{-value / 100:.2f}"
    return [*flags, "--amount" if name == "amount_fen" else "--total", yuan]


def test_verify_prints_the_invoice_and_exits_by_outcome(server: ServerProcess, register: Register) -> None:
    sample = register.sample("invoice_type = 1 AND state = 1")
    matched = fapiao("verify", *_flags(server, sample))
    assert matched.returncode == 0, matched.stderr
    assert "MATCH" in matched.stdout and sample.invoice_number in matched.stdout
    flags = _flags(server, sample)
    flags[flags.index("--amount") + 1] = "0.01"
    mismatched = fapiao("verify", *flags)
    assert mismatched.returncode == 3 and "--amount" in mismatched.stdout
    flags[flags.index("--number") + 1] = "99999999"
    assert fapiao("verify", *flags).returncode == 4


def test_verify_json_is_protobuf_json(server: ServerProcess, register: Register) -> None:
    sample = register.sample("invoice_type = 31 AND state = 1")
    result = fapiao("verify", *_flags(server, sample), "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["outcome"] == "VERIFICATION_OUTCOME_MATCH"
    assert body["invoice"]["invoice_number"] == sample.invoice_number  # the proto field names, as every command
    assert body["invoice"]["total_fen"] == str(sample.total_fen)


def test_verify_by_qr(server: ServerProcess, register: Register) -> None:
    sample = register.sample("invoice_type = 10 AND state = 1")
    result = fapiao("verify", "--target", server.address, "--qr", sample.qr_payload, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["decoded_request"]["invoice_number"] == sample.invoice_number


def test_verify_reports_bad_fields_by_their_flags(server: ServerProcess) -> None:
    result = fapiao(
        "verify", "--target", server.address, "--code", "12345", "--number", "1", "--date", "2025-01-01",
        "--check-code", "123456",
    )  # fmt: skip
    assert result.returncode == 2
    assert "--code:" in result.stderr and "--number:" in result.stderr
    as_json = fapiao("verify", "--target", server.address, "--number", "1", "--date", "2025-01-01", "--total", "1",
                     "--json")  # fmt: skip
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["error"]["reason"] == "INVALID_VERIFICATION_QUERY"


def test_verify_explains_an_unreachable_register() -> None:
    result = fapiao("verify", "--target", "127.0.0.1:9", "--number", "1", "--date", "2025-01-01", "--total", "1")
    assert result.returncode == 9, result.stderr
    assert result.stderr.strip().splitlines() == [
        "fapiao verify: could not reach 127.0.0.1:9: connection refused; is `fapiao serve` running there, "
        "on that port? (--target HOST:PORT, or FAPIAO_TARGET)"
    ]


def test_verify_batch_writes_one_result_row_per_input_row(
    server: ServerProcess, register: Register, tmp_path: Path
) -> None:
    samples = register.samples("state = 1", limit=40)
    source = tmp_path / "invoices.csv"
    with source.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["code", "number", "date", "check_code", "amount", "total", "qr"])
        for sample in samples:
            ((name, value),) = sample.proof().items()
            money = f"{value / 100:.2f}" if name != "check_code" else ""
            writer.writerow([
                sample.invoice_code, sample.invoice_number, sample.issue_date.isoformat(),
                value if name == "check_code" else "", money if name == "amount_fen" else "",
                money if name == "total_fen" else "", "",
            ])  # fmt: skip
        writer.writerow(["", "", "", "", "", "", samples[0].qr_payload])
        writer.writerow(["1100231130", "00000001", "not-a-date", "", "1", "", ""])
        writer.writerow(["12", "3", "2025-01-01", "123456", "", "", ""])
    target = tmp_path / "results.csv"
    result = fapiao("verify-batch", str(source), "--target", server.address, "--output", str(target))
    assert result.returncode == 3, result.stderr  # two rows are not MATCH
    summary = (
        f"fapiao verify-batch: {len(samples) + 3} row(s): {len(samples) + 1} MATCH, 0 MISMATCH, 0 NOT_FOUND, 2 error(s)"
    )
    assert summary in result.stderr.splitlines()
    with target.open(encoding="utf-8") as produced:
        rows = list(csv.DictReader(produced))
    assert [int(r["row"]) for r in rows] == list(range(1, len(samples) + 4))
    assert {r["outcome"] for r in rows[: len(samples) + 1]} == {"MATCH"}
    assert rows[-2]["error_reason"] == "INVALID_CSV_ROW"
    assert rows[-1]["error_code"] == "INVALID_ARGUMENT" and "invoice_code" in rows[-1]["error_message"]
    as_json = fapiao("verify-batch", str(source), "--target", server.address, "--json", "--exit-zero")
    assert as_json.returncode == 0, as_json.stderr
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert (
        len(lines) == len(samples) + 3 and lines[0]["result"]["verification"]["outcome"] == "VERIFICATION_OUTCOME_MATCH"
    )


def test_verify_batch_reads_a_file_without_a_header_and_counts_the_outcomes(
    server: ServerProcess, register: Register, tmp_path: Path
) -> None:
    """A first row that names no column is an invoice like the others (in the documented column order)."""
    general = register.sample("invoice_type = 10 AND state = 1")
    special = register.sample("invoice_type = 1 AND state = 1")
    source = tmp_path / "headerless.csv"
    with source.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow([general.invoice_code, general.invoice_number, general.issue_date.isoformat(),
                         general.proof()["check_code"]])  # fmt: skip
        writer.writerow([special.invoice_code, special.invoice_number, special.issue_date.isoformat(), "", "0.01"])
        writer.writerow([special.invoice_code, "99999999", special.issue_date.isoformat(), "", "0.01"])
    result = fapiao("verify-batch", str(source), "--target", server.address)
    assert result.returncode == 3, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [(r["row"], r["invoice_number"], r["outcome"]) for r in rows] == [
        ("1", general.invoice_number, "MATCH"),
        ("2", special.invoice_number, "MISMATCH"),
        ("3", "99999999", "NOT_FOUND"),
    ]
    assert "has no header row; reading its columns as code,number,date,check_code,amount,total,type,qr" in result.stderr
    assert "3 row(s): 1 MATCH, 1 MISMATCH, 1 NOT_FOUND, 0 error(s)" in result.stderr
    assert fapiao("verify-batch", str(source), "--target", server.address, "--exit-zero").returncode == 0

    matched = tmp_path / "matched.csv"
    matched.write_text(source.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    assert fapiao("verify-batch", str(matched), "--target", server.address).returncode == 0
