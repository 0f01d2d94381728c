"""What people read: `status`'s table, `logs`' line order and prefixes, the --window/--since durations."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from components.cli.common import duration
from components.observe.logs import LogLine, sort_key
from components.observe.table import ALIAS_COLUMNS, VERSION_COLUMNS, render
from tests.unit.observe_objects import RECENT, V1, V2, declared_stack, healthy, pod, route, status_of


def test_the_table_has_a_row_per_version_endpoint_then_the_aliases_then_the_problems(tmp_path: Path) -> None:
    killed = {"lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": RECENT}}}
    pods = list(healthy().pods)
    pods[0] = pod(V1, "greet-me", restarts=2, **killed)
    refused = ("False", "NotAllowedByListeners", "No listener matched")
    snapshot = healthy(
        pods=tuple(pods), httproutes=(route("production", {V1: 1}), route("staging", {V2: 1}, accepted=refused))
    )
    lines = render(status_of(declared_stack(tmp_path), snapshot)).splitlines()
    assert lines[0].startswith("Stack local, namespace mnist-local; traffic over the last 5m")
    header = lines[2].split()
    assert header == list(VERSION_COLUMNS)
    rows = [line.split() for line in lines[3:7]]
    assert [(row[0], row[1]) for row in rows] == [
        (V1, "greet-me"),
        (V1, "predict-digit"),
        (V2, "greet-me"),
        (V2, "predict-digit"),
    ]
    # VERSION ENDPOINT STATUS READY AVAILABLE RESTARTS LAST-TERMINATION (reason, age, "ago") ...
    assert rows[0][2:8] == ["Ready", "1/1", "1", "2", "OOMKilled", "2m"]
    assert lines[8].split() == list(ALIAS_COLUMNS)
    assert lines[9].split()[:4] == ["production", V1, V1, "True"]
    assert lines[10].split()[:4] == ["staging", V2, V2, "False"]
    problems = lines[lines.index("Problems:") + 1 :]
    assert problems[0].startswith(f"  [workload] {V1}/greet-me: restarted (2 restarts); last end: OOMKilled")
    assert problems[1].startswith(
        "  [route] alias staging: the controller says HTTPRoute alias-staging-1a2b3c4d was not accepted"
    )


def test_log_lines_merge_in_time_order_although_the_kubelet_trims_trailing_zeros() -> None:
    lines = [
        LogLine("2026-12-05T10:00:00.5Z", "pod-a", "third"),
        LogLine("2026-12-05T10:00:00.123456789Z", "pod-b", "second"),
        LogLine("2026-12-05T10:00:00.12Z", "pod-a", "first"),
        LogLine("2026-12-05T10:00:01Z", "pod-b", "fourth"),
    ]
    assert [line.text for line in sorted(lines, key=sort_key)] == ["first", "second", "third", "fourth"]
    assert lines[0].show() == "[pod-a] third"
    assert lines[0].show(with_timestamp=True) == "[pod-a] 2026-12-05T10:00:00.5Z third"


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400)])
def test_durations(text: str, seconds: int) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "5 minutes", "-5m", "5w", ""])
def test_a_bad_duration_says_what_is_expected(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        duration(text)
    assert str(caught.value) == f"{text!r} is not a duration like 30s, 5m, 2h or 1d"
