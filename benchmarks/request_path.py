"""What a request costs on its way through the local router, beside the endpoint's own time.

Deploys a scratch stack (tests/integration/local_stack.py: a namespace and host of its own) with
one version behind basic auth, on the local cluster and its Traefik router, and sends `greet-me`
bounded batches of GET requests from 1 and from 8 concurrent clients (each client one kept-alive
connection, as an API client with a session would). For each target it prints p50 and p95 latency
and the throughput:

- backend: greet-me's Service on its cluster IP (no router; the route's Service, reached from
  this host through kube-proxy);
- router + basic auth: the stack's user, whose hash `pulumi up` made (bcrypt, BCRYPT_COST);
- router + basic auth, a cost-12 hash: a second user added to the htpasswd Secret by hand with
  bcrypt cost 12, the cost hashes had before (same route, same Middleware);
- router, no credentials: the 401 the Middleware answers;
- router, no basic auth: the same route after `basicAuth` is removed and `pulumi up` runs.

Every batch is bounded in count (--requests) and time (--max-seconds). Needs scripts/setup.

    python benchmarks/request_path.py [--requests 400] [--max-seconds 30]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import bcrypt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.resources.htpasswd import BCRYPT_COST  # noqa: E402
from tests.integration.local_stack import LocalStack, missing_tools, tool_environment  # noqa: E402
from tests.integration.traffic import ROUTER_HOST, ROUTER_PORT, basic_auth  # noqa: E402

VERSION = "20181002.0"
ENDPOINT = "greet-me"
OLD_COST_USER = "cost12"
CLIENTS = (1, 8)
WARMUP = 20


@dataclass(frozen=True)
class Target:
    label: str
    host: str
    port: int
    headers: dict[str, str]
    expect: int


@dataclass(frozen=True)
class Figures:
    label: str
    clients: int
    latencies: list[float]
    seconds: float
    unexpected: int

    def row(self) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000
        rate = len(ordered) / self.seconds
        cells = [self.label, self.clients, len(ordered), f"{p50:.1f}", f"{p95:.1f}", f"{rate:.0f}", self.unexpected]
        return "| " + " | ".join(str(cell) for cell in cells) + " |"


def batch(target: Target, path: str, clients: int, requests: int, max_seconds: float) -> Figures:
    """`requests` GETs from `clients` threads, each on one kept-alive connection, stopped at `max_seconds`."""
    latencies: list[float] = []
    unexpected = [0]
    lock = threading.Lock()
    remaining = [requests]
    deadline = time.monotonic() + max_seconds

    def take() -> bool:
        with lock:
            if remaining[0] <= 0 or time.monotonic() > deadline:
                return False
            remaining[0] -= 1
            return True

    def client() -> None:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=20)
        try:
            while take():
                start = time.perf_counter()
                try:
                    connection.request("GET", path, headers=target.headers)
                    response = connection.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    connection.close()  # reconnect on the next request
                    status = 0
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    unexpected[0] += status != target.expect
        finally:
            connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max_seconds + 60)
    return Figures(target.label, clients, latencies, time.perf_counter() - start, unexpected[0])


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {what}")


def status_of(target: Target, path: str) -> int:
    connection = http.client.HTTPConnection(target.host, target.port, timeout=20)
    try:
        connection.request("GET", path, headers=target.headers)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()


def add_old_cost_user(stack: LocalStack, password: str) -> None:
    """Append a user with a cost-12 hash to the htpasswd Secret (the Secret the Middleware reads)."""
    secrets = [s for s in stack.objects("secrets") if s["metadata"]["name"].endswith("-basic-auth")]
    assert len(secrets) == 1, [s["metadata"]["name"] for s in secrets]
    users = base64.b64decode(secrets[0]["data"]["users"]).decode()
    old_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(12)).decode()
    users += f"{OLD_COST_USER}:{old_hash}\n"
    patch = json.dumps({"data": {"users": base64.b64encode(users.encode()).decode()}})
    stack.kubectl("patch", "secret", secrets[0]["metadata"]["name"], "-n", stack.namespace, "-p", patch)


def backend_address(stack: LocalStack) -> tuple[str, int]:
    services = [s for s in stack.objects("services") if ENDPOINT in s["metadata"]["name"]]
    assert len(services) == 1, [s["metadata"]["name"] for s in services]
    return services[0]["spec"]["clusterIP"], int(services[0]["spec"]["ports"][0]["port"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400, help="requests per batch (default 400)")
    parser.add_argument("--max-seconds", type=float, default=30, help="time bound per batch (default 30)")
    args = parser.parse_args()
    missing = missing_tools(tool_environment())
    if missing:
        sys.exit(f"missing {missing}: run scripts/setup first")

    results: list[Figures] = []
    with tempfile.TemporaryDirectory() as tmp, LocalStack.scratch(Path(tmp)) as stack:
        stack.pulumi("config", "rm", "--path", 'versions["20181003.0"]')
        stack.pulumi("config", "set", "--path", "aliases.staging", VERSION)
        stack.pulumi("up", "--yes", "--skip-preview")
        password = stack.pulumi("config", "get", "--path", "basicAuth.alice").stdout.strip()
        path = urlsplit(stack.outputs()["versionUrls"][VERSION][ENDPOINT]).path + "?name=bench"
        router = {"Host": stack.host}
        cluster_ip, service_port = backend_address(stack)
        add_old_cost_user(stack, password)

        targets = [
            Target("backend (Service cluster IP, no router)", cluster_ip, service_port, {}, 200),
            Target(
                f"router + basic auth (bcrypt cost {BCRYPT_COST})",
                ROUTER_HOST,
                ROUTER_PORT,
                {**router, "Authorization": basic_auth("alice", password)},
                200,
            ),
            Target(
                "router + basic auth (bcrypt cost 12, before)",
                ROUTER_HOST,
                ROUTER_PORT,
                {**router, "Authorization": basic_auth(OLD_COST_USER, password)},
                200,
            ),
            Target("router, no credentials (401)", ROUTER_HOST, ROUTER_PORT, router, 401),
        ]
        wait_for(lambda: status_of(targets[2], path) == 200, "the router to load the hand-added user")
        results += measure(targets, path, args)

        stack.pulumi("config", "rm", "basicAuth")
        stack.pulumi("up", "--yes", "--skip-preview")
        open_route = Target("router, no basic auth", ROUTER_HOST, ROUTER_PORT, router, 200)
        wait_for(lambda: status_of(open_route, path) == 200, "the route without basic auth")
        results += measure([open_route], path, args)

    print(f"request path: GET {ENDPOINT} ({VERSION}), kept-alive connections; load average {os.getloadavg()[0]:.1f}")
    print("| target | clients | requests | p50 ms | p95 ms | req/s | unexpected status |")
    print("|---|---|---|---|---|---|---|")
    for figures in results:
        print(figures.row())


def measure(targets: list[Target], path: str, args: argparse.Namespace) -> list[Figures]:
    results = []
    for target in targets:
        for clients in CLIENTS:
            batch(target, path, clients, WARMUP, args.max_seconds)
            results.append(batch(target, path, clients, args.requests, args.max_seconds))
    return results


if __name__ == "__main__":
    main()
