"""A Prometheus-compatible HTTP API (Prometheus, VictoriaMetrics): instant queries, read with httpx."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import httpx

from components.observe.promql import Query

TIMEOUT_SECONDS = 10.0


class MetricsError(Exception):
    """The metrics server could not answer; the message names its address and the fix."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass
class Prometheus:
    base_url: str
    timeout: float = TIMEOUT_SECONDS
    # Tests hand in a transport that replays recorded answers; None talks to base_url.
    transport: httpx.BaseTransport | None = None
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def query(self, query: Query, at: float) -> list[Sample]:
        """The instant vector `query` evaluates to at `at` (Unix seconds)."""
        try:
            response = self._http().get("api/v1/query", params={"query": query.expr, "time": f"{at:.3f}"})
        except httpx.TransportError as err:
            raise MetricsError(
                f"cannot reach the metrics server at {self.base_url} ({_reason(err)}); start it "
                "(the local one: scripts/services start) or fix observability.prometheus in the stack's config"
            ) from None
        body = _json(response)
        if response.status_code != httpx.codes.OK or body.get("status") != "success":
            detail = body.get("error") or f"HTTP {response.status_code}"
            raise MetricsError(f"the metrics server at {self.base_url} refused query {query.name}: {detail}")
        data = body.get("data") or {}
        if data.get("resultType") != "vector":
            raise MetricsError(
                f"the metrics server at {self.base_url} answered query {query.name} with "
                f"{data.get('resultType')!r}, not an instant vector; is it Prometheus-compatible?"
            )
        return [sample for item in data.get("result") or [] if (sample := _sample(item))]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _http(self) -> httpx.Client:
        if self._client is None:
            # A base path (a Prometheus behind /prometheus) is kept: queries are relative to it.
            self._client = httpx.Client(
                base_url=self.base_url.rstrip("/") + "/", timeout=self.timeout, transport=self.transport
            )
        return self._client


def _sample(item: Any) -> Sample | None:
    try:
        value = float(item["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    if math.isnan(value):
        return None
    return Sample({str(k): str(v) for k, v in (item.get("metric") or {}).items()}, value)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"error": f"HTTP {response.status_code}, not JSON: {response.text[:200]!r}"}
    return body if isinstance(body, dict) else {}


def _reason(err: httpx.TransportError) -> str:
    text = str(err) or type(err).__name__
    if "refused" in text.lower():
        return "connection refused"
    if isinstance(err, httpx.TimeoutException):
        return "timed out"
    return " ".join(text.split())[:200]
