"""Every integration test starts from its module's deployed baseline and leaves it so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.local_stack import LocalStack


@pytest.fixture(autouse=True)
def from_the_baseline(request: pytest.FixtureRequest) -> Iterator[None]:
    """For modules with a `stack` fixture: put config, code and cluster back after each test
    (`LocalStack.restore`), so any test runs alone or in any order."""
    if "stack" not in request.fixturenames:
        yield
        return
    stack = request.getfixturevalue("stack")
    assert isinstance(stack, LocalStack)
    baseline = stack.baseline()
    yield
    stack.restore(baseline)
