"""Evaluate the program under Pulumi mocks for V versions x E endpoints; compare with a bare loop.

Prints seconds per declared resource for both, and their ratio: the cost of our components,
validation, planning and build-context checks over declaring the same resources directly. Then the
program as a targeted update of one alias runs it (stacks/targets.py: the declaration names that
alias only), whose time should not grow with V x E.

    python benchmarks/mock_program.py [--versions 50] [--endpoints 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pulumi  # noqa: E402
import pulumi_docker as docker  # noqa: E402
import pulumi_kubernetes as k8s  # noqa: E402

from components.inputs.aliases import AliasTarget  # noqa: E402
from components.inputs.declaration import ENVIRONMENT  # noqa: E402
from components.stacks.targets import targeted_update, update_environment  # noqa: E402
from tests.harness import PROJECT, Recorder, Run, base_config, git, run_program  # noqa: E402


def make_repository(tmp: Path, endpoints: int) -> Path:
    project = tmp / "project"
    code = project / "code"
    code.mkdir(parents=True)
    items = [
        f"- endpoint:\n    name: ep-{i}\n    image: python:3.11\n    wsgi: app:application\n"
        f"    files: [{{name: model, path: models/ep-{i}.bin}}]\n"
        for i in range(endpoints)
    ]
    (code / "valohai.yaml").write_text("".join(items))
    (code / "app.py").write_text("def application(environ, start_response): ...\n")
    git(code, "init", "-q", "-b", "main")
    git(code, "add", "-A")
    git(code, "commit", "-q", "-m", "bench")
    (project / "model.bin").write_bytes(b"weights" * 1000)
    return project


def config(versions: int, endpoints: int) -> dict[str, Any]:
    names = [f"2018{i:04d}.0" for i in range(versions)]
    files = {f"ep-{i}": {"model": "model.bin"} for i in range(endpoints)}
    return base_config(
        versions={name: {"files": files} for name in names},
        aliases={"production": names[0], "staging": {names[1]: 90, names[2]: 10}},
        basicAuth={"alice": "wonderland"},
    )


def bare_loop(versions: int, endpoints: int) -> Run:
    """The same resource types and counts, declared directly with minimal inputs."""
    run = Run()
    pulumi.runtime.set_mocks(Recorder(run), project="bench", stack="bench", preview=False)

    def program() -> None:
        provider = k8s.Provider("k8s", kubeconfig="k")
        opts = pulumi.ResourceOptions(provider=provider)
        k8s.core.v1.Namespace("ns", metadata={"name": "ns"}, opts=opts)
        k8s.core.v1.Secret("auth", metadata={"name": "auth"}, string_data={"auth": "x"}, opts=opts)
        for v in range(versions):
            docker.Image(f"v{v}-image", image_name=f"r/x:v{v}", build={"context": "."}, build_on_preview=False)
            for e in range(endpoints):
                labels = {"app": f"e{e}-v{v}"}
                container = {"name": "c", "image": "r/x", "ports": [{"containerPort": 8000, "name": "http"}]}
                template = {"metadata": {"labels": labels}, "spec": {"containers": [container]}}
                k8s.apps.v1.Deployment(
                    f"v{v}-e{e}-deployment",
                    metadata={"name": f"e{e}-v{v}"},
                    spec={"selector": {"matchLabels": labels}, "template": template},
                    opts=opts,
                )
                k8s.core.v1.Service(
                    f"v{v}-e{e}-service",
                    metadata={"name": f"e{e}-v{v}"},
                    spec={"selector": labels, "ports": [{"port": 80}]},
                    opts=opts,
                )
                k8s.autoscaling.v2.HorizontalPodAutoscaler(
                    f"v{v}-e{e}-hpa",
                    metadata={"name": f"e{e}-v{v}"},
                    spec={
                        "scaleTargetRef": {"kind": "Deployment", "name": f"e{e}-v{v}", "apiVersion": "apps/v1"},
                        "maxReplicas": 3,
                    },
                    opts=opts,
                )
            k8s.networking.v1.Ingress(f"v{v}-ingress", metadata={"name": f"v{v}"}, spec={"rules": []}, opts=opts)
        for alias in ("production", "staging", "staging-canary"):
            k8s.networking.v1.Ingress(alias, metadata={"name": alias}, spec={"rules": []}, opts=opts)

    pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        project = make_repository(Path(tmp), args.endpoints)
        settings = config(args.versions, args.endpoints)
        start = time.perf_counter()
        first = run_program(settings, project)
        cold = time.perf_counter() - start
        ours, bare = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            run = run_program(settings, project)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            loop = bare_loop(args.versions, args.endpoints)
            bare.append(time.perf_counter() - start)
        moves = {"production": AliasTarget.of(settings["aliases"]["production"])}
        update = targeted_update("test", PROJECT, first.outputs, settings["versions"], aliases=moves)
        assert update is not None
        targeted, alias_runs = Run(), []
        with update_environment(update) as environment:
            os.environ[ENVIRONMENT] = environment[ENVIRONMENT]
            try:
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    targeted = run_program(settings, project)
                    alias_runs.append(time.perf_counter() - start)
            finally:
                del os.environ[ENVIRONMENT]

    custom = [r for r in run.resources if not r.typ.startswith("valohai:")]
    components = len(run.resources) - len(custom)
    print(f"versions x endpoints: {args.versions} x {args.endpoints}")
    print(f"program: {len(custom)} resources (+{components} components); bare loop: {len(loop.resources)} resources")
    print(f"program, first run (writes build contexts): {cold:.2f} s")
    t_ours, t_bare = statistics.median(ours), statistics.median(bare)
    per_ours, per_bare = t_ours / len(custom), t_bare / len(loop.resources)
    print(f"program, median of {args.repeat}: {t_ours:.2f} s = {per_ours * 1000:.2f} ms per resource")
    print(f"bare loop, median of {args.repeat}: {t_bare:.2f} s = {per_bare * 1000:.2f} ms per resource")
    print(f"ratio program / bare loop (per resource): {per_ours / per_bare:.2f}")
    print(
        f"program for a targeted update of one alias, median of {args.repeat}: {statistics.median(alias_runs):.2f} s"
        f" ({len(targeted.resources)} resources declared)"
    )
    assert len(first.resources) == len(run.resources)


if __name__ == "__main__":
    main()
