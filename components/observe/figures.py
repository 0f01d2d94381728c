"""Traffic figures over a window: requests, 5xx share, latency quantiles, and the math behind them.

Counts come from the router's counters, latency from its histograms' bucket increases; keeping the
buckets lets figures of several routes or endpoints merge exactly before quantiles are taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The q-quantile of a histogram given as cumulative (upper bound, count) buckets, +Inf included.

    The same linear interpolation as PromQL's `histogram_quantile`: within the bucket the rank falls
    in, observations are taken as evenly spread; a rank in the +Inf bucket answers the highest finite
    bound. None when the histogram holds no observation.
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][0] != float("inf"):
        return None
    # Counters scraped at slightly different moments can dip; a histogram's buckets never do.
    cumulative: list[tuple[float, float]] = []
    highest = 0.0
    for bound, count in ordered:
        highest = max(highest, count)
        cumulative.append((bound, highest))
    total = cumulative[-1][1]
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in cumulative:
        if count >= rank:
            if bound == float("inf"):
                return previous_bound if len(cumulative) > 1 else None
            if bound <= 0 or count == previous_count:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (count - previous_count)
        previous_bound, previous_count = bound, count
    return None


@dataclass(frozen=True)
class Traffic:
    """Requests over a window, from the router's counters (requests, 5xx) and histograms (latency).

    `buckets` are the latency histogram's increases over the window, (upper bound, cumulative count):
    kept so figures of several endpoints or routes merge exactly. Empty when latency is unknown.
    """

    window_seconds: float
    requests: float = 0.0
    errors: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.window_seconds if self.window_seconds > 0 else 0.0

    @property
    def error_ratio(self) -> float | None:
        """The 5xx share of requests; None without requests (no traffic is not a 0% error rate)."""
        return self.errors / self.requests if self.requests > 0 else None

    @property
    def p50_seconds(self) -> float | None:
        return quantile(0.5, self.buckets)

    @property
    def p95_seconds(self) -> float | None:
        return quantile(0.95, self.buckets)

    @classmethod
    def merge(cls, window_seconds: float, parts: Iterable[Traffic]) -> Traffic:
        """The sum of several routes' or endpoints' traffic over the same window."""
        requests = errors = 0.0
        by_bound: dict[float, float] = {}
        for part in parts:
            requests += part.requests
            errors += part.errors
            for bound, count in part.buckets:
                by_bound[bound] = by_bound.get(bound, 0.0) + count
        return cls(window_seconds, requests, errors, tuple(sorted(by_bound.items())))

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": _rounded(self.requests),
            "requestsPerSecond": _rounded(self.requests_per_second),
            "errorRatio": _rounded(self.error_ratio),
            "p50Seconds": _rounded(self.p50_seconds),
            "p95Seconds": _rounded(self.p95_seconds),
        }


def traffic_json(traffic: Traffic | None) -> dict[str, Any]:
    """The traffic fields of an endpoint or alias; all null when the metrics could not be read."""
    if traffic is None:
        return {"requests": None, "requestsPerSecond": None, "errorRatio": None, "p50Seconds": None, "p95Seconds": None}
    return traffic.to_json()


def _rounded(value: float | None) -> float | None:
    """Figures for people and scripts: 6 significant digits, no float noise like 0.30000000000000004."""
    return None if value is None else float(f"{value:.6g}")
