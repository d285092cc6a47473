"""h2load as a gRPC unary load generator, and the latency figures from its per-request log."""

from __future__ import annotations

import math
import random
import re
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_FINISHED = re.compile(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s")
_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout"
)
_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")


def grpc_frame(message: bytes) -> bytes:
    """A length-prefixed gRPC message: no compression flag, 4-byte big-endian length, the bytes."""
    return b"\0" + struct.pack(">I", len(message)) + message


@dataclass
class LoadResult:
    clients: int
    streams: int
    duration: float
    rps_per_client: int | None
    requests_per_second: float
    started: int
    done: int
    succeeded: int
    failed: int
    errored: int
    timeouts: int
    status_2xx: int
    # Per-request durations in microseconds (only when a log file was asked for).
    durations_us: list[int] = field(default_factory=list, repr=False)
    caller: str = ""

    @property
    def offered(self) -> int | None:
        return None if self.rps_per_client is None else self.rps_per_client * self.clients

    def summary(self) -> dict[str, object]:
        data = {k: v for k, v in self.__dict__.items() if k != "durations_us"}
        data["p50_ms"], data["p99_ms"] = percentiles_ms(self.durations_us)
        data["samples"] = len(self.durations_us)
        return data


def percentile(sorted_values: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return 0
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


def percentiles_ms(durations_us: list[int]) -> tuple[float | None, float | None]:
    if not durations_us:
        return None, None
    ordered = sorted(durations_us)
    return percentile(ordered, 0.50) / 1000, percentile(ordered, 0.99) / 1000


def h2load_fleet(
    h2load_path: str,
    url: str,
    bodies: list[Path],
    *,
    streams: int,
    duration: float,
    caller: str,
    credential: str,
    log_dir: Path | None,
    rps_per_connection: int | None = None,
    connections_per_process: int = 1,
) -> LoadResult:
    """One h2load process per body (``connections_per_process`` connections each), started at random phases
    within one request period.

    Two uses. An open loop (``rps_per_connection``): one h2load with ``--clients=N --rps=R`` starts all N
    connections at once and gives each the same timer, so requests leave in bursts of N every 1/R s
    (measured: 1,315 of 1,439 gaps between request starts under 0.2 ms with N=16), which measures how a server
    absorbs bursts rather than its latency at a given load. And distinct requests: h2load sends one body, so
    different invoices need different processes. Several connections per process keep the process count
    down when many connections are wanted (bursts of that many, at each process's own phase).
    """
    period = 1.0 / rps_per_connection if rps_per_connection else 0.05
    runs: list[tuple[subprocess.Popen[str], Path | None]] = []
    try:
        for index, body in enumerate(bodies):
            log_file = None if log_dir is None else log_dir / f"fleet-{index}.log"
            args = _args(h2load_path, url, body, connections_per_process, streams, duration, credential,
                         rps_per_connection, log_file)  # fmt: skip
            runs.append((subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), log_file))
            time.sleep(random.uniform(0, 2 * period / len(bodies)))
        results = []
        deadline = time.monotonic() + duration + 30
        for process, log_file in runs:
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append(
                _parse(
                    out, err, process.returncode, connections_per_process, streams, rps_per_connection, log_file, caller
                )
            )
            if log_file is not None:
                log_file.unlink(missing_ok=True)
    finally:
        for process, _ in runs:
            if process.poll() is None:
                process.kill()
                process.wait()
    return LoadResult(
        clients=len(bodies) * connections_per_process,
        streams=streams,
        duration=max(r.duration for r in results),
        rps_per_client=rps_per_connection,
        requests_per_second=sum(r.requests_per_second for r in results),
        started=sum(r.started for r in results),
        done=sum(r.done for r in results),
        succeeded=sum(r.succeeded for r in results),
        failed=sum(r.failed for r in results),
        errored=sum(r.errored for r in results),
        timeouts=sum(r.timeouts for r in results),
        status_2xx=sum(r.status_2xx for r in results),
        durations_us=[d for r in results for d in r.durations_us],
        caller=caller,
    )


def _args(
    h2load_path: str,
    url: str,
    body: Path,
    clients: int,
    streams: int,
    duration: float,
    credential: str,
    rps_per_client: int | None,
    log_file: Path | None,
) -> list[str]:
    args = [
        h2load_path,
        "--threads=1",
        f"--clients={clients}",
        f"--max-concurrent-streams={streams}",
        f"--duration={round(duration * 1000)}ms",  # h2load takes whole seconds or a unit
        f"--data={body}",
        "--header=content-type: application/grpc",
        "--header=te: trailers",
        # The register answers only authenticated calls; the credential also names whose records the answers are.
        f"--header=authorization: Bearer {credential}",
    ]
    if rps_per_client is not None:
        args.append(f"--rps={rps_per_client}")
    if log_file is not None:
        args.append(f"--log-file={log_file}")
    args.append(url)
    return args


def _parse(
    out: str,
    err: str,
    returncode: int,
    clients: int,
    streams: int,
    rps_per_client: int | None,
    log_file: Path | None,
    caller: str,
) -> LoadResult:
    finished, requests, status = _FINISHED.search(out), _REQUESTS.search(out), _STATUS.search(out)
    if returncode != 0 or not (finished and requests and status):
        raise RuntimeError(f"h2load failed ({returncode}):\n{out[-2000:]}\n{err[-2000:]}")
    durations: list[int] = []
    if log_file is not None:
        for line in log_file.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[1] == "200":
                durations.append(int(parts[2]))
    _, started, finished_count, succeeded, failed, errored, timeouts = map(int, requests.groups())
    return LoadResult(
        clients=clients,
        streams=streams,
        duration=float(finished[1]) / (1000 if finished[2] == "ms" else 1),
        rps_per_client=rps_per_client,
        requests_per_second=float(finished[3]),
        started=started,
        done=finished_count,
        succeeded=succeeded,
        failed=failed,
        errored=errored,
        timeouts=timeouts,
        status_2xx=int(status[1]),
        durations_us=durations,
        caller=caller,
    )


def h2load(
    h2load_path: str,
    url: str,
    body: Path,
    *,
    clients: int,
    streams: int,
    duration: float,
    caller: str,
    credential: str,
    rps_per_client: int | None = None,
    log_file: Path | None = None,
) -> LoadResult:
    """One timed h2load run (one thread, ``clients`` connections, ``streams`` concurrent streams each)."""
    args = _args(h2load_path, url, body, clients, streams, duration, credential, rps_per_client, log_file)
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=duration + 30, check=False)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"h2load did not finish within {duration + 30:.0f} s") from error
    return _parse(done.stdout, done.stderr, done.returncode, clients, streams, rps_per_client, log_file, caller)
