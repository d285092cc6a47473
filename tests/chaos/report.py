"""The chaos suite's figures: printed (pytest -s shows them) and, when FAPIAO_CHAOS_REPORT names a file, appended
to it as one JSON line per scenario, for docs/reliability.md."""

from __future__ import annotations

import json
import os
from typing import Any


def report(figures: dict[str, Any]) -> None:
    line = json.dumps(figures, ensure_ascii=False)
    print(line)
    path = os.environ.get("FAPIAO_CHAOS_REPORT")
    if path:
        with open(path, "a") as file:
            file.write(line + "\n")
