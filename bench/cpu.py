"""Where the machine's CPU went during a measurement: the server's processes, the load generator, PostgreSQL
backends of the bench database, Redis, and everything else (other tenants of a shared machine). On two cores
a neighbour using half a core moves the figures by 25%, so every measurement reports it. On a virtual machine the
host can also take cores away (steal time): that is reported apart, since it slows everything without showing
up as any process's CPU."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[float, float, float]:
    """(busy, total, stolen) CPU seconds since boot, over all cores; busy includes stolen."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return (total - idle) / TICK, total / TICK, fields[7] / TICK


def process_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used, 0 if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return found


@dataclass
class CpuShares:
    """Average cores used over the measurement."""

    seconds: float
    machine_busy: float
    server: float
    loadgen: float
    postgres: float
    redis: float
    steal: float = 0.0  # cores the hypervisor gave to other guests

    @property
    def other(self) -> float:
        return max(0.0, self.machine_busy - self.server - self.loadgen - self.postgres - self.redis - self.steal)

    def summary(self) -> dict[str, float]:
        data = {k: round(v, 3) for k, v in self.__dict__.items()}
        data["other"] = round(self.other, 3)
        return data


class CpuMeter:
    """``with CpuMeter(...) as meter: <run>``; then ``meter.shares``.

    ``server_pids`` and ``postgres_pids`` are asked for at the start (workers and pool connections live on);
    the load generator is whatever child processes this process waited for meanwhile.
    """

    def __init__(self, server_pids: Callable[[], Iterable[int]], postgres_pids: Callable[[], Iterable[int]]) -> None:
        self._server_pids = server_pids
        self._postgres_pids = postgres_pids
        self.shares: CpuShares | None = None

    def _snapshot(self) -> tuple[float, float, float, dict[str, dict[int, float]], float]:
        busy, _, stolen = _machine()
        groups = {
            "server": {p: process_seconds(p) for p in self._pids["server"]},
            "postgres": {p: process_seconds(p) for p in self._pids["postgres"]},
            "redis": {p: process_seconds(p) for p in self._pids["redis"]},
        }
        return time.monotonic(), busy, _children_seconds(), groups, stolen

    def __enter__(self) -> CpuMeter:
        self._pids = {
            "server": list(self._server_pids()),
            "postgres": list(self._postgres_pids()),
            "redis": pids_named("redis-server"),
        }
        self._start = self._snapshot()
        return self

    def __exit__(self, *_: object) -> None:
        end = self._snapshot()
        wall = max(1e-6, end[0] - self._start[0])

        def used(group: str) -> float:
            return sum(max(0.0, end[3][group][p] - self._start[3][group].get(p, 0.0)) for p in end[3][group]) / wall

        self.shares = CpuShares(
            seconds=wall,
            machine_busy=(end[1] - self._start[1]) / wall,
            server=used("server"),
            loadgen=(end[2] - self._start[2]) / wall,
            postgres=used("postgres"),
            redis=used("redis"),
            steal=(end[4] - self._start[4]) / wall,
        )


def busiest(pids: list[int], window: float = 1.0) -> int | None:
    """The process among ``pids`` that used the most CPU over the next ``window`` seconds."""
    if not pids:
        return None
    before = {p: process_seconds(p) for p in pids}
    time.sleep(window)
    return max(pids, key=lambda p: process_seconds(p) - before[p])
