"""BatchVerifyInvoices load: stream pre-serialized BatchVerifyInvoicesRequest messages and time the answers.

    python bench/batch_client.py --target 127.0.0.1:PORT --requests batch.bin [--streams K] --token API_KEY

``batch.bin`` holds the request messages, each preceded by its length (4 bytes, big-endian). The channel is
used raw (no request serializer, no response deserializer), so the timed part costs the client almost
nothing: what is measured is the server's end-to-end rate. With ``--streams K`` the messages are split in K
contiguous parts sent as K concurrent streams over K separate connections (the kernel spreads connections over
the server's workers). After the clock stops every answer is decoded and checked: one result per item, indices
0..n-1 in order on each stream, and the outcome of each. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import struct
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

METHOD = "/fapiao.v1.VerificationService/BatchVerifyInvoices"
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    # Each stream gets its own connection instead of sharing one subchannel.
    ("grpc.use_local_subchannel_pool", 1),
]


def read_messages(path: Path) -> list[bytes]:
    data = path.read_bytes()
    messages, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack_from(">I", data, offset)
        messages.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return messages


async def _stream(target: str, messages: list[bytes], token: str, timeout: float) -> tuple[list[bytes], float]:
    """Send ``messages`` on one stream; returns the raw responses and the seconds to the first response."""
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        call = channel.stream_stream(METHOD, request_serializer=None, response_deserializer=None)

        async def requests() -> AsyncIterator[bytes]:
            for message in messages:
                yield message

        started = time.perf_counter()
        first = 0.0
        responses: list[bytes] = []
        async for response in call(requests(), timeout=timeout, metadata=(("authorization", f"Bearer {token}"),)):
            if not responses:
                first = time.perf_counter() - started
            responses.append(response)
        return responses, first


async def run(target: str, messages: list[bytes], streams: int, token: str, timeout: float) -> dict[str, object]:
    size = -(-len(messages) // streams)
    parts = [messages[i : i + size] for i in range(0, len(messages), size)]
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(_stream(target, part, token, timeout) for part in parts))
    seconds = time.perf_counter() - started
    return check(parts, outcomes, seconds)


def check(parts: list[list[bytes]], outcomes: list[tuple[list[bytes], float]], seconds: float) -> dict[str, object]:
    from fapiao.v1 import verification_service_pb2 as pb

    items = 0
    results = 0
    counts: collections.Counter[str] = collections.Counter()
    problems: list[str] = []
    response_bytes = 0
    for part, (responses, _) in zip(parts, outcomes, strict=True):
        expected = sum(len(pb.BatchVerifyInvoicesRequest.FromString(m).items) for m in part)
        items += expected
        index = 0
        for raw in responses:
            response_bytes += len(raw)
            for result in pb.BatchVerifyInvoicesResponse.FromString(raw).results:
                if result.index != index and len(problems) < 5:
                    problems.append(f"result {index} came back with index {result.index}")
                index += 1
                if result.WhichOneof("result") == "error":
                    counts[f"error:{result.error.code}"] += 1
                else:
                    counts[pb.VerificationOutcome.Name(result.verification.outcome)] += 1
        results += index
        if index != expected:
            problems.append(f"a stream sent {expected} items and got {index} results")
    return {
        "items": items,
        "results": results,
        "seconds": seconds,
        "items_per_second": results / seconds if seconds else 0.0,
        "first_response_seconds": max(first for _, first in outcomes),
        "streams": len(parts),
        "messages": sum(len(p) for p in parts),
        "response_bytes": response_bytes,
        "outcomes": dict(counts),
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True)
    parser.add_argument("--requests", type=Path, required=True)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--token", required=True, help="the API key (or access token) to call with")
    parser.add_argument("--timeout", type=float, default=300.0, help="deadline of each stream, seconds")
    options = parser.parse_args(argv)
    messages = read_messages(options.requests)
    try:
        report = asyncio.run(run(options.target, messages, max(1, options.streams), options.token, options.timeout))
    except grpc.RpcError as error:
        print(json.dumps({"error": f"{error.code()}: {error.details()}"}))
        return 1
    print(json.dumps(report))
    return 0 if not report["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
