"""Verification traffic past what the fleet can answer. A Python client on the same two cores tires long before
the fleet does (its event loop became the bottleneck at about 1,500 calls/s), so the flood comes from h2load (C,
from nghttp2): gRPC requests as length-prefixed frames over HTTP/2, to Envoy. h2load reads HTTP statuses only, and
gRPC's own is in the trailers, so the outcome of every call is read from Envoy's per-method gRPC status counters
(the grpc_stats filter of the shipped config)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass

import pytest
from google.protobuf.message import Message

from fapiao_server.entrypoints.supervisor import Endpoint

VERIFY = "fapiao.v1.VerificationService/VerifyInvoice"
DEADLINE_SECONDS = 10
_STATUS_COUNTER = re.compile(r"^cluster\.fapiao\.grpc\.(\S+)\.(\d+): (\d+)$")


def h2load_binary() -> str:
    found = shutil.which("h2load")
    if found is None:
        if os.environ.get("FAPIAO_REQUIRE_H2LOAD"):
            pytest.fail("h2load is required here (FAPIAO_REQUIRE_H2LOAD) but was not found")
        pytest.skip("h2load is not installed (Debian: nghttp2-client); CI installs it")
    return found


@dataclass(frozen=True)
class Flood:
    """What h2load sent and how long it took; what became of the calls is in Envoy's counters."""

    requests: int
    seconds: float


def h2load(
    target: str,
    method: str,
    request: Message,
    key: str,
    *,
    requests: int,
    clients: int,
    streams: int,
    rate_per_client: int | None = None,
) -> Flood:
    """``requests`` calls of ``method``, at most ``streams`` at once on each of ``clients`` connections; with
    ``rate_per_client``, an open loop starting that many a second on each connection. Returns once every call
    has its answer (a run cut off by a duration would leave calls reset mid-flight, which read as CANCELLED)."""
    with tempfile.NamedTemporaryFile(suffix=".grpc") as body:
        message = request.SerializeToString()
        body.write(b"\0" + struct.pack(">I", len(message)) + message)
        body.flush()
        args = [
            h2load_binary(), "--threads=1", f"--clients={clients}", f"--max-concurrent-streams={streams}",
            f"--requests={requests}", f"--data={body.name}", "--header=content-type: application/grpc",
            "--header=te: trailers", f"--header=authorization: Bearer {key}",
            # The deadline the SDK gives a call: a flood of callers who wait forever is not one a fleet meets.
            f"--header=grpc-timeout: {DEADLINE_SECONDS}S",
            *([f"--rps={rate_per_client}"] if rate_per_client else []), f"http://{target}/{method}",
        ]  # fmt: skip
        began = time.monotonic()
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
        seconds = time.monotonic() - began
    if done.returncode != 0:
        raise RuntimeError(f"h2load failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return Flood(requests, seconds)


def grpc_statuses(admin: Endpoint, method: str) -> Counter[int]:
    """Envoy's count of answers to ``method`` (``service/method``) by gRPC status code, so far."""
    name = method.replace("/", ".")
    with urllib.request.urlopen(f"http://{admin}/stats?filter=grpc\\.{re.escape(name)}\\.", timeout=5) as answer:
        lines = answer.read().decode().splitlines()
    statuses: Counter[int] = Counter()
    for line in lines:
        match = _STATUS_COUNTER.match(line.strip())
        if match and match[1] == name:
            statuses[int(match[2])] += int(match[3])
    return statuses
