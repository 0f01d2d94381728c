"""A stack's objects in its namespace, read once: what `status` parses.

Objects are found by the labels the program puts on everything it makes (`naming`), never by
re-deriving their names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.inputs import naming
from components.observe.cluster import Cluster, Kind


@dataclass(frozen=True)
class Snapshot:
    """The API's JSON of each kind `status` reads."""

    deployments: tuple[dict[str, Any], ...] = ()
    pods: tuple[dict[str, Any], ...] = ()
    services: tuple[dict[str, Any], ...] = ()
    autoscalers: tuple[dict[str, Any], ...] = ()
    events: tuple[dict[str, Any], ...] = ()
    httproutes: tuple[dict[str, Any], ...] = ()
    ingresses: tuple[dict[str, Any], ...] = ()


def stack_selector(project: str) -> str:
    """The label selector of the objects a stack of `project` made (Warning events carry no labels)."""
    return f"{naming.MANAGED_BY_LABEL}={naming.MANAGED_BY},{naming.PART_OF_LABEL}={naming.label_value(project)}"


def read_snapshot(
    cluster: Cluster, namespace: str, project: str, routing_kind: str, *, events: bool = True
) -> Snapshot:
    """Every kind `status` needs (`logs` needs no events); raises `ClusterError` when the cluster cannot be read."""
    selector = stack_selector(project)

    def items(kind: Kind, labelled: bool = True) -> tuple[dict[str, Any], ...]:
        return tuple(cluster.list(kind, namespace, selector if labelled else None))

    return Snapshot(
        deployments=items("deployments"),
        pods=items("pods"),
        services=items("services"),
        autoscalers=items("horizontalpodautoscalers"),
        events=items("events", labelled=False) if events else (),
        httproutes=items("httproutes") if routing_kind == "gateway" else (),
        ingresses=items("ingresses") if routing_kind == "ingress" else (),
    )
