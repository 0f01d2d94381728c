from pathlib import Path

import pytest

from tests.harness import make_project


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One example project per session; tests that change it make their own."""
    return make_project(tmp_path_factory.mktemp("example"))
