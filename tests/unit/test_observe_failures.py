"""Bad input and failure in `status` and `logs`: one line naming what exists, or the address and the fix.

Unreachable servers are real: the Kubernetes client and httpx talk to a port on 127.0.0.1 nothing
listens on.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from components.observe import promql
from components.observe.cluster import Cluster, ClusterError
from components.observe.logs import sources
from components.observe.model import EXIT_UNREADABLE
from components.observe.prometheus import MetricsError, Prometheus
from components.observe.status import StatusReader
from components.observe.traffic import TrafficTargets, read_traffic
from components.stacks.errors import ToolError
from tests.unit.observe_objects import NS, V1, V2, declared_stack, healthy


def _closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _kubeconfig(path: Path, server: str) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )


def test_an_unreachable_cluster_is_named_and_config_and_state_are_still_shown(tmp_path: Path) -> None:
    d = declared_stack(tmp_path)
    server = f"https://127.0.0.1:{_closed_port()}"
    _kubeconfig(d.project_dir / "kubeconfig.yaml", server)
    reader = StatusReader(d)
    try:
        status = reader.read(window_seconds=60)
    finally:
        reader.close()
    assert status.exit_code == EXIT_UNREADABLE
    unreadable = [p.message for p in status.problems if p.kind == "unreadable"]
    assert unreadable == [
        f"cannot reach the cluster at {server} (target.kubeconfig kubeconfig.yaml): connection refused; "
        "check that it runs (the local one: scripts/services start) and that target.kubeconfig names it"
    ]
    assert status.sources["cluster"].address == server and status.sources["cluster"].error == unreadable[0]
    # What config and state say is still there, the cluster's figures unknown rather than zero.
    endpoint = status.to_json()["versions"][V1]["endpoints"]["greet-me"]
    assert (endpoint["inConfig"], endpoint["inState"], endpoint["ready"]) == (True, True, None)
    assert status.to_json()["aliases"]["production"]["state"] == {V1: 100}


def test_a_kubeconfig_that_cannot_be_used_names_the_key_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ClusterError) as caught:
        Cluster.connect(str(tmp_path / "missing.yaml"), None, "target.kubeconfig missing.yaml")
    message = str(caught.value)
    assert message.startswith("cannot use target.kubeconfig missing.yaml: ")
    assert message.endswith("; fix target.kubeconfig/target.context")
    assert "\n" not in message


def test_an_unreachable_metrics_server_is_named_with_its_address_and_the_fix() -> None:
    address = f"http://127.0.0.1:{_closed_port()}"
    prometheus = Prometheus(address)
    try:
        with pytest.raises(MetricsError) as caught:
            read_traffic(prometheus, TrafficTargets(NS), window_seconds=60)
    finally:
        prometheus.close()
    assert str(caught.value) == (
        f"cannot reach the metrics server at {address} (connection refused); start it "
        "(the local one: scripts/services start) or fix observability.prometheus in the stack's config"
    )


class _NotPrometheus(BaseHTTPRequestHandler):
    """A web server that is not a metrics server: every path is a 404 page."""

    def do_GET(self) -> None:
        body = b"<html>not here</html>"
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_server_that_is_not_prometheus_compatible_is_named() -> None:
    server = HTTPServer(("127.0.0.1", 0), _NotPrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = f"http://127.0.0.1:{server.server_address[1]}"
    prometheus = Prometheus(address)
    try:
        with pytest.raises(MetricsError) as caught:
            prometheus.query(promql.service_requests(NS, 60), at=0)
    finally:
        prometheus.close()
        server.shutdown()
        server.server_close()
    assert str(caught.value) == (
        f"the metrics server at {address} refused query service-requests: HTTP 404, not JSON: '<html>not here</html>'"
    )


def test_logs_of_an_unknown_version_or_alias_lists_what_exists(tmp_path: Path) -> None:
    with pytest.raises(ToolError) as caught:
        sources(declared_stack(tmp_path), healthy(), "20181009.0", "greet-me")
    assert str(caught.value) == (
        f"'20181009.0' is neither a version nor an alias of stack 'local'; versions: {V1}, {V2}; "
        "aliases: production, staging"
    )


def test_logs_of_an_unknown_endpoint_lists_the_endpoints(tmp_path: Path) -> None:
    with pytest.raises(ToolError) as caught:
        sources(declared_stack(tmp_path), healthy(), "production", "greet")
    assert str(caught.value) == "'production' serves no endpoint 'greet'; its endpoints: greet-me, predict-digit"


def test_logs_of_an_alias_read_every_pod_of_the_versions_it_routes_to(tmp_path: Path) -> None:
    found = sources(declared_stack(tmp_path), healthy(), "staging", "greet-me")
    assert [(s.version, s.label) for s in found] == [(V2, f"{V2} greet-me-20181003-0-5d9c7b-abcde")]
    own = sources(declared_stack(tmp_path / "again"), healthy(), V1, "greet-me")
    assert [s.label for s in own] == ["greet-me-20181002-0-5d9c7b-abcde"]
