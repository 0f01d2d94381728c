"""Build contexts: same inputs, same bytes and key; any input change, a new key."""

from __future__ import annotations

import hashlib
import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.errors import ConfigError
from components.image import BuildContext, fetch, prepare_context
from components.plan import build_plan
from components.settings import UrlSource, settings_from_config
from tests.harness import base_config, git, make_project


def _contexts(project: Path, build_root: Path, config: dict[str, Any] | None = None) -> dict[str, BuildContext]:
    settings = settings_from_config(config or base_config(), "test")
    plan = build_plan(settings, project)
    return {
        f"{v}/{image.key}": prepare_context(build_root, plan.repository, plan.code_directory, version, image)
        for v, version in plan.versions.items()
        for image in version.images
    }


def _tree_bytes(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(directory)): (
            p.read_bytes() if p.is_file() else b"",
            p.stat().st_mode,
            int(p.stat().st_mtime),
        )
        for p in sorted(directory.rglob("*"))
    }


def test_same_inputs_give_the_same_context_bytes(tmp_path: Path) -> None:
    one, two = make_project(tmp_path / "a"), make_project(tmp_path / "b")
    first = _contexts(one, tmp_path / "build-a")
    second = _contexts(two, tmp_path / "build-b")
    assert {k: c.key for k, c in first.items()} == {k: c.key for k, c in second.items()}
    for key, context in first.items():
        assert _tree_bytes(context.directory) == _tree_bytes(second[key].directory)


def test_context_holds_code_files_and_dockerfile(project_dir: Path, tmp_path: Path) -> None:
    contexts = _contexts(project_dir, tmp_path)
    predict = next(c for k, c in contexts.items() if k.startswith("20181002.0/python-3-11-") and "slim" not in k)
    directory = predict.directory
    assert (directory / "files" / "model.json").read_bytes() == (project_dir / "models" / "digits-v1.json").read_bytes()
    assert (directory / "repository" / "predict_wsgi.py").is_file()
    assert (directory / "serve" / "vh_wsgi.py").is_file()
    dockerfile = (directory / "Dockerfile").read_text()
    assert dockerfile.startswith("FROM python:3.11\n")
    assert "python -m pip install -r requirements-deployment.txt" in dockerfile
    assert "USER 10001:10001" in dockerfile
    greet = next(c for k, c in contexts.items() if k.startswith("20181002.0/") and "slim" in k)
    assert not (greet.directory / "serve").exists()


def test_a_new_commit_that_leaves_the_code_directory_alone_keeps_the_key(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    before = {k: c.key for k, c in _contexts(project, tmp_path / "build").items()}
    git(project / "code", "commit", "-q", "--allow-empty", "-m", "nothing")
    assert {k: c.key for k, c in _contexts(project, tmp_path / "build").items()} == before
    (project / "code" / "greet.py").write_text("print('changed')\n")
    git(project / "code", "commit", "-qam", "change code")
    after = {k: c.key for k, c in _contexts(project, tmp_path / "build").items()}
    assert all(after[k] != before[k] for k in before)


def test_uncommitted_changes_do_not_leak_into_images(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    before = {k: c.key for k, c in _contexts(project, tmp_path / "build").items()}
    (project / "code" / "greet.py").write_text("print('dirty')\n")
    assert {k: c.key for k, c in _contexts(project, tmp_path / "build").items()} == before


def test_existing_context_is_not_rewritten(project_dir: Path, tmp_path: Path) -> None:
    first = _contexts(project_dir, tmp_path)
    marker = next(iter(first.values())).directory / "repository" / "greet.py"
    marker.write_text("touched")
    _contexts(project_dir, tmp_path)
    assert marker.read_text() == "touched"


@pytest.fixture
def https_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, bytes]]:
    """A loopback HTTPS server with a throwaway CA, trusted through SSL_CERT_FILE."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    payload = b"model weights"
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "model.bin").write_bytes(payload)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "www"))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/model.bin", payload
    finally:
        server.shutdown()


def test_url_files_are_fetched_once_and_checked(https_server: tuple[str, bytes], tmp_path: Path) -> None:
    url, payload = https_server
    good = UrlSource(url=url, sha256=hashlib.sha256(payload).hexdigest())
    path = fetch(good, tmp_path / "downloads")
    assert path.read_bytes() == payload
    with pytest.raises(ConfigError, match=r"has sha256 .* but config says"):
        fetch(UrlSource(url=url, sha256="0" * 64), tmp_path / "downloads")
    assert sorted(p.name for p in (tmp_path / "downloads").iterdir()) == [good.sha256]
