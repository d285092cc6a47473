"""The examples each command's --help ends with: a command people can copy, which a test parses with the real
parser so none goes stale."""

from __future__ import annotations

import argparse
from typing import Any


def examples(*lines: str) -> dict[str, Any]:
    """``add_parser`` keyword arguments for an "examples:" epilog shown as written (one command a line, each
    starting with ``fapiao``, optionally followed by a ``# comment``)."""
    return {
        "epilog": "examples:\n" + "\n".join(f"  {line}" for line in lines),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
