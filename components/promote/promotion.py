"""A guarded promotion: the alias moves to the new version in steps, each baked on live traffic, and
goes back to where it started on the first breach.

    promotion = Promotion(stack, TagStore(pulumi), clock, print)
    promotion.run("production", "20181003.0", policy)     # raises PromotionFailed after a rollback
    promotion.abort()                                      # back to the start of one under way

Every change is recorded before it is made (`record.Rollout`), so an interrupted run leaves a record
naming the start; the next run (or `abort`) returns there before anything else, and config and cluster
never disagree without the record saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from components.inputs.aliases import AliasTarget
from components.inputs.rollout import RolloutPolicy, format_duration, shares_after, start_share
from components.promote.bake import BakeResult, Clock, bake, figures_line, left_line
from components.promote.gates import Figures, summary
from components.promote.readings import Readings
from components.promote.record import RecordStore, Rollout
from components.stacks.errors import ToolError


class PromotionFailed(ToolError):
    """A gate failed; the alias is back where it started (config and cluster)."""


class Stack(Protocol):
    """The stack a promotion moves an alias in."""

    name: str

    def configured(self, alias: str) -> AliasTarget | None: ...

    def deployed(self, alias: str) -> AliasTarget | None: ...

    def deployed_versions(self) -> set[str]: ...

    def check(self, alias: str, target: AliasTarget) -> None:
        """The program's checks on config with `alias` at `target`; raises ToolError, writes nothing."""
        ...

    def apply(self, targets: Mapping[str, AliasTarget]) -> float:
        """The checked config write of `alias set` for each alias, then one `pulumi up`; the seconds it took."""
        ...

    def readings(self, alias: str, version: str, previous: tuple[str, ...]) -> Readings: ...


@dataclass(frozen=True)
class StepTime:
    share: int
    apply_seconds: float
    bake_seconds: float


@dataclass(frozen=True)
class Outcome:
    alias: str
    version: str
    steps: tuple[StepTime, ...]


@dataclass
class Promotion:
    stack: Stack
    store: RecordStore
    clock: Clock
    say: Callable[[str], None]

    def run(self, alias: str, version: str, policy: RolloutPolicy, *, from_deployed: bool = False) -> Outcome:
        """Promote `version` on `alias`; a record of an interrupted promotion is dealt with first."""
        record = self.store.read()
        if record is not None:
            if (record.alias, record.version) != (alias, version) or record.phase == "rollback":
                self._finish_interrupted(record)
                if (record.alias, record.version) != (alias, version):
                    raise ToolError(
                        f"alias promote: returned {record.alias} to {record.start.describe()} (the start of an "
                        f"interrupted promotion to {record.version}); run the command again to promote {version}"
                    )
                raise ToolError(
                    f"alias promote: an interrupted rollback of {alias} is now complete: it is back on "
                    f"{record.start.describe()}; run the command again to promote {version} afresh"
                )
            self.say(f"==> resuming the interrupted promotion of {alias} to {version} at {record.where()}")
            return self._steps(record, policy, record.step)
        start = self._start(alias, version, from_deployed)
        shares = shares_after(policy.steps, start_share(start, version))
        record = Rollout.begin(alias, version, start, shares)
        # Every step passes the program's checks before the first changes anything (ingress routing
        # splits two versions only, so a promotion from a split of two is refused here).
        for step in range(len(shares)):
            self.stack.check(alias, record.target(step))
        record.to_tag()
        plan = " → ".join(f"{s}%" for s in shares)
        self.say(
            f"==> promoting {version} on {alias} (now {start.describe()}): {plan}, "
            f"{format_duration(policy.bake)} bake per step"
        )
        return self._steps(record, policy, 0)

    def run_moved(self, moves: Mapping[str, tuple[str, RolloutPolicy]]) -> list[Outcome]:
        """What a deploy does when config moves aliases (alias -> (version, policy)): every moved alias is
        held where it is deployed for one `pulumi up` of the rest of the change, then promoted in turn."""
        record = self.store.read()
        if record is not None:
            self._finish_interrupted(record)
        held = {alias: self._held(alias) for alias in moves}
        self.say(f"==> deploying the change with {', '.join(moves)} held where deployed, then promoting each")
        self.stack.apply(held)
        return [self.run(alias, version, policy) for alias, (version, policy) in moves.items()]

    def _held(self, alias: str) -> AliasTarget:
        deployed = self.stack.deployed(alias)
        if deployed is None:
            raise ToolError(f"alias promote: stack '{self.stack.name}' has no deployed alias '{alias}' to promote from")
        return deployed

    def abort(self) -> None:
        """Return the alias of a promotion under way to where it started."""
        record = self.store.read()
        if record is None:
            self.say(f"==> stack '{self.stack.name}' has no promotion under way; nothing to abort")
            return
        self._finish_interrupted(record)

    def _start(self, alias: str, version: str, from_deployed: bool) -> AliasTarget:
        deployed = self.stack.deployed(alias)
        if version not in self.stack.deployed_versions():
            raise ToolError(
                f"alias promote: version '{version}' is not deployed in stack '{self.stack.name}'; add it "
                "(version create) and run pulumi up first, so each step changes only the route"
            )
        if deployed is None:
            raise ToolError(
                f"alias promote: stack '{self.stack.name}' has no deployed alias '{alias}'; create it with "
                f"`alias set` and pulumi up, then promote"
            )
        if from_deployed:
            if self.stack.configured(alias) != deployed:
                self.say(f"==> {alias}: config back to the deployed {deployed.describe()} before promoting")
                self.stack.apply({alias: deployed})
            return self._movable(alias, version, deployed)
        configured = self.stack.configured(alias)
        if configured != deployed:
            raise ToolError(
                f"alias promote: config points {alias} to {configured.describe() if configured else '(none)'} but "
                f"the cluster (last pulumi up) to {deployed.describe()}; run pulumi up, or `alias set` it back, "
                "or pass --from-deployed to promote from what is deployed"
            )
        return self._movable(alias, version, deployed)

    def _movable(self, alias: str, version: str, start: AliasTarget) -> AliasTarget:
        if start == AliasTarget({version: 100}):
            raise ToolError(f"alias promote: {alias} already points to {version} alone; nothing to promote")
        if start.mirror is not None:
            raise ToolError(
                f"alias promote: {alias} mirrors traffic to {start.mirror.version}; remove the mirror "
                "(`alias set` without --mirror) before promoting"
            )
        return start

    def _steps(self, record: Rollout, policy: RolloutPolicy, first: int) -> Outcome:
        times = []
        for step in range(first, len(record.shares)):
            record = record.at(step, "apply")
            target = record.target()
            self.store.write(record)
            self.say(f"==> step {step + 1} of {len(record.shares)}: {record.alias} → {target.describe()}")
            applied = self.stack.apply({record.alias: target})
            last = step == len(record.shares) - 1
            if last:
                times.append(StepTime(record.shares[step], applied, 0.0))
                break
            record = record.at(step, "bake")
            self.store.write(record)
            result = self._bake(record, policy)
            times.append(StepTime(record.shares[step], applied, result.elapsed))
            if not result.passed:
                self._roll_back(record, result, policy)
        self.store.clear()
        self.say(f"==> {record.alias} points to {record.version} alone")
        return Outcome(record.alias, record.version, tuple(times))

    def _bake(self, record: Rollout, policy: RolloutPolicy) -> BakeResult:
        previous = tuple(v for v in record.start.weights if v != record.version)
        readings = self.stack.readings(record.alias, record.version, previous)
        where = f"step {record.step + 1}/{len(record.shares)} {record.target().describe()}"

        def show(figures: Figures, left: float) -> None:
            self.say(f"    {where} · {left_line(left)} · {figures_line(figures)}")

        try:
            return bake(readings, policy, self.clock, show)
        finally:
            readings.close()

    def _roll_back(self, record: Rollout, result: BakeResult, policy: RolloutPolicy) -> None:
        self.store.write(record.at(record.step, "rollback"))
        reason = summary(result.checks)
        self.say(f"==> breach at {record.where()}: {reason}; returning {record.alias} to {record.start.describe()}")
        self.stack.apply({record.alias: record.start})
        self.store.clear()
        took = self.clock.now() - result.at
        raise PromotionFailed(
            [
                f"alias promote: {record.version} failed step {record.step + 1} of {len(record.shares)} "
                f"({record.shares[record.step]}%) after {format_duration(max(1.0, round(result.elapsed)))} of its "
                f"{format_duration(policy.bake)} bake: {reason}",
                f"{record.alias} is back on {record.start.describe()} (config and cluster), "
                f"{took:.1f}s after the breach was detected",
            ]
        )

    def _finish_interrupted(self, record: Rollout) -> None:
        self.say(
            f"==> an interrupted promotion of {record.alias} to {record.version} ({record.where()}): "
            f"returning {record.alias} to {record.start.describe()}"
        )
        self.store.write(record.at(record.step, "rollback"))
        self.stack.apply({record.alias: record.start})
        self.store.clear()
        self.say(f"==> {record.alias} is back on {record.start.describe()} (config and cluster)")
