"""The command line: argument parsing, version names, file and alias arguments, requests, stack config."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.cli import build_parser, main
from components.cli.alias import parse_targets, with_mirror
from components.cli.version import default_name, missing_files, parse_file_arg
from components.inputs.aliases import AliasTarget, Mirror, describe
from components.inputs.valohai_config import parse_valohai_yaml
from components.previews.markdown import MARKER
from components.stacks.endpoint_calls import (
    Target,
    build_request,
    endpoint_url,
    format_body,
    resolve_url,
    send,
    with_origin,
)
from components.stacks.errors import ToolError
from components.stacks.stack_config import SECRET_PLACEHOLDER, StackConfig, _with_placeholders, validate
from tests.harness import ROOT, base_config

V1, V2 = "20181002.0", "20181003.0"
SHA = "ab" * 32


# --- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["lint"],
        ["version", "create"],
        ["alias", "set"],
        ["alias", "list"],
        ["preview-summary"],
        ["call"],
        ["status"],
        ["logs"],
        ["console"],
    ],
)
def test_every_subcommand_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*argv, "--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m components" in capsys.readouterr().out


def test_version_create_arguments_repeat() -> None:
    args = build_parser().parse_args(
        [
            "version",
            "create",
            "--stack",
            "americas",
            "--endpoint",
            "greet-me",
            "--endpoint",
            "predict-digit",
            "--file",
            "predict-digit.model=m.json",
            "--env",
            "A=1",
            "--env",
            "B=x=y",
            "--alias",
            "staging",
        ]
    )
    assert (args.stack, args.name, args.commit, args.alias) == ("americas", None, "HEAD", "staging")
    assert args.endpoint == ["greet-me", "predict-digit"]
    assert args.file == ["predict-digit.model=m.json"]
    assert args.env == ["A=1", "B=x=y"]


def test_commands_need_a_stack(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["alias", "set", "production", V1])
    assert exit_info.value.code == 2
    assert "--stack" in capsys.readouterr().err


def test_call_arguments() -> None:
    args = build_parser().parse_args(
        ["call", "--stack", "local", "production", "greet-me", "hello", "--query", "name=Ada", "--url", "http://x:1"]
    )
    assert (args.route, args.endpoint, args.path, args.query, args.url) == (
        "production",
        "greet-me",
        "hello",
        ["name=Ada"],
        "http://x:1",
    )


def test_cli_errors_print_one_line_per_problem_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["call", "--stack", "local", "production", "greet-me", "--url", "ftp://x"]) == 1
    assert capsys.readouterr().err == "error: --url 'ftp://x': must start with http:// or https://\n"


# --- version create ----------------------------------------------------------------------------------


TODAY = datetime.date(2018, 10, 4)


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "20181004.0"),
        ([V1, V2], "20181004.0"),
        (["20181004.0"], "20181004.1"),
        (["20181004.0", "20181004.7", "20181004.x", "20181004.3"], "20181004.8"),
        (["20181004.0-rc"], "20181004.0"),
    ],
)
def test_version_name_is_today_and_the_next_free_number(existing: list[str], expected: str) -> None:
    assert default_name(existing, TODAY) == expected


def test_file_argument_as_a_path_relative_to_the_project(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    parsed = parse_file_arg("predict-digit.model=m.json", ["predict-digit"], tmp_path / "models", tmp_path)
    assert (parsed.endpoint, parsed.name, parsed.source) == ("predict-digit", "model", "models/m.json")
    outside = parse_file_arg("e.f=../x.json", [], tmp_path, tmp_path / "sub")
    assert outside.source == str((tmp_path.parent / "x.json").resolve())


def test_file_argument_as_a_pinned_url() -> None:
    parsed = parse_file_arg(f"predict-digit.model=https://models.example.com/m.json#sha256={SHA.upper()}")
    assert parsed.source == {"url": "https://models.example.com/m.json", "sha256": SHA}


def test_file_argument_matches_endpoint_names_holding_dots() -> None:
    parsed = parse_file_arg("predict.v2.weights.bin=w.bin", ["predict.v2", "predict"])
    assert (parsed.endpoint, parsed.name) == ("predict.v2", "weights.bin")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model.json", "expected ENDPOINT.FILE=SOURCE"),
        ("model=m.json", "name the endpoint and its file"),
        ("e.model=", "give a path or https://"),
        ("e.model=http://x/m.json#sha256=" + SHA, "must be https://"),
        ("e.model=https://x/m.json", "#sha256=<64 hex digits>"),
        ("e.model=https://x/m.json#sha256=abc", "#sha256=<64 hex digits>"),
    ],
)
def test_bad_file_arguments_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        parse_file_arg(text)


def test_missing_files_are_listed_together_with_the_flag_to_add() -> None:
    valohai = parse_valohai_yaml((ROOT / "example" / "valohai.yaml").read_text(), "valohai.yaml")
    problems = missing_files(valohai.endpoints, None, [], "valohai.yaml@abc")
    assert problems == [
        "the chosen endpoints declare 1 file(s) in valohai.yaml@abc that were not given:",
        "  --file predict-digit.model=SOURCE   (put at model.json; SOURCE is a path or https://...#sha256=...)",
    ]
    assert missing_files(valohai.endpoints, ["greet-me"], [], "valohai.yaml@abc") == []


# --- aliases ---------------------------------------------------------------------------------------


def test_alias_targets() -> None:
    assert parse_targets([V1]) == V1
    assert parse_targets([f"{V1}=100"]) == V1
    assert parse_targets([f"{V1}=90", f"{V2}=10"]) == {V1: 90, V2: 10}
    # Weights are the program's business: it refuses them with its own messages.
    assert parse_targets([f"{V1}=90", f"{V2}=20"]) == {V1: 90, V2: 20}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([f"{V1}=50"], "a single version takes all traffic"),
        ([V1, f"{V2}=10"], "needs a weight"),
        ([f"{V1}=ninety", f"{V2}=10"], "must be a whole number"),
        ([f"{V1}=50", f"{V1}=50"], "named twice"),
    ],
)
def test_bad_alias_targets(items: list[str], message: str) -> None:
    with pytest.raises(ToolError, match=message):
        parse_targets(items)


def test_mirror_makes_the_versions_form() -> None:
    assert with_mirror(V1, None) == V1
    assert with_mirror(V1, f"{V2}=10") == {"versions": {V1: 100}, "mirror": {"version": V2, "percent": 10}}
    assert with_mirror({V1: 90, V2: 10}, f"{V2}=5")["versions"] == {V1: 90, V2: 10}
    with pytest.raises(ToolError, match="expected VERSION=PERCENT"):
        with_mirror(V1, V2)


def test_alias_forms_read_alike() -> None:
    assert describe(V1) == V1
    assert describe({V2: 10, V1: 90}) == f"{V1} 90% / {V2} 10%"
    mirrored = {"versions": {V1: 100}, "mirror": {"version": V2, "percent": 5}}
    assert describe(mirrored) == f"{V1} + mirror {V2} 5%"
    assert AliasTarget.of(mirrored) == AliasTarget({V1: 100}, Mirror(V2, 5))
    assert describe(None) == "(none)"


# --- stack config ----------------------------------------------------------------------------------


def test_secrets_become_placeholders_and_keep_their_shape() -> None:
    value = {"alice": {"secure": "v1:abc"}, "bob": {"secure": "v1:def"}}
    assert _with_placeholders(value) == {"alice": SECRET_PLACEHOLDER, "bob": SECRET_PLACEHOLDER}
    assert _with_placeholders({"username": "u", "password": {"secure": "x"}}) == {
        "username": "u",
        "password": SECRET_PLACEHOLDER,
    }


def _config(project_dir: Path, **overrides: Any) -> StackConfig:
    values = base_config(basicAuth={"alice": SECRET_PLACEHOLDER}, **overrides)
    return StackConfig(project_dir, "test", "valohai-deployments", values, frozenset({"basicAuth"}))


def test_validation_runs_the_program_checks_with_placeholder_secrets(project_dir: Path) -> None:
    config = _config(project_dir)
    plan = validate(config, config.values)
    assert set(plan.versions) == {V1, V2}
    with pytest.raises(ToolError) as err:
        validate(config, config.values | {"aliases": {"production": {V1: 90, V2: 20}}})
    assert err.value.problems == [
        "the change was not written: the program would refuse this config (1 problem(s)):",
        "  config: aliases.production: weights must sum to 100 (got 110)",
    ]


def test_secret_keys_are_never_rewritten(project_dir: Path) -> None:
    config = _config(project_dir)
    assert config.rewritable("aliases") == {"production": V1, "staging": V2}
    config.secret_keys = frozenset({"aliases"})
    with pytest.raises(ToolError, match="holds a secret value"):
        config.rewritable("aliases")


# --- call ------------------------------------------------------------------------------------------


def test_urls() -> None:
    base = "http://models.localhost/acme/mnist/local/production/greet-me/"
    assert endpoint_url(base, "hello", [("name", "Ada Lovelace")]) == base + "hello?name=Ada+Lovelace"
    assert endpoint_url(base, "", []) == base
    assert with_origin(base, "http://127.0.0.1:8080") == "http://127.0.0.1:8080/acme/mnist/local/production/greet-me/"
    with pytest.raises(ToolError, match="give scheme and host"):
        with_origin(base, "127.0.0.1:8080")


def test_request_bodies(tmp_path: Path) -> None:
    image = tmp_path / "digit.png"
    image.write_bytes(b"\x89PNG-bytes")
    upload = build_request("http://h/", fields=["note=hi"], files=[f"image=@{image}"])
    assert upload.method == "POST"
    assert upload.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert upload.body is not None
    assert b'name="image"; filename="digit.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG-bytes\r\n' in upload.body
    assert b'name="note"\r\n\r\nhi\r\n' in upload.body
    form = build_request("http://h/", fields=["name=Grace Hopper"], method="put")
    assert (form.method, form.body) == ("PUT", b"name=Grace+Hopper")
    as_json = build_request("http://h/", json_body='{"a": 1}', credentials=("alice", "pw"))
    assert as_json.headers["Content-Type"] == "application/json"
    assert as_json.headers["Authorization"] == "Basic YWxpY2U6cHc="
    assert build_request("http://h/").method == "GET"
    with pytest.raises(ToolError, match="not valid JSON"):
        build_request("http://h/", json_body="{a: 1}")
    with pytest.raises(ToolError, match="is not a file"):
        build_request("http://h/", files=["image=@/nonexistent.png"])


def test_json_bodies_are_pretty_printed() -> None:
    assert format_body("application/json", b'{"digit":3}') == '{\n  "digit": 3\n}'
    assert format_body("text/plain", b"ok") == "ok"
    assert format_body("image/png", b"\x89\xff") == "(2 bytes of image/png)"


def test_call_urls_come_from_outputs_or_from_config_and_base(project_dir: Path) -> None:
    config = _config(project_dir)
    url = "http://models.example.com/acme/mnist/test/production/greet-me/"
    outputs = {"aliasUrls": {"production": {"greet-me": url}}}
    assert resolve_url(config, outputs, "production", "greet-me", None) == Target(url)
    # Through the router's address, the request still names the stack's host (routes match on it).
    assert resolve_url(config, outputs, "production", "greet-me", "http://127.0.0.1:9") == Target(
        "http://127.0.0.1:9/acme/mnist/test/production/greet-me/", "models.example.com"
    )
    assert resolve_url(config, {}, V1, "predict-digit", "http://127.0.0.1:9") == Target(
        f"http://127.0.0.1:9/acme/mnist/test/{V1}/predict-digit/", config.values.get("host")
    )
    local = "http://models.localhost:8080/acme/mnist/local/production/greet-me/"
    assert resolve_url(config, {"aliasUrls": {"production": {"greet-me": local}}}, "production", "greet-me", None) == (
        Target("http://127.0.0.1:8080/acme/mnist/local/production/greet-me/", "models.localhost:8080")
    )
    with pytest.raises(ToolError, match="neither an alias nor a version of stack 'test'; aliases: production, staging"):
        resolve_url(config, outputs, "prod", "greet-me", None)
    with pytest.raises(ToolError, match="serves no endpoint 'greet'; its endpoints: greet-me"):
        resolve_url(config, outputs, "production", "greet", None)
    with pytest.raises(ToolError, match="serves no endpoint 'greet'; its endpoints: greet-me, predict-digit"):
        resolve_url(config, {}, V1, "greet", "http://127.0.0.1:9")
    with pytest.raises(ToolError, match="not deployed yet"):
        resolve_url(config, {}, V1, "greet-me", None)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Basic YWxpY2U6cHc=":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="acme/mnist"')
            self.end_headers()
            return
        body = json.dumps({"path": self.path, "host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_send_returns_http_errors_as_responses(server: str) -> None:
    status, _, headers, _, _ = send(build_request(f"{server}/x/", credentials=("alice", "wrong")))
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="acme/mnist"'
    status, _, _, body, _ = send(build_request(f"{server}/x/?q=1", credentials=("alice", "pw")))
    assert (status, json.loads(body)["path"]) == (200, "/x/?q=1")
    status, _, _, body, _ = send(build_request(f"{server}/h/", credentials=("alice", "pw"), host="models.localhost"))
    assert json.loads(body)["host"] == "models.localhost"


class _Redirecting(BaseHTTPRequestHandler):
    """`/to/<url>` redirects to <url>; every request's path and Authorization header is recorded."""

    seen: ClassVar[list[tuple[int, str, str | None]]] = []

    def do_GET(self) -> None:
        port = self.connection.getsockname()[1]
        _Redirecting.seen.append((port, self.path, self.headers.get("Authorization")))
        if self.path.startswith("/to/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/to/"))
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def two_origins() -> Iterator[tuple[str, str]]:
    servers = [HTTPServer(("127.0.0.1", 0), _Redirecting) for _ in range(2)]
    for httpd in servers:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _Redirecting.seen = []
    yield f"http://127.0.0.1:{servers[0].server_address[1]}", f"http://127.0.0.1:{servers[1].server_address[1]}"
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_call_never_sends_credentials_to_another_origin(two_origins: tuple[str, str]) -> None:
    mine, other = two_origins
    port = int(mine.rsplit(":", 1)[1])
    status, _, headers, _, _ = send(build_request(f"{mine}/to/{other}/steal", credentials=("alice", "pw")))
    assert status == 302 and headers["Location"] == f"{other}/steal"
    assert _Redirecting.seen == [(port, f"/to/{other}/steal", "Basic YWxpY2U6cHc=")]
    # The same origin (a relative Location, or the same scheme, host and port) is followed.
    status, _, _, body, _ = send(build_request(f"{mine}/to//here", credentials=("alice", "pw")))
    assert (status, body) == (200, b"ok")
    assert _Redirecting.seen[-1] == (port, "/here", "Basic YWxpY2U6cHc=")


def test_a_refused_connection_says_what_to_check(server: str) -> None:
    with pytest.raises(ToolError, match=r"connection refused by 127\.0\.0\.1:1: nothing listens there"):
        send(build_request("http://127.0.0.1:1/"))


# --- workflows -------------------------------------------------------------------------------------


def _workflow(name: str) -> dict[Any, Any]:
    return dict(yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text()))


def test_workflows_cover_every_deploy_target_and_find_their_comments() -> None:
    targets = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml") if p.name != "Pulumi.local.yaml")
    preview = _workflow("preview.yml")["jobs"]["preview"]
    deploy = _workflow("deploy.yml")["jobs"]["up"]
    assert sorted(m["stack"] for m in preview["strategy"]["matrix"]["include"]) == targets
    assert sorted(m["stack"] for m in deploy["strategy"]["matrix"]["include"]) == targets
    # Every deploy waits in a GitHub environment (required reviewers = the manual approval).
    assert deploy["environment"] == "${{ matrix.environment }}"
    assert all(m["environment"].startswith("production-") for m in deploy["strategy"]["matrix"]["include"])
    script = next(s for s in preview["steps"] if s.get("uses", "").startswith("actions/github-script"))["with"][
        "script"
    ]
    assert MARKER.format(stack="${process.env.STACK}") in script


# --- bad input: one line and a non-zero exit, never a traceback --------------------------------------


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "components", *args], cwd=cwd, capture_output=True, text=True, check=False, env=env
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["lint", "binary.bin"], "binary.bin: not a text file (not UTF-8 at offset 0); give a valohai.yaml"),
        (["lint", "missing.yaml"], "missing.yaml: cannot read: No such file or directory"),
        (["lint", "."], ".: cannot read: Is a directory"),
        (["preview-summary", "missing.json"], "error: preview-summary: missing: cannot read missing.json: No such"),
        (["preview-summary", "log.txt"], "error: preview-summary: log: log.txt is not pulumi preview --json output"),
        (["preview-summary", "binary.bin"], "error: preview-summary: binary: binary.bin is not text; give the"),
        (["preview-summary", "--limit", "10", "log.txt"], "error: --limit 10: give at least 1000 characters"),
        (["alias", "list", "--stack", "s"], "error: no Pulumi.yaml in "),
        (["version", "create", "--stack", "s"], "error: no Pulumi.yaml in "),
        (["call", "--stack", "s", "production", "greet"], "error: no Pulumi.yaml in "),
        (["call", "--stack", "s", "--url", "ftp://x", "production", "greet"], "error: --url 'ftp://x': must start"),
        (["alias", "set"], "error: python -m components alias set: the following arguments are required: --stack"),
        (["preview-summary", "--limit", "x"], "error: python -m components preview-summary: argument --limit"),
    ],
)
def test_every_tool_answers_bad_input_with_one_line(tmp_path: Path, argv: list[str], expected: str) -> None:
    (tmp_path / "binary.bin").write_bytes(b"\x89\xff\x00PNG")
    (tmp_path / "log.txt").write_text("error: no stack named 'europe' found\n")
    result = _cli(tmp_path, *argv)
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("==> ")]
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr


def test_preview_summary_still_writes_the_comment_for_an_unreadable_preview(tmp_path: Path) -> None:
    (tmp_path / "europe.json").write_text("error: no stack named 'europe' found\n")
    result = _cli(tmp_path, "preview-summary", "europe.json", "--output", "summary.md")
    assert result.returncode == 1
    assert "is not `pulumi preview --json` output" in (tmp_path / "summary.md").read_text()


@settings(max_examples=300, deadline=None)
@given(
    targets=st.lists(st.text(max_size=12), min_size=1, max_size=3),
    mirror=st.one_of(st.none(), st.text(max_size=12)),
    file_arg=st.text(max_size=30),
)
def test_argument_parsers_answer_any_text_with_a_value_or_one_tool_error(
    targets: list[str], mirror: str | None, file_arg: str
) -> None:
    """What a user types after `alias set` and `version create --file` is parsed or refused, nothing else."""
    for parse in (
        lambda: with_mirror(parse_targets(targets), mirror),
        lambda: parse_file_arg(file_arg, ["predict-digit"]),
    ):
        try:
            parse()
        except ToolError as err:
            assert err.problems and all("\n" not in p for p in err.problems)
