"""A stand-in for an OpenTelemetry Collector: an OTLP/gRPC trace receiver in a process of its own, so the benches
can trace a server at full rate with its spans really exported (serialised, sent and received), and read the
spans back afterwards. Its CPU is counted apart from the server's, as a collector's would be on another machine.

    python bench/otlp_sink.py --listen 127.0.0.1:0 [--keep spans.jsonl] --counts counts.json

prints "fapiao: serving on HOST:PORT with 1 worker(s)" (the banner bench/environment.ServerProcess waits for),
counts the spans it receives by service and name ("fapiao /pkg.Service/Method"), and with --keep appends each
span as one JSON line (ids, parent, links, name, worker, start and end in ns, attributes). On SIGTERM it writes
the counts to --counts and exits.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections import Counter
from concurrent import futures
from pathlib import Path
from typing import Any, TextIO

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2


def _value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


class Sink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, keep: TextIO | None) -> None:
        self.counts: Counter[str] = Counter()
        self.exports = 0
        self._keep = keep
        self._lock = threading.Lock()

    def Export(self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any) -> Any:
        lines = []
        names: Counter[str] = Counter()
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    names[f"{resource.get('service.name', '')} {span.name}"] += 1
                    if self._keep is not None:
                        record = {
                            "trace": span.trace_id.hex(),
                            "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "name": span.name,
                            "kind": span.kind,
                            "service": resource.get("service.name", ""),
                            "worker": resource.get("service.instance.id", ""),
                            "start": span.start_time_unix_nano,
                            "end": span.end_time_unix_nano,
                            "links": [link.span_id.hex() for link in span.links],
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                        }
                        lines.append(json.dumps(record, separators=(",", ":")))
        with self._lock:
            self.counts.update(names)
            self.exports += 1
            if self._keep is not None and lines:
                self._keep.write("\n".join(lines) + "\n")
        return trace_service_pb2.ExportTraceServiceResponse()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--keep", type=Path, help="append every span to this file as a JSON line")
    parser.add_argument("--counts", type=Path, required=True, help="where the span counts go on SIGTERM")
    o = parser.parse_args()
    keep = None if o.keep is None else o.keep.open("a", encoding="utf-8")
    sink = Sink(keep)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    host = o.listen.rsplit(":", 1)[0]
    port = server.add_insecure_port(o.listen)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"fapiao: serving on {host}:{port} with 1 worker(s)", flush=True)
    stop.wait()
    server.stop(grace=2).wait()
    with sink._lock:
        if keep is not None:
            keep.close()
        o.counts.write_text(json.dumps({"exports": sink.exports, "spans": dict(sink.counts)}))


if __name__ == "__main__":
    main()
