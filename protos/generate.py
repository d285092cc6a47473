"""Regenerate the Python stubs for the Fapiao contract.

    python protos/generate.py          # rewrite client/fapiao/v1 from protos/fapiao/v1
    python protos/generate.py --check  # exit 1 if the committed stubs differ from a fresh generation

The stubs live in client/fapiao/v1 so their import path equals the proto package (fapiao.v1). They are
never edited by hand; the pinned grpcio-tools in pyproject's dev extra makes the output reproducible, and a
test runs --check so CI fails when they are stale.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "client"
PACKAGE = Path("fapiao") / "v1"
INIT_TEXT = '"""Generated from protos/ by protos/generate.py. Do not edit."""\n'


def generate(out: Path) -> None:
    """Write the stubs for every proto under protos/fapiao/v1 into out/fapiao/v1."""
    protos = sorted(str(p) for p in (HERE / PACKAGE).glob("*.proto"))
    wkt = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={HERE}",
        f"--proto_path={HERE / 'third_party'}",
        f"--proto_path={wkt}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *protos,
    ]
    (out / PACKAGE).mkdir(parents=True, exist_ok=True)
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package in (out / "fapiao", out / PACKAGE):
        (package / "__init__.py").write_text(INIT_TEXT)


def stale_files(fresh: Path, committed: Path) -> list[str]:
    """Names of generated files that differ between two trees, or exist in only one."""
    fresh_names = {p.name for p in fresh.iterdir() if p.is_file()}
    committed_names = {p.name for p in committed.iterdir() if p.is_file()} if committed.exists() else set()
    differing = [
        name for name in fresh_names & committed_names if not filecmp.cmp(fresh / name, committed / name, shallow=False)
    ]
    return sorted(differing + list(fresh_names ^ committed_names))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when stale")
    options = parser.parse_args()
    if not options.check:
        shutil.rmtree(OUT / PACKAGE, ignore_errors=True)
        generate(OUT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = stale_files(Path(tmp) / PACKAGE, OUT / PACKAGE)
    if stale:
        print("stale generated stubs (run python protos/generate.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
