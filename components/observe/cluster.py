"""Reading a stack's objects from its cluster with the Kubernetes client library.

The kubeconfig and context are the stack's own (`target`), never the ambient `KUBECONFIG` or
`~/.kube/config`. Objects come back as the API's JSON (plain dicts with the API's field names,
exactly what `kubectl get -o json` shows), so the parsers in `workloads` and `routes` are pure and
their tests use objects recorded from a real cluster.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

# Connect and read timeouts (seconds) of one list call: a cluster that does not answer is named
# quickly instead of hanging `status`.
TIMEOUT = (5.0, 30.0)
# Followed logs wait for the next line without a read timeout; the connect timeout still applies.
FOLLOW_TIMEOUT = (5.0, None)

GATEWAY_GROUP, GATEWAY_VERSION = "gateway.networking.k8s.io", "v1"

Kind = Literal["deployments", "pods", "services", "horizontalpodautoscalers", "events", "ingresses", "httproutes"]


class ClusterError(Exception):
    """The cluster could not be read; the message names the address and the fix, in one line."""


@dataclass
class Cluster:
    api: client.ApiClient
    # For messages: the API server's address and where its kubeconfig came from.
    server: str
    origin: str

    @classmethod
    def connect(cls, kubeconfig: str, context: str | None, origin: str) -> Cluster:
        """A client for `kubeconfig` (a path, or the kubeconfig's own text) and `context`."""
        configuration = client.Configuration()
        try:
            if "\n" in kubeconfig:
                loaded = yaml.safe_load(kubeconfig)
                # The client's config loaders carry no type hints.
                config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
                    loaded, context=context, client_configuration=configuration, persist_config=False
                )
            else:
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False
                )
        except (OSError, ConfigException, yaml.YAMLError, TypeError, KeyError) as err:
            raise ClusterError(f"cannot use {origin}: {_one_line(err)}; fix target.kubeconfig/target.context") from None
        # One retry at most: a cluster that is down should be reported, not waited for.
        configuration.retries = 1
        return cls(client.ApiClient(configuration), str(configuration.host), origin)

    def list(self, kind: Kind, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        """The items of one kind in `namespace`, as the API's JSON; [] when the kind is not served."""
        call, args = self._lister(kind, namespace)
        options: dict[str, Any] = {"label_selector": selector} if selector else {}
        if kind == "events":
            options["field_selector"] = "type=Warning"
        try:
            items = self._json(call, *args, **options).get("items") or []
        except ApiException as err:
            if err.status == 404 and kind == "httproutes":
                raise ClusterError(
                    f"the cluster at {self.server} serves no HTTPRoute API (Gateway API CRDs not installed)"
                ) from None
            raise self._api_error(err, f"list {kind} in namespace {namespace}") from None
        return [item for item in items if isinstance(item, dict)]

    def pod_log(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None = None,
        since_seconds: int | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
        follow: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        """A pod's log as a stream of bytes (lines with RFC 3339 timestamps); the caller closes it."""
        options: dict[str, Any] = {"timestamps": True, "previous": previous, "follow": follow}
        if container:
            options["container"] = container
        if since_seconds:
            options["since_seconds"] = since_seconds
        if tail_lines is not None and tail_lines >= 0:
            options["tail_lines"] = tail_lines
        api = client.CoreV1Api(self.api)
        try:
            response: urllib3.BaseHTTPResponse = self._call(
                api.read_namespaced_pod_log,
                pod,
                namespace,
                timeout=FOLLOW_TIMEOUT if follow else TIMEOUT,
                **options,
            )
        except ApiException as err:
            raise LogUnavailable(_api_message(err)) from None
        return response

    def _lister(self, kind: Kind, namespace: str) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        if kind == "httproutes":
            custom = client.CustomObjectsApi(self.api)
            return custom.list_namespaced_custom_object, (GATEWAY_GROUP, GATEWAY_VERSION, namespace, kind)
        listers: dict[str, Callable[..., Any]] = {
            "deployments": client.AppsV1Api(self.api).list_namespaced_deployment,
            "pods": client.CoreV1Api(self.api).list_namespaced_pod,
            "services": client.CoreV1Api(self.api).list_namespaced_service,
            "events": client.CoreV1Api(self.api).list_namespaced_event,
            "horizontalpodautoscalers": client.AutoscalingV2Api(self.api).list_namespaced_horizontal_pod_autoscaler,
            "ingresses": client.NetworkingV1Api(self.api).list_namespaced_ingress,
        }
        return listers[kind], (namespace,)

    def _json(self, call: Callable[..., Any], *args: Any, **options: Any) -> dict[str, Any]:
        response = self._call(call, *args, timeout=TIMEOUT, **options)
        try:
            data = json.loads(response.data)
        finally:
            response.release_conn()
        return data if isinstance(data, dict) else {}

    def _call(self, call: Callable[..., Any], *args: Any, timeout: Any, **options: Any) -> Any:
        """`call` with the raw response (the API's own JSON, not the client's models)."""
        try:
            return call(*args, _preload_content=False, _request_timeout=timeout, **options)
        except urllib3.exceptions.HTTPError as err:
            raise ClusterError(
                f"cannot reach the cluster at {self.server} ({self.origin}): {_reason(err)}; "
                "check that it runs (the local one: scripts/services start) and that target.kubeconfig names it"
            ) from None

    def _api_error(self, err: ApiException, doing: str) -> ClusterError:
        if err.status in (401, 403):
            return ClusterError(
                f"the cluster at {self.server} refused to {doing} ({err.status} {err.reason}) for the credentials "
                f"in {self.origin}; use credentials that may read the stack's namespace"
            )
        return ClusterError(f"the cluster at {self.server} could not {doing}: {_api_message(err)}")

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]  # the client's close carries no type hints


class LogUnavailable(Exception):
    """The API server would not give a pod's log (a container that never started, no previous one)."""


def lines(response: urllib3.BaseHTTPResponse) -> Iterator[str]:
    """The lines of a log stream as they arrive (decoded, without the newline)."""
    pending = b""
    for chunk in response.stream(4096, decode_content=True):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def _api_message(err: ApiException) -> str:
    """The API server's own message (`status.message`), else the HTTP reason."""
    try:
        body = json.loads(err.body or "{}")
    except (ValueError, TypeError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or f"{err.status} {err.reason}")


def _reason(err: Exception) -> str:
    """The innermost cause of a connection failure, e.g. `Connection refused`."""
    reason: Any = getattr(err, "reason", None) or err
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return _one_line(reason)


def _one_line(err: object) -> str:
    return " ".join(str(err).split())[:300]
