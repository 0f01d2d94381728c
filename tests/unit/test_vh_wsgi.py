"""The wsgi shim: Flask-style apps route under both the version and the alias prefix."""

from __future__ import annotations

from typing import Any

from components.serve.vh_wsgi import prefix_of, with_prefix

DEFAULT = "/acme/mnist/prod/20181002.0/predict-digit"


def _echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [f"{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode()]


def _call(path: str, header: str | None = None) -> str:
    environ: dict[str, Any] = {"PATH_INFO": path, "SCRIPT_NAME": ""}
    if header:
        environ["HTTP_X_VH_PREFIX"] = header
    return b"".join(with_prefix(_echo, DEFAULT)(environ, lambda *a: None)).decode()


def test_header_prefix_moves_to_script_name() -> None:
    assert (
        _call("/acme/mnist/prod/production/predict-digit/health", "/acme/mnist/prod/production/predict-digit")
        == "/acme/mnist/prod/production/predict-digit|/health"
    )


def test_without_header_the_prefix_is_read_from_the_path() -> None:
    assert _call("/acme/mnist/prod/staging/predict-digit/") == "/acme/mnist/prod/staging/predict-digit|/"
    assert _call("/acme/mnist/prod/20181002.0/predict-digit") == "/acme/mnist/prod/20181002.0/predict-digit|"


def test_foreign_paths_are_left_alone() -> None:
    assert _call("/health") == "|/health"
    assert prefix_of("/other/mnist/prod/x/predict-digit", None, DEFAULT) == ""
