"""The console in-process (Starlette's TestClient): its guard, forms, error lines, and that no page
ever holds a password. Requests go to a real HTTP server on 127.0.0.1 standing in for the router."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar, cast

import pytest
import yaml
from starlette.testclient import TestClient

from components.cli import build_parser
from components.console.alias_form import AliasForm, alias_set_command
from components.console.app import Console, create_app
from components.console.guard import Allowed
from components.console.observed import Observer, RecentLogs
from components.console.stack_source import StackSource
from components.inputs.config_sections import Console as ConsoleSettings
from components.stacks.errors import ToolError
from components.stacks.stack_config import SECRET_PLACEHOLDER, Pulumi, StackConfig
from tests.harness import DATA, V1, V2, base_config, make_project

PASSWORD = "n0t-for-pages-7Qx"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
# A 1x1 PNG: what an endpoint answering with an image sends.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
HOST = "127.0.0.1:8090"
ORIGIN = f"http://{HOST}"


class _Router(BaseHTTPRequestHandler):
    """What the router and an endpoint answer: 401 without the right credentials, else JSON or an image."""

    seen_auth: ClassVar[list[str | None]] = []

    def _answer(self) -> None:
        _Router.seen_auth.append(self.headers.get("Authorization"))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Authorization") != f"Basic {BASIC}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="acme/mnist"')
            self.end_headers()
            return
        if self.path.split("?")[0].endswith("/img"):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(PNG)
            return
        answer = {
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host"),
            "contentType": self.headers.get("Content-Type"),
            "bodyBytes": len(body),
            "body": body.decode("utf-8", "replace")[:200],
        }
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(answer).encode())

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def router() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), _Router)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _Source(StackSource):
    """A stack whose config, outputs and credentials are given (no Pulumi CLI)."""

    def __init__(self, config: StackConfig, outputs: dict[str, Any], password: str | None = PASSWORD) -> None:
        super().__init__(cast(Pulumi, SimpleNamespace(stack=config.stack, project_dir=config.project_dir)))
        self._config, self._outputs, self._password = config, outputs, password

    def config(self) -> StackConfig:
        return self._config

    def outputs(self) -> dict[str, Any]:
        return self._outputs

    def credentials(self) -> tuple[str, str] | None:
        return ("alice", self._password) if self._password else None


class _Observer(Observer):
    def __init__(self, status: dict[str, Any] | None = None, failure: str | None = None) -> None:
        super().__init__()
        self._status, self._failure = status, failure

    def status(self, source: StackSource) -> tuple[dict[str, Any] | None, list[str]]:
        if self._failure:
            raise ToolError(self._failure)
        return self._status, []

    def logs(self, source: StackSource, route: str, endpoint: str) -> RecentLogs:
        return RecentLogs(route, endpoint, [f"2026-12-05T09:00:00Z {route} {endpoint} ready"], [], ["pod-1"])


def _config(project_dir: Path, stack: str = "test", **overrides: Any) -> StackConfig:
    values = base_config(basicAuth={"alice": SECRET_PLACEHOLDER}, **overrides)
    return StackConfig(project_dir, stack, "valohai-deployments", values, frozenset({"basicAuth"}))


def _outputs(base: str) -> dict[str, Any]:
    prefix = f"{base}/acme/mnist/test"
    return {
        "aliasUrls": {
            "production": {"predict-digit": f"{prefix}/production/predict-digit/"},
            "staging": {"predict-digit": f"{prefix}/staging/predict-digit/"},
        },
        "versionUrls": {
            V1: {"predict-digit": f"{prefix}/{V1}/predict-digit/"},
            V2: {"predict-digit": f"{prefix}/{V2}/predict-digit/"},
        },
    }


def _client(source: StackSource, observer: Observer | None = None) -> TestClient:
    console = Console({source.stack: source}, Allowed.serving("127.0.0.1", 8090), observer or _Observer())
    return TestClient(create_app(console), base_url=ORIGIN, raise_server_exceptions=False)


@pytest.fixture
def client(project_dir: Path, router: str) -> TestClient:
    return _client(_Source(_config(project_dir), _outputs(router)))


def _token(client: TestClient) -> str:
    page = client.get("/stacks/test")
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match, "the page carries the console's token"
    return match.group(1)


def _send(client: TestClient, files: Any = None, token: str | None = None, **fields: str) -> Any:
    data = {"route": "production", "endpoint": "predict-digit", "method": "GET", **fields}
    headers = {"Origin": ORIGIN, "X-CSRF-Token": token if token is not None else _token(client)}
    return client.post("/stacks/test/call", data=data, files=files, headers=headers)


def _error_lines(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", item).strip() for item in re.findall(r"<li>(.*?)</li>", html, re.S)]


# --- the page -------------------------------------------------------------------------------------


def test_the_page_lists_versions_aliases_and_labelled_controls(client: TestClient) -> None:
    page = client.get("/stacks/test")
    assert page.status_code == 200
    for text in (V1, V2, "production", "staging", "acme/mnist"):
        assert text in page.text
    labels = [
        re.sub(r"\s+", " ", re.split(r"<", label, maxsplit=1)[0]).strip()
        for label in re.findall(r"<label[^>]*>(.*?)</label>", page.text, re.S)
    ]
    for label in ("Version or alias", "Endpoint", "Method", "Path", "Query", "Fields", "Files", "Body"):
        assert label in labels
    assert re.search(r"<button type=\"submit\">Send</button>", page.text)
    # The only stack: the index sends there.
    assert client.get("/", follow_redirects=False).headers["location"].endswith("/stacks/test")


def test_the_json_form_holds_what_the_page_shows(client: TestClient) -> None:
    data = client.get("/stacks/test.json").json()
    assert list(data["versions"]) == [V1, V2]
    assert data["aliases"]["production"]["describe"] == V1
    assert data["endpoints"] == ["greet-me", "predict-digit"]
    assert data["allowApply"] is False


def test_an_unreadable_status_is_one_line_on_the_page(project_dir: Path, router: str) -> None:
    source = _Source(_config(project_dir), _outputs(router))
    client = _client(
        source, _Observer(failure="cannot reach the cluster at https://127.0.0.1:6443: connection refused")
    )
    page = client.get("/stacks/test")
    assert page.status_code == 502
    assert _error_lines(page.text) == ["cannot reach the cluster at https://127.0.0.1:6443: connection refused"]
    assert "Traceback" not in page.text


def test_an_unknown_stack_is_one_line(client: TestClient) -> None:
    answer = client.get("/stacks/americas")
    assert (answer.status_code, answer.text) == (404, "no stack 'americas' in this console; stacks: test")


# --- the guard ------------------------------------------------------------------------------------


def test_a_foreign_host_is_refused_on_every_request(client: TestClient) -> None:
    # DNS rebinding: another site's name resolving to this machine.
    answer = client.get("/stacks/test", headers={"Host": "evil.example:8090"})
    assert answer.status_code == 403
    assert answer.text.startswith("refused: Host 'evil.example:8090' is not a name this console serves")
    assert client.get("/stacks/test", headers={"Host": "localhost:8090"}).status_code == 200


def test_a_change_needs_the_token_and_its_own_origin(client: TestClient) -> None:
    token = _token(client)
    data = {"route": "production", "endpoint": "predict-digit"}
    foreign = client.post(
        "/stacks/test/call", data=data, headers={"Origin": "http://evil.example", "X-CSRF-Token": token}
    )
    assert foreign.status_code == 403 and "not this console" in foreign.text
    missing = client.post("/stacks/test/call", data=data, headers={"Origin": ORIGIN})
    assert missing.status_code == 403 and "does not carry the console's token" in missing.text
    wrong = client.post("/stacks/test/call", data=data, headers={"Origin": ORIGIN, "X-CSRF-Token": token + "x"})
    assert wrong.status_code == 403
    # The token may also come as a form field (a page without script).
    as_field = client.post("/stacks/test/call", data=data | {"csrf_token": token}, headers={"Origin": ORIGIN})
    assert as_field.status_code == 200


def test_pages_keep_out_of_frames_and_foreign_scripts(client: TestClient) -> None:
    headers = client.get("/stacks/test").headers
    assert headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"


def test_loopback_names_are_allowed_for_a_loopback_bind_and_extra_names_added() -> None:
    allowed = Allowed.serving("127.0.0.1", 8090, ["console.internal", "proxy:443"])
    assert allowed.hosts == {
        "127.0.0.1:8090",
        "localhost:8090",
        "[::1]:8090",
        "console.internal:8090",
        "proxy:443",
    }
    assert Allowed.serving("10.0.0.5", 80).hosts == {"10.0.0.5:80"}


# --- the request form -----------------------------------------------------------------------------


def test_a_query_goes_through_the_router_with_the_stacks_credentials(client: TestClient) -> None:
    _Router.seen_auth.clear()
    answer = _send(client, path="hello", query="name=Ada Lovelace&x=1")
    assert answer.status_code == 200
    assert _Router.seen_auth == [f"Basic {BASIC}"]
    assert "200 OK" in answer.text and "as user <code>alice</code>" in answer.text
    body = re.search(r'<pre class="body body-json">(.*?)</pre>', answer.text, re.S)
    assert body, answer.text
    shown = body.group(1).replace("&#34;", '"').replace("&quot;", '"')
    # Pretty-printed: one key a line, indented.
    assert '\n  "path": "/acme/mnist/test/production/predict-digit/hello?name=Ada+Lovelace&amp;x=1"' in shown


def test_fields_files_and_a_json_body_are_sent_as_call_sends_them(client: TestClient) -> None:
    token = _token(client)
    as_json = client.post(
        "/stacks/test/call.json",
        data={"route": "production", "endpoint": "predict-digit", "method": "POST", "fields": "name=Ada\nnote=a=b&c"},
        headers={"Origin": ORIGIN, "X-CSRF-Token": token},
    ).json()
    sent = json.loads(as_json["body"])
    assert sent["contentType"] == "application/x-www-form-urlencoded" and sent["body"] == "name=Ada&note=a%3Db%26c"
    upload = client.post(
        "/stacks/test/call.json",
        data={"route": V1, "endpoint": "predict-digit", "method": "POST", "file_field": "image"},
        files={"files": ("digit.png", PNG, "image/png")},
        headers={"Origin": ORIGIN, "X-CSRF-Token": token},
    ).json()
    sent = json.loads(upload["body"])
    assert sent["contentType"].startswith("multipart/form-data") and sent["bodyBytes"] > len(PNG)
    assert 'name="image"; filename="digit.png"' in sent["body"]
    body = client.post(
        "/stacks/test/call.json",
        data={"route": "staging", "endpoint": "predict-digit", "method": "PUT", "body": '{"name": "Ada"}'},
        headers={"Origin": ORIGIN, "X-CSRF-Token": token},
    ).json()
    sent = json.loads(body["body"])
    assert (sent["method"], sent["contentType"], sent["body"]) == ("PUT", "application/json", '{"name": "Ada"}')
    assert (body["request"]["method"], body["request"]["user"]) == ("PUT", "alice")
    assert body["request"]["url"].endswith("/acme/mnist/test/staging/predict-digit/")


def test_an_image_answer_is_shown_as_an_image(client: TestClient) -> None:
    answer = _send(client, path="img")
    encoded = base64.b64encode(PNG).decode()
    assert f'<img src="data:image/png;base64,{encoded}"' in answer.text


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"route": "prod"}, "'prod' is neither an alias nor a version of stack 'test'; aliases: production, staging;"),
        ({"endpoint": "greet"}, "'production' serves no endpoint 'greet'; its endpoints: predict-digit"),
        ({"method": "DELETE"}, "Method 'DELETE': choose one of GET, POST, PUT"),
        ({"query": "name"}, "Query 'name': expected NAME=VALUE"),
        ({"body": "{name"}, "Body: not valid JSON"),
        ({"body": "{}", "fields": "a=b"}, "Body sends a JSON body; it cannot be combined with Fields or Files"),
    ],
)
def test_bad_input_is_one_line_naming_the_control(client: TestClient, fields: dict[str, str], line: str) -> None:
    answer = _send(client, **fields)
    assert answer.status_code == 400
    lines = _error_lines(answer.text)
    assert len(lines) == 1 and lines[0].replace("&#39;", "'").startswith(line), lines


def test_wrong_credentials_and_a_stopped_router_are_clear_lines(project_dir: Path, router: str) -> None:
    wrong = _client(_Source(_config(project_dir), _outputs(router), password="wrong"))
    answer = _send(wrong)
    assert answer.status_code == 200 and "401 Unauthorized" in answer.text
    assert _error_lines(answer.text) == [
        "401 Unauthorized: the endpoint refused user &#39;alice&#39;; check basicAuth.alice "
        "(pulumi config set --secret --path basicAuth.alice ...) and run pulumi up"
    ]
    stopped = _client(_Source(_config(project_dir), _outputs("http://127.0.0.1:1")))
    answer = _send(stopped)
    assert answer.status_code == 400
    (line,) = _error_lines(answer.text)
    assert line.startswith("connection refused by 127.0.0.1:1: nothing listens there")


def test_a_failure_of_the_console_is_one_line_not_a_traceback(project_dir: Path, router: str) -> None:
    class Broken(_Source):
        def outputs(self) -> dict[str, Any]:
            raise RuntimeError("state file\nis corrupt")

    client = _client(Broken(_config(project_dir), {}))
    page = client.get("/stacks/test")
    assert page.status_code == 500
    assert page.text == "the console failed: RuntimeError: state file is corrupt"


def test_no_page_holds_a_password(client: TestClient) -> None:
    token = _token(client)
    answers = [
        client.get("/stacks/test"),
        client.get("/stacks/test.json"),
        client.get("/stacks/test/status"),
        client.get("/stacks/test/logs", params={"route": "production", "endpoint": "predict-digit"}),
        _send(client, token=token, query="a=1"),
        _send(client, token=token, path="img"),
        _send(client, token=token, route="nowhere"),
        client.post(
            "/stacks/test/call.json",
            data={"route": "production", "endpoint": "predict-digit"},
            headers={"Origin": ORIGIN, "X-CSRF-Token": token},
        ),
    ]
    for answer in answers:
        assert answer.status_code in (200, 400)
        assert PASSWORD not in answer.text and BASIC not in answer.text
        assert "Authorization" not in answer.text


# --- alias changes --------------------------------------------------------------------------------


def test_alias_form_targets() -> None:
    assert AliasForm("production", {V1: "100", V2: ""}).target() == V1
    assert AliasForm("production", {V1: "90", V2: "10"}).target() == {V1: 90, V2: 10}
    assert AliasForm("production", {V1: "100"}, V2, "5").target() == {
        "versions": V1,
        "mirror": {"version": V2, "percent": 5},
    }
    assert alias_set_command("local", "production", {V1: 90, V2: 10}) == (
        f"python -m components alias set --stack local production {V1}=90 {V2}=10"
    )


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({V1: "", V2: "0"}, "Weights: give the version the alias should point to 100"),
        ({V1: "50"}, f"Weights: a single version takes all traffic; give {V1} 100"),
        ({V1: "x"}, f"Weight of {V1}: 'x' must be a whole number"),
    ],
)
def test_alias_form_says_what_to_fix(weights: dict[str, str], message: str) -> None:
    with pytest.raises(ToolError, match=re.escape(message)):
        AliasForm("production", weights).target()


def _alias(client: TestClient, action: str, stack: str = "test", **fields: str) -> Any:
    data = {"alias": "production", **fields}
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get(f"/stacks/{stack}").text)
    assert token
    return client.post(
        f"/stacks/{stack}/aliases/{action}", data=data, headers={"Origin": ORIGIN, "X-CSRF-Token": token.group(1)}
    )


def test_a_refused_alias_change_shows_the_programs_own_messages(client: TestClient) -> None:
    answer = _alias(client, "preview", **{f"weight.{V1}": "90", f"weight.{V2}": "20"})
    assert answer.status_code == 400
    assert _error_lines(answer.text) == [
        "the change was not written: the program would refuse this config (1 problem(s)):",
        "config: aliases.production: weights must sum to 100 (got 110)",
    ]


def test_an_unchanged_alias_says_so(client: TestClient) -> None:
    answer = _alias(client, "preview", **{f"weight.{V1}": "100"})
    assert answer.status_code == 200
    assert f"production: {V1} → {V1}" in answer.text and "nothing to change" in answer.text


def test_applying_is_refused_where_the_stack_does_not_allow_it(client: TestClient) -> None:
    answer = _alias(client, "apply", **{f"weight.{V2}": "100"})
    assert answer.status_code == 400
    assert _error_lines(answer.text) == [
        "stack &#39;test&#39; does not allow applying from the console (console.allowApply); "
        "commit the change and deploy it the way this stack is deployed"
    ]


def test_only_local_allows_applying_unless_configured() -> None:
    assert ConsoleSettings().allows_apply("local") is True
    assert ConsoleSettings().allows_apply("americas") is False
    assert ConsoleSettings(allow_apply=True).allows_apply("americas") is True
    assert ConsoleSettings(allow_apply=False).allows_apply("local") is False


def test_a_bad_console_key_disallows_applying_and_says_why(project_dir: Path, router: str) -> None:
    source = _Source(_config(project_dir, stack="local", console={"allowApply": "sometimes"}), _outputs(router))
    assert source.allows_apply() is False
    data = _client(source).get("/stacks/local.json").json()
    assert data["allowApply"] is False
    assert any(line.startswith("config: console: not valid") for line in data["problems"])


def test_console_arguments() -> None:
    args = build_parser().parse_args(["console", "--stack", "local", "--stack", "europe", "--allow-host", "box"])
    assert (args.stack, args.port, args.host, args.allow_host) == (["local", "europe"], 8090, "127.0.0.1", ["box"])


class _RecordedPulumi:
    """The two Pulumi CLI calls a preview makes: `config set-all` on the copy of the stack file
    (written as YAML here) and `preview --json`, answered with a preview recorded from the local stack."""

    def __init__(self, project_dir: Path, stack: str, recorded: Path) -> None:
        self.project_dir, self.stack, self.recorded = project_dir, stack, recorded

    def write(self, config: StackConfig, changes: dict[str, Any], config_file: Path | None = None) -> None:
        assert config_file is not None, "a preview never writes the stack's own file"
        document = yaml.safe_load(config_file.read_text())
        for key, value in changes.items():
            document["config"][f"{config.namespace}:{key}"] = value
        config_file.write_text(yaml.safe_dump(document, sort_keys=False))

    def attempt(self, *args: str, config_file: Path | None = None) -> subprocess.CompletedProcess[str]:
        assert args == ("preview", "--json") and config_file is not None
        return subprocess.CompletedProcess(["pulumi", *args], 0, self.recorded.read_text(), "")


def test_an_alias_preview_shows_the_config_change_the_summary_and_the_command(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    stack_file = project / "Pulumi.americas.yaml"
    stack_file.write_text(
        "config:\n  valohai-deployments:aliases:\n    production: '20181002.0'\n"
        "  valohai-deployments:basicAuth:\n    alice:\n      secure: v1:abcdef\n"
    )
    config = _config(project, stack="americas")
    source = _Source(config, {})
    source.pulumi = cast(Pulumi, _RecordedPulumi(project, "americas", DATA / "previews" / "alias-switch.json"))
    answer = _alias(_client(source), "preview", stack="americas", **{f"weight.{V2}": "100"})
    assert answer.status_code == 200, answer.text
    text = answer.text.replace("&#39;", "'").replace("&#34;", '"')
    assert f"production: {V1} → {V2}" in text
    assert f"-    production: '{V1}'" in text and f"+    production: '{V2}'" in text
    assert "1 to update; 32 unchanged" in text
    assert f"<code>production</code>: {V1} → {V2}" in text
    # americas is changed through review: the command and the file to commit, no Apply button.
    assert f"python -m components alias set --stack americas production {V2}" in text
    assert "Apply" not in text and "Pulumi.americas.yaml" in text
    assert stack_file.read_text().count(V1) == 1, "the stack's own file is untouched"
