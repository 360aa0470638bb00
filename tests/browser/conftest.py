"""Browser journeys: the real stack (`python -m studio.run`: gunicorn, qcluster and the
simulator) in a temporary data folder, driven by Debian's chromium through Playwright."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.system import free_port, manage

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs"
# The background-networking flags keep chromium from calling out of this closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")  # Playwright's sync API runs a loop


@dataclass
class Stack:
    url: str
    username: str
    password: str
    simulator_url: str
    env: dict[str, str]
    log: Path

    def manage(self, *args: str) -> str:
        """Run a manage.py command against the stack's database."""
        return manage(self.env, *args)

    def sim_stats(self) -> dict:
        return httpx.get(f"{self.simulator_url}/_sim/stats", timeout=5).json()


def _postgres(database_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(statement)


def _fresh_postgres_url(database_url: str) -> str:
    """A new empty PostgreSQL database for the stack, next to the one in DATABASE_URL."""
    name = f"studio_e2e_{uuid.uuid4().hex[:8]}"
    _postgres(database_url, f'CREATE DATABASE "{name}"')
    return f"{database_url.rsplit('/', 1)[0]}/{name}"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("stack")
    web_port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("COMETAPI_KEY", "COMETAPI_BASE_URL")}
    env.update(
        STUDIO_DATA_DIR=str(data),
        STUDIO_SIMULATOR_PORT=str(sim_port),
        STUDIO_MEDIA_PORT=str(free_port()),  # make run's media process, on a port of its own
        STUDIO_QUEUE_NAME=f"e2e-{uuid.uuid4().hex[:8]}",
        STUDIO_POLL_MIN_SECONDS="0.5",
        STUDIO_POLL_MAX_SECONDS="1",
        STUDIO_SIM_PROCESSING_AFTER="1",
        STUDIO_SIM_FINISH_AFTER="3",
        DJANGO_SETTINGS_MODULE="studio.settings",
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = _fresh_postgres_url(os.environ["DATABASE_URL"])
    log = data / "stack.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "studio.run", "--port", str(web_port), "--web-workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{web_port}"
    try:
        _wait_for(f"{url}/login/", process, log)
        printed = log.read_text()
        found = re.search(r"username: (\S+)\s+password: (\S+)", printed)
        assert found, f"the first run did not print the admin credentials:\n{printed}"
        yield Stack(url, found[1], found[2], f"http://127.0.0.1:{sim_port}", env, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        if env.get("DATABASE_URL") and env["DATABASE_URL"] != os.environ.get("DATABASE_URL"):
            name = env["DATABASE_URL"].rsplit("/", 1)[1]
            _postgres(os.environ["DATABASE_URL"], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the studio exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"the studio did not answer at {url}:\n{log.read_text()}")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, stack: Stack, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser context; console errors and CSP violations fail the test."""
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    yield page
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not problems, f"browser console errors: {problems}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def log_in(page, stack: Stack, username: str | None = None, password: str | None = None) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username or stack.username)
    page.get_by_label("Password").fill(password or stack.password)
    page.get_by_role("button", name=re.compile("sign in|log in", re.I)).click()
    page.wait_for_url(re.compile(r"/$"))


def screenshot(page, name: str, readme: str | None = None, **options) -> None:
    """The window as test-artifacts/<name>. A picture the README shows names its file in
    docs/ (readme): with STUDIO_SCREENSHOTS=docs it is written there too (`make screenshots`)."""
    ARTIFACTS.mkdir(exist_ok=True)
    # caret="initial": hiding the caret leaves style="" behind, which htmx copies (CSP)
    page.screenshot(path=str(ARTIFACTS / name), caret="initial", **options)
    if readme and os.environ.get("STUDIO_SCREENSHOTS") == "docs":
        shutil.copyfile(ARTIFACTS / name, DOCS / readme)


# ---------------------------------------------------------------- journeys' common steps

# The studio's own pages (the nav's), as each walk over pages starts from.
MAIN_PAGES = [
    "/",
    "/history/",
    "/history/?view=list",
    "/library/",
    "/library/presets/",
    "/library/import/",
    "/review/",
    "/gallery/",
    "/spend/",
    "/password/",
]
SUCCEEDED = re.compile(r"\bis-succeeded\b")  # a queue card's class once its video is in


def generate(page, prompt: str):
    """Send `prompt` from the studio form with Ctrl+Enter; the card(s) showing it."""
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Prompt").press("Control+Enter")
    return page.locator(".card", has_text=prompt)


def made_video(page, prompt: str, timeout: float = 30_000):
    """generate(), and the one card it makes, once its video is in."""
    card = generate(page, prompt)
    expect(card).to_have_class(SUCCEEDED, timeout=timeout)
    return card


@contextmanager
def slow_upstream(stack: Stack, finish_after: float) -> Iterator[None]:
    """The simulator takes `finish_after` seconds per job inside the block (each state
    lasting longer than a page poll), and the stack's 3 again after it."""
    config = f"{stack.simulator_url}/_sim/config"
    httpx.post(config, json={"finish_after": finish_after}).raise_for_status()
    try:
        yield
    finally:
        httpx.post(config, json={"finish_after": 3})
