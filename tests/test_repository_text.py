"""The repository stands alone: no file points at notes that are not in it (a planning folder beside the checkout,
a domain-facts file by another name) or at the numbers of the work items a change came from. A reader of a clone
must find every fact a comment leans on inside the clone; docs/domain.md holds the domain's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What a reader of a fresh clone reads: the project's own text, not third-party or generated files.
TEXT_SUFFIXES = {".py", ".md", ".proto", ".sql", ".toml", ".yaml", ".yml", ".json", ".lua", ".sh", ".txt", ".js", ""}
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", "third_party", "generated", ".pytest_cache", "build"}
OUTSIDE_REFERENCES = re.compile(
    r"""
      \bDOMAIN(?:\.md|\ sections?\ \d|\s*$)    # the planning folder's domain facts, by file or by section
    | \bSTYLE\.md\b
    | \.\./shared\b
    | \b[Ii]ssue\ \#?\d+(?=['’]s\b|[,:;).]|\ point\b)   # "issue 4's target", "(issue 4, point 3)"
    | \b[Ii]ssue\ \#\d+                         # "issue #12"
    | \btest_issue_\d+
    """,
    re.VERBOSE,
)


def _project_files() -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in relative.parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES and path != Path(__file__):
            found.append(path)
    return found


def test_the_scan_sees_the_project() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in _project_files()}
    assert {"README.md", "docs/domain.md", "protos/fapiao/v1/invoice.proto", ".ci/run"} <= names
    assert not any(name.startswith(("protos/third_party/", ".venv/")) for name in names)


@pytest.mark.parametrize(
    "text",
    [
        "the QR payload (DOMAIN section 3)",
        "see DOMAIN.md",
        "as on the national platform (DOMAIN",
        "../shared/STYLE.md",
        "issue 4's target: at most +15%",
        "refuse (issue 4, point 3):",
        "Issue 4, point 4.",
        "before issue 4)",
        "fixed in issue #12",
        "def test_issue_4_facts():",
    ],
)
def test_the_pattern_catches_what_it_must(text: str) -> None:
    assert OUTSIDE_REFERENCES.search(text)


@pytest.mark.parametrize(
    "text",
    [
        "docs/domain.md section 3",
        "issue 50 invoices in a loop",
        "bench/lifecycle.py --issues 5000",
        "ERROR_DOMAIN = 'fapiao.gov.cn'",
        "IssueInvoice 4 times",
    ],
)
def test_the_pattern_spares_ordinary_text(text: str) -> None:
    assert not OUTSIDE_REFERENCES.search(text)


def test_no_file_cites_what_is_not_in_the_repository() -> None:
    offending = []
    for path in _project_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if match := OUTSIDE_REFERENCES.search(line):
                offending.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in {line.strip()[:100]}")
    assert not offending, "\n".join(offending)


def test_the_readme_table_names_every_server_setting() -> None:
    """Every FAPIAO_* variable the server reads is a row (or part of one) in the README's settings table, spelled
    out whole, so an operator can find a setting they see in a deployment by searching for its name."""
    from fapiao_server.config import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `FAPIAO_")]
    documented = {name for row in rows for name in re.findall(r"`(FAPIAO_[A-Z0-9_]+)`", row.split(" | ")[0])}
    prefix = Settings.model_config.get("env_prefix", "")
    read = {f"{prefix}{field}".upper() for field in Settings.model_fields}
    assert read - documented == set(), "settings missing from the README's table"


def test_the_readme_activates_the_environment_before_its_first_bare_command() -> None:
    """The two set-up commands install into .venv without activating it; a reader who pastes the next `fapiao ...`
    line must have been told how to get it on PATH."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_bare = re.search(r"^fapiao ", readme, re.MULTILINE)
    assert first_bare
    assert ". .venv/bin/activate" in readme[: first_bare.start()]
