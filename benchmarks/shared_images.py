"""A second region's first `pulumi up`, with its images already in the shared registry and without.

Stack A (the first region) deploys the local example and pushes its images. Then, each starting
like a fresh CI machine (the images A built removed from the local Docker, base images kept):
- stack B pushes to A's registry repository: its images are found there by tag (version and
  content hash) and their digests read, nothing is built;
- stack C pushes to a repository of its own: every image is built and pushed.
Prints both first `up` times and how many images each built. Needs scripts/setup.

    python benchmarks/shared_images.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.local_stack import REGISTRY, LocalStack, docker, missing_tools, tool_environment  # noqa: E402

REUSED = "in the registry already"


def forget_built_images(repository: str) -> None:
    """Remove the images built for `repository` from the local Docker, as a new CI machine lacks them."""
    images = docker("images", "--format", "{{.Repository}}:{{.Tag}}", f"{REGISTRY}/{repository}").split()
    if images:
        docker("image", "rm", "--force", *images)


def first_up(stack: LocalStack) -> tuple[float, str]:
    start = time.perf_counter()
    output = stack.pulumi("up", "--yes").stdout
    return time.perf_counter() - start, output


def main() -> None:
    missing = missing_tools(tool_environment())
    if missing:
        sys.exit(f"missing {missing}: run scripts/setup first")
    with tempfile.TemporaryDirectory() as tmp:
        stacks: list[LocalStack] = []
        try:
            first = LocalStack.create(Path(tmp) / "a")
            stacks.append(first)
            first.pulumi("up", "--yes")
            images = len([r for r in first.resources() if r["type"] == "docker:index/image:Image"])

            forget_built_images(first.registry_path)
            shared = LocalStack.create(Path(tmp) / "b", config={"registry": f"{REGISTRY}/{first.registry_path}"})
            stacks.append(shared)
            with_reuse, shared_output = first_up(shared)

            forget_built_images(first.registry_path)
            separate = LocalStack.create(Path(tmp) / "c")
            stacks.append(separate)
            without_reuse, separate_output = first_up(separate)
        finally:
            for stack in stacks:
                stack.pulumi("destroy", "--yes", check=False)
                stack.teardown()

    print(f"the local example: {images} images")
    print(
        f"second region's first up, images in the shared registry: {with_reuse:.1f} s "
        f"({shared_output.count(REUSED)} of {images} reused)"
    )
    print(
        f"second region's first up, a registry of its own:         {without_reuse:.1f} s "
        f"({separate_output.count(REUSED)} of {images} reused)"
    )


if __name__ == "__main__":
    main()
