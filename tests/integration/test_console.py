"""The console in a real browser: Debian's chromium driven by Playwright, against a scratch stack
deployed on the local cluster and reached through the real router.

Screenshots of the main views go to tests/output/console/ (look at them when the page changes).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.harness import ROOT, V1, V2
from tests.integration.local_stack import LocalStack, free_port, services, services_dir
from tests.integration.traffic import request

pytestmark = pytest.mark.integration

SAMPLES = ROOT / "example" / "samples"
PREFIX = "/acme/mnist/local"
SHOTS = ROOT / "tests" / "output" / "console"
# Bounds for what the page waits on: a first request to a cold pod, a `pulumi up` of an alias.
ANSWER_MS = 60_000
APPLY_MS = 600_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack.scratch(tmp_path_factory.mktemp("console-stack")) as stack:
        stack.pulumi("up", "--yes")
        yield stack


@pytest.fixture(scope="module")
def console_url(stack: LocalStack) -> Iterator[str]:
    """`python -m components console` for the scratch stack (named `local`, so it may apply changes)."""
    port = free_port()
    log = (stack.project / "console.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "components", "console", "--stack", "local", "--port", str(port)],
        cwd=stack.project,
        env=stack.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (stack.project / "console.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/stacks.json", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the console did not answer within 120 s"
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("CONSOLE_BROWSER") or shutil.which("chromium")
    assert executable, "no chromium on PATH: scripts/services start installs Debian's package (or set CONSOLE_BROWSER)"
    with sync_playwright() as playwright:
        # As root, Chromium's sandbox cannot start; the page is the console's own, on loopback.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, console_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.goto(f"{console_url}/stacks/local")
    yield opened
    context.close()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _send(page: Page, route: str, endpoint: str, method: str = "GET", **inputs: str) -> Locator:
    """Fill the request form by its labels, press Send, and return the answer's area."""
    form = page.locator("form.request")
    form.get_by_label("Version or alias").select_option(route)
    form.get_by_label("Endpoint").select_option(endpoint)
    form.get_by_label("Method").select_option(method)
    for label in ("Path", "Query", "Fields", "Body"):
        form.get_by_label(label, exact=True).fill(inputs.get(label.lower(), ""))
    if "files" in inputs:
        form.get_by_label("Files").set_input_files(inputs["files"])
    form.get_by_role("button", name="Send").click()
    result = page.locator("#call-result")
    # A 4xx answer holds its own error line inside the result: wait for whichever comes first.
    expect(result.locator(".result, .errors").first).to_be_visible(timeout=ANSWER_MS)
    return result


def test_the_page_lists_the_stacks_versions_and_aliases(page: Page) -> None:
    status = page.locator("#status")
    aliases = status.locator("table.aliases")
    expect(aliases.get_by_role("row", name="production")).to_contain_text(V1)
    expect(aliases.get_by_role("row", name="staging")).to_contain_text(V2)
    versions = status.locator("table.versions")
    for version in (V1, V2):
        expect(versions).to_contain_text(version)
    # Read from the cluster: every endpoint of both versions ready.
    expect(versions.locator("td .ok", has_text="1/1")).to_have_count(4, timeout=30_000)
    expect(page.locator("#logs")).not_to_contain_text("Loading", timeout=30_000)
    _shot(page, "stack")


@pytest.mark.parametrize("digit", [3, 7])
def test_a_digit_image_through_production_shows_the_digit(page: Page, digit: int) -> None:
    result = _send(page, "production", "predict-digit", "POST", files=str(SAMPLES / f"digit-{digit}.png"))
    expect(result).to_contain_text("200 OK")
    expect(result.locator("pre.body-json")).to_contain_text(f'"digit": {digit}')
    expect(result).to_contain_text(f"{PREFIX}/production/predict-digit/")
    _shot(page, f"predict-digit-{digit}")


def test_a_greet_me_query_shows_the_prefix_it_was_reached_under(page: Page) -> None:
    result = _send(page, "staging", "greet-me", path="hello", query="name=Ada")
    body = result.locator("pre.body-json")
    expect(body).to_contain_text('"greeting": "Hello, Ada!"')
    expect(body).to_contain_text(f'"prefix": "{PREFIX}/staging/greet-me"')
    expect(body).to_contain_text(f'"version": "{V2}"')
    _shot(page, "greet-me")


def test_an_alias_switch_from_the_page_moves_traffic(page: Page, stack: LocalStack) -> None:
    password = stack.pulumi("config", "get", "--path", "basicAuth.alice").stdout.strip()
    form = page.locator("form.alias")
    form.get_by_label("Alias").fill("production")
    form.get_by_label(f"Weight of {V1}").fill("")
    form.get_by_label(f"Weight of {V2}").fill("100")
    started = time.monotonic()
    form.get_by_role("button", name="Preview change").click()
    preview = page.locator("#alias-result")
    expect(preview.locator(".alias-preview")).to_contain_text(f"production: {V1} → {V2}", timeout=ANSWER_MS * 3)
    _report("alias preview from the page (config write on a copy + pulumi preview)", time.monotonic() - started)
    expect(preview.locator("pre.diff")).to_contain_text(f'+    production: "{V2}"')
    expect(preview.locator(".moves")).to_contain_text("production")
    _shot(page, "alias-preview")
    # Only the preview so far: the cluster still routes production to V1.
    assert request(stack.host, f"{PREFIX}/production/greet-me/", auth=("alice", password)).json()["version"] == V1

    started = time.monotonic()
    preview.get_by_role("button", name="Apply (pulumi up)").click()
    stack.applied = True  # the console ran `pulumi up`: the baseline is restored with another one
    expect(preview.locator(".alias-applied")).to_contain_text("pulumi up:", timeout=APPLY_MS)
    _report("alias apply from the page (checked write + pulumi up)", time.monotonic() - started)
    # The page refreshes itself (no reload): config and the cluster's route both name the new version.
    row = page.locator("#status table.aliases").get_by_role("row", name="production")
    expect(row).not_to_contain_text(V1, timeout=30_000)
    expect(row).to_contain_text(V2)
    _shot(page, "alias-applied")
    deadline = time.monotonic() + 30
    while request(stack.host, f"{PREFIX}/production/greet-me/", auth=("alice", password)).json()["version"] != V2:
        assert time.monotonic() < deadline, "production still answers from the old version 30 s after pulumi up"
        time.sleep(0.5)
    result = _send(page, "production", "greet-me")
    expect(result.locator("pre.body-json")).to_contain_text(f'"version": "{V2}"')


def test_a_change_the_stack_refuses_shows_the_programs_message(page: Page) -> None:
    form = page.locator("form.alias")
    form.get_by_label("Alias").fill("production")
    form.get_by_label(f"Weight of {V1}").fill("90")
    form.get_by_label(f"Weight of {V2}").fill("20")
    form.get_by_role("button", name="Preview change").click()
    expect(page.locator("#alias-result .errors")).to_contain_text(
        "config: aliases.production: weights must sum to 100 (got 110)", timeout=ANSWER_MS
    )


def test_wrong_credentials_are_a_clear_line(page: Page, stack: LocalStack) -> None:
    # The stack's config now holds another password than the router's (no `pulumi up` since).
    stack.pulumi("config", "set", "--secret", "--path", "basicAuth.alice", "not-the-deployed-one")
    result = _send(page, "production", "greet-me")
    expect(result).to_contain_text("401 Unauthorized")
    expect(result.locator(".errors")).to_have_text(
        "401 Unauthorized: the endpoint refused user 'alice'; check basicAuth.alice "
        "(pulumi config set --secret --path basicAuth.alice ...) and run pulumi up"
    )
    assert "not-the-deployed-one" not in page.content()
    _shot(page, "wrong-credentials")


def test_a_stopped_router_is_a_clear_line(page: Page) -> None:
    pidfile = services_dir() / "router" / "traefik.pid"
    os.kill(int(Path(pidfile).read_text().strip()), signal.SIGTERM)
    try:
        deadline = time.monotonic() + 30
        while _router_listens():
            assert time.monotonic() < deadline, "the router still listens 30 s after SIGTERM"
            time.sleep(0.2)
        result = _send(page, "production", "greet-me")
        expect(result.locator(".errors")).to_contain_text(
            "connection refused by 127.0.0.1:8080: nothing listens there; is the stack deployed (pulumi up) "
            "and the router running?"
        )
        expect(result.locator(".errors li")).to_have_count(1)
        _shot(page, "router-stopped")
    finally:
        services("start")


def _report(name: str, seconds: float) -> None:
    print(f"\n[measure] {name}: {seconds:.1f} s")


def _router_listens() -> bool:
    try:
        request("127.0.0.1", "/", timeout=2)
    except OSError:
        return False
    return True
