"""The console's window on `components/observe`: the status model as `status --json` prints it, and
recent log lines of a version's or alias's endpoint, read again at every poll.

Status readers keep their cluster and metrics clients between polls; a new one is made when the
stack's config or outputs change (another namespace, another cluster, a new version).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from components.console.stack_source import StackSource
from components.observe.cluster import ClusterError
from components.observe.declared import declared
from components.observe.logs import LogSource, connect_for_logs, read, sources
from components.observe.snapshot import read_snapshot
from components.observe.status import StatusReader
from components.stacks.errors import ToolError

# Logs shown per poll: the newest lines of each pod, from the last few minutes.
LOG_TAIL_LINES = 200
LOG_SINCE_SECONDS = 600


@dataclass(frozen=True)
class RecentLogs:
    route: str
    endpoint: str
    lines: list[str]
    notes: list[str]
    pods: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"lines": self.lines, "notes": self.notes, "pods": self.pods}


@dataclass
class _Reader:
    revision: int
    reader: StatusReader


@dataclass
class Observer:
    """Status and logs of each stack, as the console polls them."""

    window_seconds: int = 300
    _readers: dict[str, _Reader] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, source: StackSource) -> tuple[dict[str, Any] | None, list[str]]:
        """The status model's JSON, and nothing more to say: its own problems are inside it."""
        config, outputs = source.config(), source.outputs()
        with self._lock:
            kept = self._readers.get(source.stack)
            if kept is None or kept.revision != source.revision:
                now = declared(config, outputs)
                if kept is None or kept.reader.declared != now:
                    if kept is not None:
                        kept.reader.close()
                    kept = _Reader(source.revision, StatusReader(now))
                    self._readers[source.stack] = kept
                kept.revision = source.revision
        return kept.reader.read(self.window_seconds).to_json(), []

    def logs(self, source: StackSource, route: str, endpoint: str) -> RecentLogs:
        """The newest lines of every pod of `endpoint` of `route` (a version, or an alias's versions)."""
        if not route or not endpoint:
            raise ToolError("choose a version or alias and an endpoint to see their logs")
        d = declared(source.config(), source.outputs())
        cluster = connect_for_logs(d)
        notes: list[str] = []

        def skipped(pod: LogSource, reason: str) -> None:
            notes.append(f"{pod.label}: {reason}")

        try:
            snapshot = read_snapshot(cluster, d.namespace or "", d.project, d.routing_kind, events=False)
            pods = sources(d, snapshot, route, endpoint)
            found = read(
                cluster,
                d.namespace or "",
                pods,
                since_seconds=LOG_SINCE_SECONDS,
                tail_lines=LOG_TAIL_LINES,
                skipped=skipped,
            )
            lines = [line.show(with_timestamp=True) for line in found]
        except ClusterError as err:
            raise ToolError(str(err)) from None
        finally:
            cluster.close()
        if not pods:
            notes.append(f"no pods of {route}/{endpoint} in namespace {d.namespace} (not deployed yet?)")
        return RecentLogs(route, endpoint, lines[-LOG_TAIL_LINES:], notes, [p.label for p in pods])

    def close(self) -> None:
        with self._lock:
            for kept in self._readers.values():
                kept.reader.close()
            self._readers.clear()
