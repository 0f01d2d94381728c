"""`logs`: the log lines of every pod of a version's endpoint, or of the versions an alias routes to.

Lines are prefixed with their pod (and version, for an alias) and merged in time order. Following
streams every pod at once, one thread each, into one bounded queue; pods that appear later (a
scale-out, a replaced pod) are picked up at the next scan, and a stream that ends (a restarted
container) resumes after its last line.
"""

from __future__ import annotations

import heapq
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import urllib3

from components.inputs import naming
from components.observe.cluster import Cluster, ClusterError, LogUnavailable, lines
from components.observe.declared import Declared
from components.observe.routes import by_alias, http_route_status, ingress_status, service_index
from components.observe.snapshot import Snapshot
from components.observe.workloads import key_of
from components.stacks.errors import ToolError

# Followed pods at once; a bigger endpoint is narrowed by following one version's URL instead.
MAX_STREAMS = 50
# Seconds between scans for new pods while following.
RESCAN_SECONDS = 5.0
# Lines waiting to be printed; a full queue holds the streams back instead of growing.
QUEUE_LINES = 10_000
_FRACTION = re.compile(r"\.(\d+)")


def connect_for_logs(d: Declared) -> Cluster:
    """The stack's cluster, or one ToolError naming what is missing or unreachable (`logs`, the console)."""
    if d.render_directory or not d.kubeconfig or not d.namespace:
        raise ToolError(f"stack '{d.stack}' names no cluster to read logs from (target.kubeconfig, namespace)")
    origin = f"target.kubeconfig {d.kubeconfig}" + (f", context {d.context}" if d.context else "")
    try:
        return Cluster.connect(d.resolve(d.kubeconfig), d.context, origin)
    except ClusterError as err:
        raise ToolError(str(err)) from None


@dataclass(frozen=True)
class LogSource:
    pod: str
    version: str
    # What each line is prefixed with: the pod, and for an alias the version too.
    label: str


@dataclass(frozen=True)
class LogLine:
    timestamp: str
    label: str
    text: str

    def show(self, with_timestamp: bool = False) -> str:
        stamp = f"{self.timestamp} " if with_timestamp else ""
        return f"[{self.label}] {stamp}{self.text}"


def versions_of(d: Declared, snapshot: Snapshot, route: str) -> list[str]:
    """The versions `route` names: itself, or the versions an alias routes to in the cluster (mirror
    included), else where its state or config points it. One line listing what exists when unknown."""
    in_cluster = {d.version_named(key[0]) for deployment in snapshot.deployments if (key := key_of(deployment))}
    if route in d.versions or route in in_cluster:
        return [route]
    routes = by_alias(snapshot.httproutes or snapshot.ingresses)
    if route in routes:
        services = service_index(snapshot.services, d.version_named)
        group = routes[route]
        status = http_route_status(group[0], services) if snapshot.httproutes else ingress_status(group, services)
        if status.target.versions:
            return list(status.target.versions)
    declared_target = d.state_aliases.get(route) or d.config_aliases.get(route)
    if declared_target is not None:
        return list(declared_target.versions)
    raise ToolError(
        f"'{route}' is neither a version nor an alias of stack '{d.stack}'; "
        f"versions: {', '.join(d.versions) or '(none)'}; aliases: {', '.join(d.aliases) or '(none)'}"
    )


def sources(d: Declared, snapshot: Snapshot, route: str, endpoint: str) -> list[LogSource]:
    """The pods to read: every pod of `endpoint` of each version `route` names."""
    versions = versions_of(d, snapshot, route)
    is_alias = versions != [route]
    known = sorted({e for v in versions for e in d.endpoints(v)} | _cluster_endpoints(d, snapshot, versions))
    if endpoint not in known:
        raise ToolError(f"'{route}' serves no endpoint '{endpoint}'; its endpoints: {', '.join(known) or '(none)'}")
    found = []
    for version in versions:
        for deployment in snapshot.deployments:
            key = key_of(deployment)
            if key is None or d.version_named(key[0]) != version or key[1] != naming.label_value(endpoint):
                continue
            wanted = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            for pod in snapshot.pods:
                labels = (pod.get("metadata") or {}).get("labels") or {}
                if wanted and all(labels.get(k) == v for k, v in wanted.items()):
                    name = str(pod["metadata"]["name"])
                    found.append(LogSource(name, version, f"{version} {name}" if is_alias else name))
    return sorted(found, key=lambda s: (s.version, s.pod))


def read(
    cluster: Cluster,
    namespace: str,
    pods: Sequence[LogSource],
    *,
    since_seconds: int | None = None,
    tail_lines: int | None = None,
    previous: bool = False,
    skipped: Callable[[LogSource, str], None] | None = None,
) -> Iterator[LogLine]:
    """Every pod's log merged in time order (each pod's own log already is)."""
    streams = []
    try:
        for source in pods:
            try:
                response = cluster.pod_log(
                    namespace, source.pod, since_seconds=since_seconds, tail_lines=tail_lines, previous=previous
                )
            except LogUnavailable as err:
                if skipped:
                    skipped(source, str(err))
                continue
            streams.append((source, response))
        merged = heapq.merge(*(_parsed(source, response) for source, response in streams), key=sort_key)
        yield from merged
    finally:
        for _, response in streams:
            response.release_conn()


def sort_key(line: LogLine) -> str:
    """RFC 3339 timestamps with the fraction padded to nanoseconds: the kubelet trims trailing zeros."""
    return _FRACTION.sub(lambda m: "." + m.group(1).ljust(9, "0"), line.timestamp.removesuffix("Z"), count=1)


def _parsed(source: LogSource, response: urllib3.BaseHTTPResponse) -> Iterator[LogLine]:
    for raw in lines(response):
        stamp, _, text = raw.partition(" ")
        yield LogLine(stamp, source.label, text)


def _cluster_endpoints(d: Declared, snapshot: Snapshot, versions: Sequence[str]) -> set[str]:
    return {k[1] for dep in snapshot.deployments if (k := key_of(dep)) and d.version_named(k[0]) in versions}


@dataclass
class Follower:
    """Follows every pod `scan()` returns until `stop` is set; `lines` holds what arrived."""

    cluster: Cluster
    namespace: str
    scan: Callable[[], list[LogSource]]
    since_seconds: int | None = None
    tail_lines: int | None = None
    lines: queue.Queue[LogLine | str] = field(default_factory=lambda: queue.Queue(QUEUE_LINES))
    stop: threading.Event = field(default_factory=threading.Event)
    _streams: dict[str, urllib3.BaseHTTPResponse] = field(default_factory=dict)
    _threads: dict[str, threading.Thread] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, emit: Callable[[LogLine | str], None], until: float | None = None) -> None:
        """Emit lines (and notes, as plain strings) until `stop` is set or the time `until` passes."""
        next_scan = 0.0
        try:
            while not self.stop.is_set() and (until is None or time.monotonic() < until):
                if time.monotonic() >= next_scan:
                    self._start_new()
                    next_scan = time.monotonic() + RESCAN_SECONDS
                try:
                    emit(self.lines.get(timeout=0.2))
                except queue.Empty:
                    continue
        finally:
            self.close()

    def close(self) -> None:
        """Stop every stream: closing a response ends the read its thread is blocked in."""
        self.stop.set()
        with self._lock:
            streams = list(self._streams.values())
        for response in streams:
            response.close()
        for thread in list(self._threads.values()):
            thread.join(timeout=2)

    def _start_new(self) -> None:
        try:
            found = self.scan()
        except (ClusterError, ToolError) as err:
            self._put(f"(could not list pods: {err})")
            return
        for source in found:
            if source.pod in self._threads and self._threads[source.pod].is_alive():
                continue
            if len([t for t in self._threads.values() if t.is_alive()]) >= MAX_STREAMS:
                self._put(f"(following {MAX_STREAMS} pods already; not following {source.pod})")
                continue
            # A pod seen for the first time starts at `since`/`tail`; later ones from their start.
            first = not self._threads
            thread = threading.Thread(target=self._stream, args=(source, first), daemon=True)
            self._threads[source.pod] = thread
            thread.start()

    def _stream(self, source: LogSource, first_scan: bool) -> None:
        last: str | None = None
        since, tail = (self.since_seconds, self.tail_lines) if first_scan else (None, None)
        ended = 0.0
        while not self.stop.is_set():
            try:
                response = self.cluster.pod_log(
                    self.namespace, source.pod, since_seconds=since, tail_lines=tail, follow=True
                )
            except (LogUnavailable, ClusterError) as err:
                self._put(f"({source.label}: {err})")
                return
            with self._lock:
                self._streams[source.pod] = response
            try:
                for line in _parsed(source, response):
                    # A resumed stream repeats the second it resumed in; lines already shown are skipped.
                    if last is not None and sort_key(line) <= last:
                        continue
                    last = sort_key(line)
                    self._put(line)
            except (urllib3.exceptions.HTTPError, OSError, ValueError):
                pass
            finally:
                with self._lock:
                    self._streams.pop(source.pod, None)
                response.release_conn()
                ended = time.time()
            if self.stop.is_set() or not self._alive(source):
                return
            # The container restarted (or the connection dropped): resume where the stream ended; the
            # overlap of the whole seconds `since` counts in is dropped by the check above.
            self.stop.wait(1.0)
            since, tail = int(time.time() - ended) + 2, None

    def _alive(self, source: LogSource) -> bool:
        try:
            return any(found.pod == source.pod for found in self.scan())
        except (ClusterError, ToolError):
            return False

    def _put(self, item: LogLine | str) -> None:
        while not self.stop.is_set():
            try:
                self.lines.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
