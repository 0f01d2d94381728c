from collections.abc import Iterator
from pathlib import Path

import pytest

from components.rendering import build_context as image
from tests.harness import make_project


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One example project per session; tests that change it make their own."""
    return make_project(tmp_path_factory.mktemp("example"))


@pytest.fixture(autouse=True)
def no_local_base_digests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The fast tier must not depend on which images the machine's docker holds."""
    monkeypatch.setattr(image, "base_image_digest", lambda reference: None)
    yield
