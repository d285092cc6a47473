"""docs/integrating.md stays true: its links lead somewhere, the include paths and files it names exist, every
ErrorInfo reason it tells integrators to branch on is one the register sends, and the code it quotes is the
worked example's."""

from __future__ import annotations

import contextlib
import re
import shlex
from pathlib import Path

from .conftest import ROOT

DOC = ROOT / "docs" / "integrating.md"
SERVER = ROOT / "server" / "fapiao_server"


def _anchor(heading: str) -> str:
    """A Markdown heading's anchor as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_lead_to_files_and_headings_that_exist() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", DOC.read_text())
    local = [link for link in links if not link.startswith("https://")]
    assert len(local) >= 4
    for link in local:
        path, _, anchor = link.partition("#")
        target = (DOC.parent / path).resolve()
        assert target.exists(), link
        if anchor:
            headings = {_anchor(h) for h in re.findall(r"^#+ (.+)$", target.read_text(), flags=re.MULTILINE)}
            assert anchor in headings, f"{link}: no such heading in {path}"


def test_the_files_it_names_under_protos_exist() -> None:
    text = DOC.read_text()
    for name in ("google/rpc/status.proto", "google/rpc/error_details.proto", "google/type/date.proto"):
        assert name in text and (ROOT / "protos" / "third_party" / name).exists(), name
    assert "-I protos -I protos/third_party" in text
    assert (ROOT / "protos" / "released" / "README.md").exists()


def test_every_reason_it_names_is_one_the_register_sends() -> None:
    source = "\n".join(path.read_text() for path in SERVER.rglob("*.py"))
    table = DOC.read_text().split("Codes and the reasons", 1)[1].split("\n\n", 2)[1]
    reasons = set(re.findall(r"`([A-Z][A-Z_]+)`", table))
    assert {"INVALID_INVOICE", "RATE_LIMIT", "CONCURRENT_CHANGE", "CREDENTIALS_MISSING"} <= reasons
    # The party checks (domain/access.py act_for) build theirs from the party: NOT_THE_SELLER, _BUYER, _TAXPAYER.
    parties = 'reason=f"NOT_THE_{party.upper()}"' in source
    unknown = [r for r in reasons if f'"{r}"' not in source and not (parties and r.startswith("NOT_THE_"))]
    assert not unknown, f"reasons the register never sends: {sorted(unknown)}"


def test_the_code_it_quotes_is_the_worked_examples() -> None:
    client = (ROOT / "tests" / "interop" / "client.js").read_text()
    for line in (
        "const fapiao = grpc.loadPackageDefinition(definition).fapiao.v1;",
        "const [raw] = error.metadata",
        "const status = Status.decode(raw);",
        'const name = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);',
    ):
        assert line in DOC.read_text(), line
        assert line in client, f"the doc quotes a line client.js no longer has: {line}"


def test_its_protoc_command_compiles_the_contract(tmp_path: Path) -> None:
    """The generation command as written, run from the repository's root (Python's generator standing in for
    Java's, which grpcio-tools lacks; protoc's well-known types added, as every protoc has them built in)."""
    from grpc_tools import protoc

    command = re.search(r"^protoc -I .*$", DOC.read_text().replace("\\\n", ""), flags=re.MULTILINE)
    assert command, "no protoc command in the doc"
    args = shlex.split(command[0].replace("--java_out=gen", f"--python_out={tmp_path}"))
    # What the shell would make of the globs.
    expanded = [name for arg in args[1:] for name in ([str(p.relative_to(ROOT)) for p in sorted(ROOT.glob(arg))]
                                                      if "*" in arg else [arg])]  # fmt: skip
    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    with contextlib.chdir(ROOT):
        assert protoc.main(["protoc", *expanded, f"-I{well_known}"]) == 0, command[0]
    assert (tmp_path / "google" / "rpc" / "error_details_pb2.py").exists()
    assert (tmp_path / "fapiao" / "v1" / "invoice_service_pb2.py").exists()
