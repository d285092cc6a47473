"""The contract and the SDK's surface: stubs match the protos, the protos pass buf lint and break nothing of
the last release, protos/ alone describes every error detail the register sends, the client's public API is
pinned and never drags the server in; the code passes ruff and mypy."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
# The contract of the last release, as buf reads it (buf.yaml and the .proto files); protos/released/README.md
# says which release and how to move it.
RELEASED = PROTOS / "released" / "contract.tar.gz"


def test_generated_stubs_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def _buf() -> str | None:
    return shutil.which("buf") or next((str(p) for p in [ROOT / "node_modules" / ".bin" / "buf"] if p.exists()), None)


def _required_buf() -> str:
    buf = _buf()
    if buf is None:
        if os.environ.get("FAPIAO_REQUIRE_BUF"):
            pytest.fail("buf is required here (FAPIAO_REQUIRE_BUF) but was not found")
        pytest.skip("buf is not installed (npm install @bufbuild/buf); CI installs it and requires this test")
    return buf


def test_protos_pass_buf_lint() -> None:
    result = subprocess.run([_required_buf(), "lint"], cwd=PROTOS, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _breaking(buf: str, protos: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [buf, "breaking", "--against", str(RELEASED)], cwd=protos, capture_output=True, text=True, timeout=120
    )


def test_protos_break_nothing_of_the_last_release() -> None:
    """Clients generated from the released contract keep working against this one (buf.yaml's breaking rules)."""
    result = _breaking(_required_buf(), PROTOS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_breaking_catches_a_deleted_field(tmp_path: Path) -> None:
    """Guards the test above: against the same baseline, a copy of protos/ with a field removed is refused."""
    buf = _required_buf()
    shutil.copytree(PROTOS, tmp_path / "protos")
    proto = tmp_path / "protos" / "fapiao" / "v1" / "verification_service.proto"
    text = proto.read_text()
    assert "  bool with_receipt = 8;\n" in text
    proto.write_text(text.replace("  bool with_receipt = 8;\n", ""))
    result = _breaking(buf, tmp_path / "protos")
    assert result.returncode != 0
    assert 'field "8" with name "with_receipt" on message "VerifyInvoiceRequest" was deleted' in result.stdout, (
        result.stdout + result.stderr
    )


def _descriptors_from_protos_alone() -> descriptor_pb2.FileDescriptorSet:
    """Every file under protos/ compiled as another language's generator would: include paths protos/ and
    protos/third_party, plus protoc's own well-known types (google/protobuf/*), nothing from any Python package."""
    from grpc_tools import protoc

    files = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "fapiao").rglob("*.proto"))
    files += sorted(str(p.relative_to(PROTOS / "third_party")) for p in (PROTOS / "third_party").rglob("*.proto"))
    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"fapiao-contract-{os.getpid()}.binpb"
    args = ["protoc", f"-I{PROTOS}", f"-I{PROTOS / 'third_party'}", f"-I{well_known}", "--include_imports",
            f"--descriptor_set_out={out}", *files]  # fmt: skip
    try:
        assert protoc.main(args) == 0, "protoc failed on protos/"
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    finally:
        out.unlink(missing_ok=True)


def test_protos_describe_every_error_detail_the_register_sends() -> None:
    """A client in another language decodes grpc-status-details-bin (google.rpc.Status) and each detail in it
    from protos/ alone: every detail type the transport packs is defined by a file there."""
    from fapiao_server.domain import errors as domain
    from fapiao_server.transport.errors import _internal_status, status_for

    one_of_each = [
        domain.InvalidArgument([domain.FieldViolation("invoice_number", "must be 8 or 20 digits")]),
        domain.Unavailable("the database is unreachable"),
        domain.Overloaded(0.1),
        domain.StatementTimeout("too slow"),
        domain.NotFound("no such invoice"),
        domain.FailedPrecondition("the period is reported", reason="VOID_PERIOD_ENDED", subject="invoice:1"),
        domain.Aborted("changed meanwhile"),
        domain.Unauthenticated("no credentials", reason="CREDENTIALS_MISSING"),
        domain.PermissionDenied("not yours"),
        domain.AlreadyExists("taken"),
        domain.QuotaExceeded("too fast", quota="RATE_LIMIT", limit=20, retry_after=0.05, subject="principal:p"),
    ]
    statuses = [status_for(error) for error in one_of_each] + [_internal_status()]
    sent = {detail.type_url.rsplit("/", 1)[-1] for status in statuses for detail in status.details}
    assert {"google.rpc.ErrorInfo", "google.rpc.BadRequest", "google.rpc.RetryInfo", "google.rpc.QuotaFailure",
            "google.rpc.PreconditionFailure"} <= sent  # fmt: skip
    ours = {str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto")}
    ours |= {str(p.relative_to(PROTOS / "third_party")) for p in (PROTOS / "third_party").rglob("*.proto")}
    defined = {
        f"{file.package}.{message.name}"
        for file in _descriptors_from_protos_alone().file
        if file.name in ours
        for message in file.message_type
    }
    assert "google.rpc.Status" in defined
    missing = sorted(sent - defined)
    assert not missing, f"sent as error details but not defined under protos/: {missing}"


def test_client_public_api_is_pinned() -> None:
    import fapiao_client

    assert sorted(fapiao_client.__all__) == sorted(
        [
            "AdminClient",
            "AuthClient",
            "DEFAULT_TARGET",
            "AsyncInvoiceClient",
            "AsyncInvoiceWatch",
            "AsyncRegisterKeyClient",
            "AsyncReportClient",
            "AsyncVerificationClient",
            "AuditClient",
            "DraftError",
            "FapiaoError",
            "FieldViolation",
            "InvoiceClient",
            "InvoiceWatch",
            "TokenSource",
            "QuotaViolation",
            "PublicKeys",
            "RegisterKeyClient",
            "ReportClient",
            "SignatureError",
            "VerificationClient",
            "batch_item",
            "canonical_invoice",
            "fen_to_yuan",
            "invoice_selector",
            "issue_request",
            "load_receipt",
            "rate_to_basis_points",
            "save_receipt",
            "verify_invoice_signature",
            "verify_receipt",
            "verify_request",
            "yuan_to_fen",
        ]
    )


def test_importing_the_client_never_imports_the_server() -> None:
    probe = (
        "import sys, fapiao_client, fapiao_client.cli.batch, fapiao_client.cli.verify, fapiao_client.cli.signing; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fapiao_server', 'psycopg', 'psycopg_pool', 'redis', 'pydantic_settings', 'opentelemetry')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_passes_ruff() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    result = subprocess.run([ruff, "check", "--quiet", str(ROOT)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_ruff_formatted() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    # Python files only: newer ruff also formats the code blocks of Markdown files, and the docs' blocks are
    # laid out for reading (aligned comments), not by the formatter.
    result = subprocess.run(
        [ruff, "format", "--check", "--extend-exclude", "*.md", str(ROOT)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_server_and_client_pass_mypy() -> None:
    """[tool.mypy] in pyproject.toml says what is checked and how strictly."""
    # The venv's own mypy first: it checks against the packages installed beside it, which a mypy elsewhere on
    # PATH would not see.
    beside = Path(sys.executable).with_name("mypy")
    mypy = str(beside) if beside.exists() else shutil.which("mypy")
    assert mypy is not None, "mypy is not installed (pip install -e '.[dev]')"
    result = subprocess.run([mypy], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def _python_files() -> list[Path]:
    """The repository's Python files, not those of the virtualenv, caches or installed tools beside them."""
    skipped = {"node_modules", "build", "dist", "__pycache__"}
    found = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d not in skipped)
        found += [Path(folder, name) for name in sorted(names) if name.endswith(".py")]
    return found


def test_every_type_ignore_names_its_error_code() -> None:
    """A bare ignore also silences any other error that later appears on its line; one with a code only that."""
    bare = re.compile(r"#\s*type:\s*ignore(?!\[)")
    found = []
    for path in _python_files():
        text = path.read_text(encoding="utf-8")
        if "ignore" not in text:
            continue
        # Comments only: a string may well spell the pattern out (this test's own does).
        comments = (
            token for token in tokenize.generate_tokens(io.StringIO(text).readline) if token.type == tokenize.COMMENT
        )
        found += [f"{path.relative_to(ROOT)}:{token.start[0]}" for token in comments if bare.search(token.string)]
    assert not found, "a `# type: ignore` without [error-code] at " + ", ".join(found)
