"""One /metrics per node, covering every worker process of it.

A node's workers share one gRPC port (entrypoints/supervisor.py), so Prometheus cannot reach them one by one through
it. Each worker keeps its own OpenTelemetry SDK (metrics.py) and, in a node of several, serves it on a loopback port
of its own that only the supervisor knows; the supervisor serves the node's address and, at every scrape, fetches
all its workers' pages at once, parses them with prometheus_client's parser and answers one page in which each
series keeps its worker's ``fapiao_worker`` label. A node of one worker has its registry read in process.

Why not prometheus_client's multiprocess mode: it keeps prometheus_client's own instruments in shared files, and
the OpenTelemetry SDK aggregates in process memory, which that mode cannot see. Why not OTLP to a collector: a
node would then depend on another process to be observable at all; a collector can still scrape this page
(deploy/otel/collector.yaml). A worker that is restarting simply has no series in the scrapes it misses
(counters start again from zero, which rate() and increase() read as a reset), and the node reports how many of
its workers answered (fapiao_node_workers).
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)
# A worker's page is a few hundred series from memory: seconds mean it is stuck, and the node answers without it.
WORKER_SCRAPE_SECONDS = 3.0

Source = Callable[[], Iterable[Metric]]


def _fetch(port: int) -> Callable[[], Iterable[Metric]]:
    url = f"http://127.0.0.1:{port}/metrics"

    def fetch() -> Iterable[Metric]:
        with urllib.request.urlopen(url, timeout=WORKER_SCRAPE_SECONDS) as answer:
            return list(text_string_to_metric_families(answer.read().decode()))

    return fetch


class _Workers:
    """A prometheus_client collector: the workers' families, each merged over the workers."""

    def __init__(self, node: NodeMetrics) -> None:
        self._node = node

    def collect(self) -> Iterable[Metric]:
        sources = dict(self._node.sources)
        pages = self._node.pool.map(_read, sources.values()) if sources else []
        merged: dict[str, Metric] = {}
        answered = 0
        for (index, _), families in zip(sources.items(), pages, strict=True):
            if families is None:
                log.debug("worker %s did not answer the scrape", index)
                continue
            answered += 1
            for family in families:
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(family.name, family.documentation, family.type)
                into.samples.extend(family.samples)
        self._node.answered = answered
        return list(merged.values())


def _read(source: Source) -> list[Metric] | None:
    try:
        return list(source())
    except Exception:  # a worker restarting, or stuck: the page goes out without it
        return None


class NodeMetrics:
    """The node's /metrics at ``address`` (HOST:PORT, port 0 picks one: ``port``). Bound at once, so a taken
    address stops `fapiao serve` before anything else starts (OSError)."""

    def __init__(self, address: str, *, workers: int) -> None:
        host, _, port = address.rpartition(":")
        self.sources: dict[int, Source] = {}
        self.workers = workers
        self.answered = 0
        self.restarts = 0
        self.pool = ThreadPoolExecutor(max_workers=min(16, max(1, workers)), thread_name_prefix="fapiao-scrape")
        self.registry = CollectorRegistry()
        # The workers first: the node's own gauge below reports how many of them answered this very scrape.
        self.registry.register(_Workers(self))
        reader = PrometheusMetricReader(disable_target_info=True, scope_info_enabled=False, registry=self.registry)
        self._provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "fapiao"}))
        meter = self._provider.get_meter("fapiao_server.node")

        def workers_gauge(_options: CallbackOptions) -> list[Observation]:
            return [Observation(self.workers, {"state": "configured"}),
                    Observation(self.answered, {"state": "reporting"})]  # fmt: skip

        meter.create_observable_up_down_counter(
            "fapiao.node.workers",
            [workers_gauge],
            unit="{worker}",
            description="Worker processes the node runs (configured) and those whose metrics this scrape has "
            "(reporting)",
        )
        meter.create_observable_counter(
            "fapiao.node.worker.restarts",
            [lambda _: [Observation(self.restarts)]],
            unit="{restart}",
            description="Workers the supervisor restarted after they died",
        )
        try:
            self._server, _ = start_http_server(int(port), host.strip("[]"), registry=self.registry)
        except BaseException:
            self.pool.shutdown(wait=False)
            self._provider.shutdown()
            raise
        self.port: int = self._server.server_port

    def include(self, index: int, registry: Any) -> None:
        """Worker ``index`` runs in this process: read its registry directly."""
        self.sources[index] = registry.collect

    def worker_at(self, index: int, port: int) -> None:
        """Worker ``index`` (a process of its own, or its replacement) serves its metrics on loopback ``port``."""
        self.sources[index] = _fetch(port)

    def worker_restarted(self) -> None:
        self.restarts += 1

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.pool.shutdown(wait=False)
        self._provider.shutdown()
