"""The alias routing: a stable Ingress per alias, and a canary Ingress when traffic is split.

Moving an alias changes only the backends of these objects; their names depend on the alias
alone, so a move is an in-place update and never a replacement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import naming, routing_spec
from components.settings import StackSettings


@dataclass(frozen=True)
class AliasRoutingArgs:
    alias: str
    # version -> weight, heaviest first; each version's endpoint -> Service name.
    weights: dict[str, int]
    services: Mapping[str, Mapping[str, pulumi.Input[str]]]
    settings: StackSettings
    namespace: pulumi.Input[str]
    auth_secret: str | None = None


class AliasRouting(pulumi.ComponentResource):
    def __init__(self, name: str, args: AliasRoutingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("valohai:index:AliasRouting", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        versions = list(args.weights)
        primary = versions[0]
        endpoints = list(args.services[primary])
        self.paths = {e: naming.url_prefix(s.owner, s.project, s.deployment, args.alias, e) for e in endpoints}

        def ingress(logical: str, version: str, canary_weight: int | None) -> k8s.networking.v1.Ingress:
            routes = [routing_spec.Route(self.paths[e], args.services[version][e]) for e in endpoints]
            # Plain API dicts; the SDK accepts them as its *ArgsDict types, which mypy cannot relate.
            metadata: Any = routing_spec.ingress_metadata(
                name=naming.alias_ingress_name(args.alias, canary=canary_weight is not None),
                namespace=args.namespace,
                project=s.project,
                component="alias-routing",
                labels={"valohai.com/alias": args.alias},
                auth_secret=args.auth_secret,
                realm=f"{s.owner}/{s.project}",
                canary_weight=canary_weight,
            )
            spec: Any = routing_spec.ingress_spec(routes, s.ingress_class_name, s.host, s.tls_secret_name)
            return k8s.networking.v1.Ingress(logical, metadata=metadata, spec=spec, opts=child)

        self.ingress = ingress(f"{name}-ingress", primary, None)
        self.canary = (
            ingress(f"{name}-canary-ingress", versions[1], args.weights[versions[1]]) if len(versions) > 1 else None
        )
        tls = bool(s.tls_secret_name)
        self.urls = {e: routing_spec.url(s.host, tls, path) for e, path in self.paths.items()}
        self.register_outputs({"urls": self.urls, "versions": args.weights})
