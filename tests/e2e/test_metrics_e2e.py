"""Metrics as operators get them: a real Prometheus, running the shipped scrape configuration and alert rules,
scrapes a real two-worker node, and PromQL through its HTTP API counts exactly the calls this test made, summed
over both workers. And every metric an alert rule or a dashboard panel reads is one a running node (or Envoy in
front of it) really exports, taken from their /metrics pages after real calls, not from a list kept by hand."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fapiao.v1 import verification_service_pb2 as pb
from fapiao.v1 import verification_service_pb2_grpc as pb_grpc
from fapiao_client import FapiaoError, InvoiceClient, VerificationClient, verify_request
from tests.conftest import Register
from tests.support.access import authorized
from tests.support.envoy import Envoy
from tests.support.fleet import issue_request, new_tax_id, pool_key
from tests.support.server import NO_QUOTAS, ServerProcess
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VERIFY = "fapiao.v1.VerificationService/VerifyInvoice"
METRICS_BANNER = re.compile(r"metrics: http://(\S+)/metrics")
pytestmark = pytest.mark.slow


def _prometheus() -> str:
    found = shutil.which("prometheus") or "/usr/bin/prometheus"
    if Path(found).exists():
        return found
    if os.environ.get("FAPIAO_REQUIRE_PROMETHEUS"):
        pytest.fail("the prometheus server is required here (FAPIAO_REQUIRE_PROMETHEUS) but was not found")
    pytest.skip("the prometheus server is not installed (apt-get install prometheus); CI installs it")


def _node(database_url: str, redis_url: str) -> ServerProcess:
    """`fapiao serve --workers 2` with metrics on a free loopback port (the default), named in its banner."""
    return ServerProcess(
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        env={
            "FAPIAO_DATABASE_URL": database_url,
            "FAPIAO_REDIS_URL": redis_url,
            "FAPIAO_REDIS_KEY_PREFIX": f"fapiao:test:metrics:{time.monotonic_ns()}:",
            "FAPIAO_LOG_LEVEL": "WARNING",
            "FAPIAO_SHUTDOWN_GRACE_SECONDS": "1",
            **NO_QUOTAS,
        },
    ).start()


def _metrics_address(node: ServerProcess) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = METRICS_BANNER.search(node.output())
        if found:
            return found[1]
        time.sleep(0.05)
    raise AssertionError(f"the banner names no metrics address:\n{node.output()}")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()


def _families(text: str) -> dict[str, list[Any]]:
    """Each sample name of a Prometheus text page (with _total, _bucket... as scraped) and its samples."""
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


class Prometheus:
    """A real prometheus server running deploy/prometheus/prometheus.yml, its targets swapped for local ones and
    its intervals cut to a second, with deploy/alerts' rule files."""

    def __init__(self, binary: str, folder: Path, targets: dict[str, list[str]]) -> None:
        config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = [str(path) for path in sorted(DEPLOY.glob("alerts/*.rules.yaml"))]
        config.pop("alerting", None)
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        assert set(targets) <= set(jobs), f"the shipped configuration scrapes {sorted(jobs)}"
        for name, job in jobs.items():
            job["static_configs"] = [{"targets": targets.get(name, [])}]
        config["scrape_configs"] = [job for job in jobs.values() if job["static_configs"][0]["targets"]]
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(f"http://127.0.0.1:{self.port}/-/ready")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"prometheus did not start: {self.process.stderr.read()}") from None  # type: ignore[union-attr]
                time.sleep(0.1)

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        body = json.loads(_get(f"http://127.0.0.1:{self.port}/api/v1/{path}?{query}"))
        assert body["status"] == "success", body
        return body["data"]

    def value(self, query: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query's result: each series' labels (sorted pairs) and value."""
        return {
            tuple(sorted(item["metric"].items())): float(item["value"][1])
            for item in self.api("query", query=query)["result"]
        }

    def eventually(self, query: str, expected: Callable[[dict], bool], timeout: float = 20.0) -> dict:
        """The query's result once ``expected`` holds for it (scrapes come every second)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.value(query)
            if expected(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.25)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)


def _per_worker(metrics: str, method: str) -> dict[str, float]:
    """Calls of ``method`` each worker has counted, from the node's /metrics page itself."""
    counts: dict[str, float] = {}
    for sample in _families(_get(f"http://{metrics}/metrics")).get("rpc_server_call_duration_seconds_count", []):
        if sample.labels["rpc_method"] == method:
            worker = sample.labels["fapiao_worker"]
            counts[worker] = counts.get(worker, 0) + sample.value
    return counts


def _verify(address: str, key: str, request: pb.VerifyInvoiceRequest) -> pb.VerifyInvoiceResponse:
    """One VerifyInvoice over a connection of its own: the kernel hands each connection to one of the workers."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    with grpc.insecure_channel(address, options=options) as channel:
        return pb_grpc.VerificationServiceStub(authorized(channel, key)).VerifyInvoice(request, timeout=10)


@pytest.fixture
def node(database_url: str, redis_url: str) -> Iterator[ServerProcess]:
    process = _node(database_url, redis_url)
    yield process
    process.stop()


def test_prometheus_counts_the_calls_of_both_workers(
    node: ServerProcess, register: Register, verifier_key: str, tmp_path: Path
) -> None:
    prometheus = Prometheus(_prometheus(), tmp_path, {"fapiao-nodes": [_metrics_address(node)]})
    try:
        metrics = _metrics_address(node)
        sample = register.sample("state = 1 AND invoice_type = 10")
        match = verify_request(**sample.request_fields())
        mismatch = verify_request(**{**sample.request_fields(), "check_code": "000000"})
        missing = verify_request(**{**sample.request_fields(), "invoice_number": "99999999"})
        outcomes = {"MATCH": 0, "MISMATCH": 0, "NOT_FOUND": 0}
        # Connections until both workers have answered some (each new connection goes to either, as it falls).
        while len(_per_worker(metrics, VERIFY)) < 2:
            assert sum(outcomes.values()) < 60, "60 connections all went to one worker"
            assert _verify(node.address, verifier_key, match).outcome == pb.VERIFICATION_OUTCOME_MATCH
            outcomes["MATCH"] += 1
        for request, outcome in ((mismatch, "MISMATCH"), (mismatch, "MISMATCH"), (missing, "NOT_FOUND")):
            _verify(node.address, verifier_key, request)
            outcomes[outcome] += 1
        with pytest.raises(grpc.RpcError) as refused:
            _verify(node.address, verifier_key, pb.VerifyInvoiceRequest(invoice_number="1"))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        total = sum(outcomes.values())

        calls = f'rpc_server_call_duration_seconds_count{{rpc_method="{VERIFY}"}}'
        by_status = prometheus.eventually(
            f"sum by (rpc_response_status_code) ({calls})",
            lambda found: sum(found.values()) == total + 1,
        )
        assert by_status == {
            (("rpc_response_status_code", "OK"),): total,
            (("rpc_response_status_code", "INVALID_ARGUMENT"),): 1,
        }
        # Both workers' series, each under its own label, and the histogram's buckets agree with its count.
        assert set(prometheus.value(f"sum by (fapiao_worker) ({calls})")) == {
            (("fapiao_worker", "0"),),
            (("fapiao_worker", "1"),),
        }
        inf = f'sum(rpc_server_call_duration_seconds_bucket{{rpc_method="{VERIFY}", le="+Inf"}})'
        assert prometheus.value(inf) == {(): total + 1}
        verifications = prometheus.eventually(
            'sum by (outcome) (fapiao_verifications_total{channel="SINGLE", invoice_type="10"})',
            lambda found: sum(found.values()) == total,
        )
        assert verifications == {(("outcome", name),): float(count) for name, count in outcomes.items()}
        assert prometheus.value('sum by (instance) (fapiao_node_workers{state="reporting"})') == {
            (("instance", metrics),): 2.0
        }
        # The shipped rules load and evaluate on these series without error.
        groups = prometheus.api("rules")["groups"]
        assert groups
        broken = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] == "err"]
        assert broken == []
    finally:
        prometheus.stop()


# --------------------------------------------------------------------------------------------------------------
# Every name the alerts and dashboards read is exported

RANGE_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
# Series Prometheus makes itself for every target it scrapes.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}


def _names(text: str) -> set[str]:
    """The series names of a Prometheus text page as Prometheus stores them (prometheus_client's parser would
    rename Envoy's counters, which lack the _total suffix)."""
    return {re.split(r"[{\s]", line, maxsplit=1)[0] for line in text.splitlines() if line and line[0] != "#"}


def _rules() -> list[tuple[str, str, str | None]]:
    """(file, expression, name it records if a recording rule) of every rule in deploy/alerts."""
    found = []
    for path in sorted(DEPLOY.glob("alerts/*.rules.yaml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found.append((path.name, rule["expr"], rule.get("record")))
    return found


def _dashboard_queries() -> list[tuple[str, str]]:
    """(file, PromQL) of every panel target and templating query of the dashboards in deploy/grafana."""
    found = []
    for path in sorted(DEPLOY.glob("grafana/dashboards/*.json")):
        dashboard = json.loads(path.read_text())
        panels = list(dashboard.get("panels", []))
        while panels:
            panel = panels.pop()
            panels.extend(panel.get("panels", []))  # rows hold panels of their own
            found += [(path.name, target["expr"]) for target in panel.get("targets", []) if target.get("expr")]
        for variable in dashboard.get("templating", {}).get("list", []):
            query = variable.get("query")
            query = query.get("query") if isinstance(query, dict) else query
            if variable.get("type") == "query" and query:
                # label_values(SELECTOR, LABEL): the selector is PromQL.
                inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", query.strip())
                found.append((path.name, inner[1] if inner else query))
    return found


def _selectors(expression: str) -> list[tuple[str | None, str | None]]:
    """(metric name, or None) and (name regex, or None) of each vector selector of a PromQL expression."""
    for variable, value in RANGE_VARIABLES.items():
        expression = expression.replace(variable, value)
    found: list[tuple[str | None, str | None]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            pattern = next(
                (m.value for m in node.matchers.matchers if m.name == "__name__" and "Re" in str(m.op)), None
            )
            found.append((node.name, pattern))

    promql_parser.walk(promql_parser.parse(expression), visit)
    return found


def test_alerts_and_dashboards_read_only_exported_metrics(
    node: ServerProcess, register: Register, database_url: str, tmp_path: Path
) -> None:
    envoy = Envoy([node.address], tmp_path)
    try:
        envoy.wait_until_healthy(1)
        target = envoy.target
        with VerificationClient(target) as client:
            for _ in range(3):
                client.verify_invoice(**register.sample("state = 1").request_fields())
        with VerificationClient(target, token="fpk_not_a_key") as client, pytest.raises(FapiaoError):
            client.verify_invoice(**register.sample("state = 1").request_fields())
        with InvoiceClient(target, token=pool_key(database_url)) as client:
            client.issue_invoice(issue_request(10, new_tax_id()))
        exported = _names(_get(f"http://{_metrics_address(node)}/metrics")) | PROMETHEUS_OWN
        exported |= _names(_get(f"http://127.0.0.1:{envoy.metrics}/stats/prometheus"))
    finally:
        envoy.stop()

    rules = _rules()
    recorded = {name for _, _, name in rules if name}
    queries = [(file, expression) for file, expression, _ in rules] + _dashboard_queries()
    assert len({file for file, _ in queries}) >= 3, "alert rules of the server and Envoy, and a dashboard"
    missing = []
    for file, expression in queries:
        for name, pattern in _selectors(expression):
            if name is not None and name not in exported | recorded:
                missing.append((file, name))
            elif name is None and pattern is not None:
                # A pattern over names (envoy_cluster_grpc_(2|4|13|14): a status a test run may never see) must
                # at least name an exported family: its literal prefix begins some exported name.
                prefix = re.split(r"[\\.^$*+?{}\[\]|()]", pattern, maxsplit=1)[0]
                if not any(known.startswith(prefix) for known in exported):
                    missing.append((file, pattern))
    assert missing == [], f"not exported by a node or Envoy: {sorted(set(missing))}"
