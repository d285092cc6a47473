"""Profiles of a server worker under load (py-spy record), summarised as the functions where time goes."""

from __future__ import annotations

import collections
import subprocess
import threading
from pathlib import Path
from typing import Any

import environment
import loadgen

# Frames every sample of an asyncio worker carries; they say nothing about where the time goes.
_BORING = (
    "multiprocessing/",
    "asyncio/runners.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
    "<module>",
    "threading.py",
    "fapiao_server/entrypoints/supervisor.py",
)


def record(py_spy: str, pid: int, seconds: float, output: Path, *, rate: int = 100) -> str | None:
    """Sample ``pid`` for ``seconds`` into ``output`` (py-spy raw / collapsed stacks); an error text or None."""
    args = [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", str(rate)]
    args += ["--format", "raw", "--output", str(output), "--nonblocking"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired:
        return "py-spy did not finish in time"
    if done.returncode != 0 or not output.exists():
        return f"py-spy failed ({done.returncode}): {done.stderr.strip()[-500:]}"
    return None


def summarise(collapsed: Path, *, top: int = 25) -> dict[str, object]:
    """Self and inclusive shares of the sampled stacks, by function (file:line dropped)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_function(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        own[frames[-1]] += samples
        for name in set(frames):
            if not any(marker in name for marker in _BORING):
                inclusive[name] += samples
    if not total:
        return {"samples": 0, "self": [], "inclusive": []}

    def share(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {"samples": total, "self": share(own), "inclusive": share(inclusive)}


def _function(frame: str) -> str:
    """'name (path/to/file.py:123)' -> 'name (file.py)' keeping the package directory for context."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({short})" if short else name


def under_h2load(pid: int, url: str, body: Path, credential: str, setting: tuple[int, int], seconds: float,
                 folder: Path, label: str) -> tuple[dict[str, Any], loadgen.LoadResult]:  # fmt: skip
    """py-spy of process ``pid`` while h2load drives ``url`` in a closed loop (``setting``: connections, streams):
    self and inclusive shares by function (or an error), and the load's result. The profile goes to ``folder``."""
    py_spy = environment.tool("py-spy") or "py-spy"
    output = folder / f"{label}.txt"
    errors: list[str] = []
    recorder = threading.Thread(target=lambda: errors.append(record(py_spy, pid, seconds, output) or ""))
    recorder.start()
    result = loadgen.h2load(environment.tool("h2load") or "/usr/bin/h2load", url, body, clients=setting[0],
                            streams=setting[1], duration=seconds + 2, caller=label, credential=credential)  # fmt: skip
    recorder.join()
    if errors and errors[0]:
        return {"error": errors[0]}, result
    return summarise(output, top=30), result
