"""Build contexts: same inputs, same bytes and key; any input change, a new key."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.inputs.config_sections import UrlSource
from components.inputs.errors import ConfigError
from components.inputs.plan import build_plan
from components.inputs.settings import settings_from_config
from components.rendering import build_context as image
from components.rendering.build_context import BuildContext, fetch, prepare_context
from components.rendering.build_context import base_image_digest as real_base_image_digest
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
    (tmp_path / "www" / "big.bin").write_bytes(b"x" * 4096)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args, directory=str(tmp_path / "www"))

        def do_GET(self) -> None:
            # /redirect/<url>: a redirect to <url>, as a mirror or a moved file answers.
            if self.path.startswith("/redirect/"):
                self.send_response(302)
                self.send_header("Location", self.path.removeprefix("/redirect/"))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    handler = Handler
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


def test_url_files_follow_https_redirects_only(https_server: tuple[str, bytes], tmp_path: Path) -> None:
    url, payload = https_server
    origin = url.removesuffix("/model.bin")
    digest = hashlib.sha256(payload).hexdigest()
    assert fetch(UrlSource(url=f"{origin}/redirect/{url}", sha256=digest), tmp_path / "a").read_bytes() == payload
    downgrade = url.replace("https://", "http://")
    with pytest.raises(ConfigError) as caught:
        fetch(UrlSource(url=f"{origin}/redirect/{downgrade}", sha256=digest), tmp_path / "b")
    assert caught.value.problems == [
        f"files: cannot download {origin}/redirect/{downgrade}: <urlopen error redirected to {downgrade!r}, "
        "which is not https; give the final https URL>"
    ]
    assert not list((tmp_path / "b").iterdir())


def test_url_files_have_a_size_cap(
    https_server: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = https_server
    monkeypatch.setattr(image, "MAX_DOWNLOAD", 1000)
    big = url.replace("model.bin", "big.bin")
    with pytest.raises(ConfigError) as caught:
        fetch(UrlSource(url=big, sha256="0" * 64), tmp_path / "downloads")
    assert caught.value.problems == [f"files: {big} is larger than 1000 bytes, the most a URL file may be"]
    assert not list((tmp_path / "downloads").iterdir())


def test_context_bytes_do_not_depend_on_the_umask(tmp_path: Path) -> None:
    """Two machines, one with umask 002 and one with 022, write the same context bytes and modes."""
    results = []
    for umask in (0o002, 0o022, 0o077):
        before = os.umask(umask)
        try:
            project = make_project(tmp_path / f"umask-{umask:o}")
            contexts = _contexts(project, tmp_path / f"build-{umask:o}")
        finally:
            os.umask(before)
        results.append(({k: c.key for k, c in contexts.items()}, [_tree_bytes(c.directory) for c in contexts.values()]))
    assert results[0] == results[1] == results[2]
    modes = {mode & 0o777 for tree in results[0][1] for _, mode, _ in tree.values()}
    assert modes <= {0o644, 0o755}, sorted(oct(m) for m in modes)


def test_existing_contexts_get_normalized_modes(project_dir: Path, tmp_path: Path) -> None:
    context = next(iter(_contexts(project_dir, tmp_path).values()))
    (context.directory / "Dockerfile").chmod(0o664)
    _contexts(project_dir, tmp_path)
    assert (context.directory / "Dockerfile").stat().st_mode & 0o777 == 0o644


def test_a_base_image_digest_pins_from_and_is_part_of_the_content_key(
    project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unpinned = _contexts(project_dir, tmp_path / "a")
    digest = "sha256:" + "1" * 64
    monkeypatch.setattr(image, "base_image_digest", lambda ref: digest if ref == "python:3.11" else None)
    pinned = _contexts(project_dir, tmp_path / "b")
    for key, context in pinned.items():
        text = context.dockerfile.read_text()
        if "slim" in key:
            assert text.startswith("FROM python:3.11-slim\n") and context.key == unpinned[key].key
        else:
            assert text.startswith(f"FROM python:3.11@{digest}\n") and context.key != unpinned[key].key
    moved = "sha256:" + "2" * 64
    monkeypatch.setattr(image, "base_image_digest", lambda ref: moved if ref == "python:3.11" else None)
    again = _contexts(project_dir, tmp_path / "c")
    assert all(again[k].key != pinned[k].key for k in again if "slim" not in k)


def _fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_digests: list[str] | None) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = "#!/bin/sh\n" + (
        f"echo '{json.dumps(repo_digests)}'\n" if repo_digests is not None else "echo 'No such image' >&2; exit 1\n"
    )
    (bin_dir / "docker").write_text(script)
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    real_base_image_digest.cache_clear()


@pytest.mark.parametrize(
    ("reference", "repo_digests", "expected"),
    [
        ("python:3.11", ["python@sha256:" + "a" * 64], "sha256:" + "a" * 64),
        ("docker.io/library/python:3.11", ["python@sha256:" + "a" * 64], "sha256:" + "a" * 64),
        (
            "us-central1-docker.pkg.dev/acme-ml/base/python:3.11",
            ["other/python@sha256:" + "b" * 64, "us-central1-docker.pkg.dev/acme-ml/base/python@sha256:" + "c" * 64],
            "sha256:" + "c" * 64,
        ),
        # `docker import`ed or locally built: no repo digest, the name alone is used.
        ("python:3.11", [], None),
        ("python:3.11", None, None),
        ("python:3.11@sha256:" + "d" * 64, None, "sha256:" + "d" * 64),
    ],
    ids=["hub", "hub-long-name", "dashed-registry", "imported", "absent", "already-pinned"],
)
def test_base_image_digest_comes_from_docker(
    reference: str,
    repo_digests: list[str] | None,
    expected: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_docker(tmp_path, monkeypatch, repo_digests)
    try:
        assert real_base_image_digest(reference) == expected
    finally:
        real_base_image_digest.cache_clear()
