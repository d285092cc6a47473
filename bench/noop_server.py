"""The floor: a grpc.aio server that answers VerificationService.VerifyInvoice with a canned response.

Same process model as `fapiao serve --workers N` (a supervisor reserves the port with SO_REUSEPORT and N
spawned worker processes each run one grpc.aio server on it), same server options
(fapiao_server.transport.server.server_options), same generated servicer base class, so requests are parsed and
responses serialised exactly as in the real server. The handler itself does nothing: what this server sustains is
the cost of HTTP/2, gRPC and the Python servicer machinery alone.

    python bench/noop_server.py --listen 127.0.0.1:0 --workers 2 --response canned.bin

prints "fapiao: serving on HOST:PORT with N worker(s)" (the real server's banner) once every worker is ready, and
stops all workers on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import socket
import sys
import time
from pathlib import Path

READY_TIMEOUT_SECONDS = 60.0
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # Settings.max_message_bytes default


async def _serve(address: str, response_bytes: bytes, ready: multiprocessing.Queue) -> None:
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    from fapiao.v1 import verification_service_pb2 as pb
    from fapiao.v1 import verification_service_pb2_grpc as pb_grpc
    from fapiao_server.transport.server import server_options

    canned = pb.VerifyInvoiceResponse.FromString(response_bytes)

    class NoopVerification(pb_grpc.VerificationServiceServicer):
        async def VerifyInvoice(
            self, request: pb.VerifyInvoiceRequest, context: grpc.aio.ServicerContext
        ) -> pb.VerifyInvoiceResponse:
            return canned

    server = grpc.aio.server(options=server_options(MAX_MESSAGE_BYTES, share_port=True))
    pb_grpc.add_VerificationServiceServicer_to_server(NoopVerification(), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not listen on {address}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    ready.put((os.getpid(), port))
    await stop.wait()
    await server.stop(1.0)


def _worker(address: str, response_bytes: bytes, ready: multiprocessing.Queue) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when workers stop
    asyncio.run(_serve(address, response_bytes, ready))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--response", type=Path, required=True, help="a serialized VerifyInvoiceResponse")
    options = parser.parse_args(argv)
    response_bytes = options.response.read_bytes()
    host, _, port_text = options.listen.rpartition(":")

    # As entrypoints.supervisor.claim_port: bind (not listen) so port 0 becomes one port all workers share.
    reserved = socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserved.bind((host.strip("[]"), int(port_text)))
    port = reserved.getsockname()[1]

    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue = context.Queue()
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    workers = [
        context.Process(target=_worker, args=(f"{host}:{port}", response_bytes, ready), name="noop-worker")
        for _ in range(options.workers)
    ]
    for worker in workers:
        worker.start()
    status = 0
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for _ in workers:
            ready.get(timeout=max(0.1, deadline - time.monotonic()))
        print(f"fapiao: serving on {host}:{port} with {options.workers} worker(s)", flush=True)
        while not stopping:
            if any(not w.is_alive() for w in workers):
                print("noop_server: a worker died", file=sys.stderr)
                status = 1
                break
            time.sleep(0.2)
    except Exception as error:
        print(f"noop_server: {error!r}", file=sys.stderr)
        status = 1
    finally:
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
                worker.join()
        reserved.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
