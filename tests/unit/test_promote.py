"""Guarded promotion's logic: the rollout policy, step weights, the gates, the record, and the run
(steps, breach and rollback, interruption, resume, abort) against an in-memory stack and figures.

The real engine, cluster and metrics run in tests/integration/test_promote.py; here only the
Pulumi/cluster side and the metrics are fakes, so each decision the promotion makes is checked alone.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from components.cli import build_parser, main
from components.cli.promote import parse_steps, policy_for
from components.inputs.aliases import AliasTarget
from components.inputs.errors import ConfigError
from components.inputs.rollout import RolloutConfig, RolloutPolicy, parse_duration, shares_after, steps_of
from components.inputs.settings import settings_from_config
from components.observe.figures import Traffic
from components.observe.model import AliasStatus, EndpointStatus, Pod, StackStatus, VersionStatus, Workload
from components.promote.gates import Figures, PodHealth, Requests, judge, summary
from components.promote.promotion import Promotion, PromotionFailed
from components.promote.readings import figures_from_status
from components.promote.record import MAX_TAG_VALUE, Rollout
from components.stacks import alias_changes
from components.stacks.errors import ToolError
from components.stacks.stack_config import StackConfig
from tests.harness import ROOT, V1, V2, V3, base_config

POLICY = RolloutPolicy(steps=[10, 50], bake=60, min_requests=100)


# --- policy -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("2m", 120), ("90s", 90), ("1m30s", 90), ("500ms", 0.5), ("1.5s", 1.5), (45, 45)]
)
def test_durations_read_as_people_write_them(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2 minutes", "m", "", "5x", True])
def test_bad_durations_say_what_to_write(text: object) -> None:
    with pytest.raises(ValueError, match="must be a duration like 2m, 90s or 500ms"):
        parse_duration(text)


def test_an_alias_policy_overrides_the_stack_policy_and_options_override_both() -> None:
    config = RolloutConfig.model_validate(
        {"bake": "1m", "maxP95": "300ms", "aliases": {"staging": {"steps": []}, "production": {"bake": "5m"}}}
    )
    assert config.policy("production").bake == 300
    assert config.policy("production").max_p95 == 0.3
    assert config.policy("production").steps == [10, 50]
    assert not config.policy("staging").guarded
    given = config.policy("production", bake="20s", steps=[25], max_error_ratio=None)
    assert (given.bake, given.steps, given.max_error_ratio) == (20, [25], 0.01)


def test_settings_name_the_key_of_a_bad_rollout_policy() -> None:
    with pytest.raises(ConfigError) as bad:
        settings_from_config(base_config(rollout={"steps": [50, 10], "aliases": {"prod": {"bake": "1m"}}}), "americas")
    text = "\n".join(bad.value.problems)
    assert "rollout.steps" in text and "steps must increase (got [50, 10])" in text


def test_a_policy_for_an_alias_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ConfigError) as bad:
        settings_from_config(base_config(rollout={"aliases": {"prod": {"bake": "1m"}}}), "americas")
    assert "rollout.aliases.prod: no such alias; name one of: production, staging" in "\n".join(bad.value.problems)


# --- steps ------------------------------------------------------------------------------------------


def test_steps_from_one_version_end_on_the_new_version_alone() -> None:
    targets = steps_of(AliasTarget.of(V1), V2, [10, 50])
    assert [dict(t.weights) for t in targets] == [{V2: 10, V1: 90}, {V2: 50, V1: 50}, {V2: 100}]


def test_steps_from_a_split_keep_the_other_versions_proportions_and_sum_to_100() -> None:
    start = AliasTarget.of({V1: 70, V3: 30})
    targets = steps_of(start, V2, [25])
    # 75 split 70:30 is 52.5 and 22.5: the remainders tie, so the heavier version takes the point.
    assert dict(targets[0].weights) == {V2: 25, V1: 53, V3: 22}
    assert all(sum(t.weights.values()) == 100 for t in targets)


def test_steps_the_new_version_already_passed_are_skipped() -> None:
    assert shares_after([10, 50], 20) == [50, 100]
    assert [dict(t.weights) for t in steps_of(AliasTarget.of({V1: 80, V2: 20}), V2, [10, 50])] == [
        {V2: 50, V1: 50},
        {V2: 100},
    ]


def test_no_steps_moves_at_once() -> None:
    assert [dict(t.weights) for t in steps_of(AliasTarget.of(V1), V2, [])] == [{V2: 100}]


# --- gates ------------------------------------------------------------------------------------------


def figures(
    new: tuple[float, float] = (200, 0),
    previous: tuple[float, float] = (2000, 0),
    p95: float | None = 0.05,
    pods: PodHealth | None = None,
    problems: tuple[str, ...] = (),
) -> Figures:
    return Figures(
        seconds=60,
        new=Requests(new[0], new[1], p95, new[0]),
        previous=Requests(previous[0], previous[1]),
        pods=pods or PodHealth(total=1, ready=1),
        problems=problems,
    )


def failed(result: Figures, *, final: bool = True, baseline: int = 0) -> list[str]:
    return [check.name for check in judge(result, POLICY, baseline, final=final) if check.failed]


def test_a_healthy_version_passes_every_gate() -> None:
    assert failed(figures()) == []


def test_too_little_traffic_waits_during_the_bake_and_fails_at_its_end() -> None:
    few = figures(new=(40, 0))
    assert failed(few, final=False) == []
    assert failed(few) == ["request-count"]
    assert "too little traffic" in summary(judge(few, POLICY, 0, final=True))


def test_a_5xx_share_above_the_threshold_fails_with_its_figures() -> None:
    checks = judge(figures(new=(141, 43)), POLICY, 0, final=False)
    assert [c.name for c in checks if c.failed] == ["error-ratio", "error-ratio-vs-previous"]
    assert "error-ratio 30.50% (43 of 141), threshold <= 1%" in summary(checks)


def test_errors_are_judged_against_the_previous_version_too() -> None:
    # 0.8% is under the 1% ceiling, but 0.6 points worse than the previous version's 0.2%.
    assert failed(figures(new=(1000, 8), previous=(1000, 2))) == ["error-ratio-vs-previous"]
    assert failed(figures(new=(1000, 8), previous=(1000, 5))) == []


def test_slow_answers_fail_the_latency_gate() -> None:
    assert failed(figures(p95=0.9)) == ["p95-latency"]


def test_latency_not_measured_cannot_pass() -> None:
    assert failed(figures(p95=None)) == ["p95-latency"]


def test_a_restart_or_a_pod_turning_unready_fails() -> None:
    assert failed(figures(pods=PodHealth(total=1, ready=1, restarts=3)), baseline=2) == ["restarts"]
    assert failed(figures(pods=PodHealth(total=2, ready=1, unready=("p-1",)))) == ["pods-ready"]
    assert failed(figures(pods=PodHealth())) == ["pods-ready"]


def test_unreadable_figures_wait_then_fail() -> None:
    broken = figures(problems=("cannot reach the metrics server at http://127.0.0.1:8428",))
    assert failed(broken, final=False) == []
    assert failed(broken) == ["figures-readable"]


# --- figures from a status reading ------------------------------------------------------------------


def status(pods: tuple[Pod, ...], new: Traffic | None, old: Traffic | None) -> StackStatus:
    workload = Workload("w", None, len(pods), 0, 0, 0, None, pods=pods)
    latency = Traffic(60, 100, 0, ((0.1, 95.0), (float("inf"), 100.0)))
    endpoint = EndpointStatus(V2, "predict-digit", True, True, workload=workload, traffic=latency)
    return StackStatus(
        stack="s",
        namespace="n",
        window_seconds=60,
        read_at="",
        versions={V2: VersionStatus(V2, True, True, {"predict-digit": endpoint})},
        aliases={"production": AliasStatus("production", None, None, None, versions={V2: new, V1: old})},
        problems=(),
        sources={},
    )


def test_figures_count_the_requests_each_version_got_through_the_alias() -> None:
    pod = Pod("p-1", "Running", True, 0)
    result = figures_from_status(
        status((pod,), Traffic(60, 120, 6), Traffic(60, 900, 1)), "production", V2, (V1,), set()
    )
    assert (result.new.count, result.new.errors, result.previous.count, result.previous.errors) == (120, 6, 900, 1)
    assert result.through_alias and result.new.p95_seconds == pytest.approx(0.1)  # 95 of 100 under 100ms


def test_without_per_alias_counts_each_version_is_judged_on_all_its_requests() -> None:
    reading = status((Pod("p-1", "Running", True, 0),), None, None)
    result = figures_from_status(reading, "production", V2, (V1,), set())
    # The version's own figures (100 requests over its endpoints); V1 has no status here: nothing counted.
    assert not result.through_alias and (result.new.count, result.previous.count) == (100, 0)


def test_a_pod_that_was_ready_and_is_not_counts_as_unready_but_a_starting_one_does_not() -> None:
    seen: set[str] = set()
    figures_from_status(status((Pod("p-1", "Running", True, 0),), None, None), "production", V2, (V1,), seen)
    later = (Pod("p-1", "Running", False, 1), Pod("p-2", "Pending", False, 0))
    result = figures_from_status(status(later, None, None), "production", V2, (V1,), seen)
    assert result.pods.unready == ("p-1",) and result.pods.restarts == 1


# --- the record -------------------------------------------------------------------------------------


def test_the_record_round_trips_through_its_tag() -> None:
    record = Rollout.begin("production", V2, AliasTarget.of({V1: 70, V3: 30}), [10, 50, 100]).at(1, "bake")
    again = Rollout.from_tag(record.to_tag())
    assert again == record and len(record.to_tag()) <= MAX_TAG_VALUE
    assert dict(again.target().weights) == {V2: 50, V1: 35, V3: 15}


def test_a_tag_that_is_not_a_record_says_how_to_clear_it() -> None:
    with pytest.raises(
        ToolError, match="is not a promotion record; remove it with `pulumi stack tag rm valohai:rollout`"
    ):
        Rollout.from_tag('{"alias": "production"}')


# --- the run ----------------------------------------------------------------------------------------


class Interrupt(KeyboardInterrupt):
    pass


@dataclass
class FakeClock:
    t: float = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeReadings:
    """Figures per (step share, seconds into the bake) from a function; the clock moves with readings."""

    stack: FakeStack
    clock: FakeClock

    def read(self, window_seconds: int) -> Figures:
        share = self.stack.deployed_target.weights.get(self.stack.version, 0)
        return self.stack.figures(share, window_seconds)

    def close(self) -> None:
        pass


@dataclass
class FakeStack:
    """Config and the deployed cluster of one alias; `apply` records every target it deployed."""

    clock: FakeClock
    version: str = V2
    config: AliasTarget = field(default_factory=lambda: AliasTarget.of(V1))
    deployed_target: AliasTarget = field(default_factory=lambda: AliasTarget.of(V1))
    figures: Callable[[int, int], Figures] = lambda share, seconds: figures()
    applied: list[dict[str, int]] = field(default_factory=list)
    fail_apply_at: int | None = None
    stack_config: StackConfig | None = None
    name: str = "local"

    def configured(self, alias: str) -> AliasTarget | None:
        return self.config

    def deployed(self, alias: str) -> AliasTarget | None:
        return self.deployed_target

    def deployed_versions(self) -> set[str]:
        return {V1, V2, V3}

    def check(self, alias: str, target: AliasTarget) -> None:
        # The real checks (the program's validation), when the test gives the stack's config.
        if self.stack_config is not None:
            alias_changes.checked_aliases(self.stack_config, {alias: target.to_config()})

    def apply(self, targets: Mapping[str, AliasTarget]) -> float:
        target = targets["production"]
        self.config = target
        if self.fail_apply_at is not None and len(self.applied) == self.fail_apply_at:
            raise Interrupt
        self.clock.t += 5
        self.deployed_target = target
        self.applied.append(dict(target.weights))
        return 5.0

    def readings(self, alias: str, version: str, previous: tuple[str, ...]) -> FakeReadings:
        return FakeReadings(self, self.clock)


@dataclass
class MemoryStore:
    record: Rollout | None = None
    writes: list[str] = field(default_factory=list)

    def read(self) -> Rollout | None:
        return self.record

    def write(self, rollout: Rollout) -> None:
        self.record = rollout
        self.writes.append(f"{rollout.shares[rollout.step]}:{rollout.phase}")

    def clear(self) -> None:
        self.record = None
        self.writes.append("clear")


def promotion(stack: FakeStack, store: MemoryStore | None = None) -> tuple[Promotion, MemoryStore, list[str]]:
    said: list[str] = []
    store = store or MemoryStore()
    return Promotion(stack, store, stack.clock, said.append), store, said


def test_a_healthy_version_is_promoted_step_by_step_to_all_traffic() -> None:
    stack = FakeStack(FakeClock())
    run, store, said = promotion(stack)
    outcome = run.run("production", V2, POLICY)
    assert stack.applied == [{V2: 10, V1: 90}, {V2: 50, V1: 50}, {V2: 100}]
    assert stack.config == stack.deployed_target == AliasTarget.of(V2)
    assert store.record is None
    assert store.writes == ["10:apply", "10:bake", "50:apply", "50:bake", "100:apply", "clear"]
    assert [s.share for s in outcome.steps] == [10, 50, 100]
    assert all(s.bake_seconds >= 60 for s in outcome.steps[:2])
    assert any("bake 1m left" in line and "new 200 req" in line for line in said)


def test_a_breach_returns_config_and_cluster_to_the_start_and_names_step_figures_and_threshold() -> None:
    def erroring(share: int, seconds: int) -> Figures:
        # Healthy at 10%; at 50% the version answers 500 to 30% of requests from 20s into the bake.
        return figures(new=(141, 43)) if share == 50 and seconds >= 20 else figures()

    stack = FakeStack(FakeClock(), figures=erroring)
    run, store, _ = promotion(stack)
    with pytest.raises(PromotionFailed) as failure:
        run.run("production", V2, POLICY)
    assert stack.applied == [{V2: 10, V1: 90}, {V2: 50, V1: 50}, {V1: 100}]
    assert stack.config == stack.deployed_target == AliasTarget.of(V1)
    assert store.record is None and store.writes[-2:] == ["50:rollback", "clear"]
    first, second = failure.value.problems
    assert first.startswith(f"alias promote: {V2} failed step 2 of 3 (50%) after 20s of its 1m bake:")
    assert "error-ratio 30.50% (43 of 141), threshold <= 1%" in first
    assert second == f"production is back on {V1} (config and cluster), 5.0s after the breach was detected"


def test_too_little_traffic_rolls_back_at_the_end_of_the_bake() -> None:
    stack = FakeStack(FakeClock(), figures=lambda share, seconds: figures(new=(12, 0)))
    run, _, _ = promotion(stack)
    with pytest.raises(PromotionFailed, match=r"failed step 1 of 3 \(10%\) after 1m of its 1m bake: request-count 12"):
        run.run("production", V2, POLICY)
    assert stack.deployed_target == AliasTarget.of(V1)


def test_an_interrupted_bake_leaves_a_record_and_the_next_run_resumes_at_that_step() -> None:
    interrupted = {"yes": True}

    def stop_once_at_50(share: int, seconds: int) -> Figures:
        if share == 50 and interrupted.pop("yes", False):
            raise Interrupt
        return figures()

    stack = FakeStack(FakeClock(), figures=stop_once_at_50)
    run, store, said = promotion(stack)
    with pytest.raises(KeyboardInterrupt):
        run.run("production", V2, POLICY)
    assert store.record is not None and store.record.where() == "step 2 of 3 (50%), baking"
    assert stack.config == stack.deployed_target == AliasTarget.of({V2: 50, V1: 50})
    run.run("production", V2, POLICY)
    assert any("resuming the interrupted promotion of production to" in line for line in said)
    assert stack.applied == [{V2: 10, V1: 90}, {V2: 50, V1: 50}, {V2: 50, V1: 50}, {V2: 100}]
    assert store.record is None


def test_abort_returns_an_interrupted_promotion_to_its_start() -> None:
    stack = FakeStack(FakeClock(), fail_apply_at=1)
    run, store, _ = promotion(stack)
    with pytest.raises(KeyboardInterrupt):
        run.run("production", V2, POLICY)
    # Interrupted between the config write and the end of `pulumi up`: config already moved, the record says so.
    assert store.record is not None and store.record.phase == "apply"
    assert stack.config != stack.deployed_target
    stack.fail_apply_at = None
    run.abort()
    assert stack.config == stack.deployed_target == AliasTarget.of(V1)
    assert store.record is None


def test_another_promotion_first_returns_the_interrupted_one_to_its_start_and_stops() -> None:
    start = Rollout.begin("production", V2, AliasTarget.of(V1), [10, 50, 100]).at(0, "bake")
    stack = FakeStack(FakeClock(), config=start.target(), deployed_target=start.target())
    run, store, _ = promotion(stack, MemoryStore(start))
    with pytest.raises(ToolError, match=f"returned production to {V1} .*; run the command again to promote {V3}"):
        run.run("production", V3, POLICY)
    assert stack.applied == [{V1: 100}] and store.record is None


def test_an_interrupted_rollback_is_finished_and_not_resumed() -> None:
    start = Rollout.begin("production", V2, AliasTarget.of(V1), [10, 50, 100]).at(1, "rollback")
    stack = FakeStack(FakeClock(), config=AliasTarget.of(V1), deployed_target=start.target())
    run, store, _ = promotion(stack, MemoryStore(start))
    with pytest.raises(ToolError, match="interrupted rollback of production is now complete"):
        run.run("production", V2, POLICY)
    assert stack.applied == [{V1: 100}] and store.record is None


def test_config_and_cluster_disagreeing_is_refused_before_any_change() -> None:
    stack = FakeStack(FakeClock(), config=AliasTarget.of(V3))
    run, store, _ = promotion(stack)
    with pytest.raises(ToolError, match=f"config points production to {V3} but the cluster .* to {V1}"):
        run.run("production", V2, POLICY)
    assert stack.applied == [] and store.writes == []


def test_from_deployed_starts_where_the_last_up_left_the_alias() -> None:
    # A merged change already moved config to V2; the deploy job promotes from what runs.
    stack = FakeStack(FakeClock(), config=AliasTarget.of(V2))
    run, _, _ = promotion(stack)
    run.run("production", V2, POLICY, from_deployed=True)
    assert stack.applied == [{V1: 100}, {V2: 10, V1: 90}, {V2: 50, V1: 50}, {V2: 100}]


def test_a_deploy_holds_moved_aliases_for_the_rest_of_the_change_then_promotes_them() -> None:
    stack = FakeStack(FakeClock(), config=AliasTarget.of(V2))
    run, store, _ = promotion(stack)
    run.run_moved({"production": (V2, POLICY)})
    assert stack.applied == [{V1: 100}, {V2: 10, V1: 90}, {V2: 50, V1: 50}, {V2: 100}]
    assert store.record is None


def test_a_step_the_program_would_refuse_stops_the_promotion_before_any_change(project_dir: Path) -> None:
    # Ingress routing (the base config's): promoting a third version into a split of two needs three at once.
    versions = {v: {"files": {"predict-digit": {"model": "models/digits-v1.json"}}} for v in (V1, V2, V3)}
    values = base_config(versions=versions, aliases={"production": {V1: 50, V3: 50}})
    config = StackConfig(project_dir, "test", "valohai-deployments", values, frozenset())
    split = AliasTarget.of({V1: 50, V3: 50})
    stack = FakeStack(FakeClock(), config=split, deployed_target=split, stack_config=config)
    run, store, _ = promotion(stack)
    with pytest.raises(ToolError) as refused:
        run.run("production", V2, POLICY)
    assert (
        "  config: aliases.production: a traffic split takes exactly 2 versions with routing.kind ingress (got 3); "
        "routing.kind gateway splits across any number"
    ) in refused.value.problems
    assert stack.applied == [] and store.writes == []


def test_nothing_to_promote_is_said_plainly() -> None:
    stack = FakeStack(FakeClock(), config=AliasTarget.of(V2), deployed_target=AliasTarget.of(V2))
    run, _, _ = promotion(stack)
    with pytest.raises(ToolError, match=f"production already points to {V2} alone; nothing to promote"):
        run.run("production", V2, POLICY)


# --- the command line -------------------------------------------------------------------------------


def test_steps_option() -> None:
    assert parse_steps("10,50") == [10, 50]
    assert parse_steps("none") == []


def test_options_out_of_range_name_the_option() -> None:
    with pytest.raises(ToolError) as bad:
        policy_for(base_config(), "americas", "production", {"max_error_ratio": 2, "steps": [10, 100]})
    assert bad.value.problems == [
        "alias promote: --steps: each step is the new version's share in percent, 1 to 99 (got [10, 100]); "
        "100 follows the last",
        "alias promote: --max-error-ratio: Input should be less than or equal to 1",
    ]


def test_an_unknown_alias_names_the_known_ones() -> None:
    with pytest.raises(ToolError, match="has no alias 'prod'; name one of: production, staging"):
        policy_for(base_config(), "americas", "prod", {})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["production"],
            "error: alias promote: name ALIAS and VERSION (or pass --abort to undo a promotion under way)",
        ),
        (["--abort", "production", V2], "error: alias promote: --abort takes no ALIAS or VERSION"),
    ],
)
def test_missing_or_extra_arguments_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alias", "promote", "--stack", "local", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_the_deploy_job_promotes_moved_aliases_before_its_pulumi_up() -> None:
    steps = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())["jobs"]["up"]["steps"]
    runs = [str(step.get("run", "")) for step in steps]
    promote = next(i for i, run in enumerate(runs) if "alias promote" in run)
    up = next(i for i, run in enumerate(runs) if run.startswith("pulumi up"))
    assert promote < up
    argv = shlex.split(runs[promote].replace("${{ matrix.stack }}", "americas"))
    assert argv[:3] == [".venv/bin/python", "-m", "components"]
    args = build_parser().parse_args(argv[3:])
    assert (args.stack, args.moved, args.alias) == ("americas", True, None)
