"""Shared fixtures: a fast-clock simulator served over loopback, and a small world of people
(an owner, a teammate, an outsider, a reviewer, an admin) for every test that needs one."""

# How to use them:
#   def test_something(simulator): ...
# `simulator` is a running `studio.kling.simulator.Simulator` (function scope, stopped after
# the test). Talk to it at `simulator.url` ("http://127.0.0.1:PORT") with
# `Authorization: Bearer sk-test`; change its behaviour mid-test through `simulator.config`;
# look inside with `simulator.tasks` and `simulator.create_count(...)`. Its server object is
# `simulator.server`. To start it differently, override `sim_config` in a test module or a
# test (`@pytest.fixture def sim_config(): return SimConfig(...)`).

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest
from django.core.signals import got_request_exception
from django.test import Client

from studio.kling.simulator import SimConfig, Simulator, serve
from tests import sites
from tests.factories import make_user, signed_in
from tests.system import System, running

SIM_API_KEY = "sk-test"
pytest_plugins = ["pytester"]  # tests/test_server_errors.py runs the guard in a real run


@pytest.fixture
def sim_config() -> SimConfig:
    """A fast clock: `processing` after 0.2 s, the result after 0.5 s; key "sk-test";
    strict: CometAPI's documented request shape (durations 5/10, prompts 500/200)."""
    return SimConfig(processing_after=0.2, finish_after=0.5, api_key=SIM_API_KEY, strict=True)


@pytest.fixture
def simulator(sim_config: SimConfig) -> Iterator[Simulator]:
    """A Simulator served on a free loopback port; `.url` is its base URL."""
    sim = Simulator(sim_config)
    server = serve(sim, host="127.0.0.1", port=0)  # also sets sim.url and sim.server
    try:
        yield sim
    finally:
        server.stop()


@pytest.fixture
def api(simulator: Simulator) -> Iterator[httpx.Client]:
    """An httpx client on the simulator with its key, for tests of the contract itself."""
    # trust_env=False: a proxy from the environment must not sit between us and loopback.
    with httpx.Client(
        base_url=simulator.url,
        headers={"Authorization": f"Bearer {SIM_API_KEY}"},
        trust_env=False,
        timeout=30,
    ) as client:
        yield client


def create_body(**fields: object) -> dict:
    """A valid create body's common part (model, mode, duration, a fresh external_task_id);
    keyword arguments replace or add fields (None removes one)."""
    data: dict = {
        "model_name": "kling-v2-6",
        "mode": "std",
        "duration": "5",
        "external_task_id": str(uuid.uuid4()),
        **fields,
    }
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture(autouse=True)
def fresh_webhook_limit() -> None:
    """Every test starts with the webhook's per-address counts empty (a local-memory cache
    that would otherwise carry one test's callbacks from 127.0.0.1 into the next)."""
    from django.core.cache import caches

    caches["webhooks"].clear()


# ---------------------------------------------------------------- pipeline fixtures
# `upstream`: the simulator, with the studio's settings pointed at it (API base URL, key,
# the download allow-list for its loopback host) and media in a temp folder.
# `queue`: what the pipeline handed to django-q2, as (task name, args) pairs; nothing is
# sent to a broker, so tests run the tasks themselves.


@pytest.fixture
def upstream(simulator: Simulator, settings, tmp_path) -> Simulator:
    settings.COMETAPI_BASE_URL = simulator.url
    settings.COMETAPI_KEY = SIM_API_KEY
    settings.DOWNLOAD_ALLOWED_HOSTS = [simulator.url.split("://", 1)[1]]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STUDIO_PUBLIC_URL = ""
    return simulator


@pytest.fixture
def queue(monkeypatch) -> list[tuple[str, tuple[str, ...]]]:
    from studio.generations import pipeline

    handed: list[tuple[str, tuple[str, ...]]] = []
    monkeypatch.setattr(pipeline, "enqueue", lambda task, *args: handed.append((task, args)))
    return handed


# ---------------------------------------------------------------- servers to download from
# `site`: a loopback server (tests/sites.py) the downloader may reach, allow-listed next to
# the simulator; `victim`: one it must never reach, serving "/secret".


@pytest.fixture
def site(upstream: Simulator, settings) -> Iterator[sites.Site]:
    server = sites.Site()
    settings.DOWNLOAD_ALLOWED_HOSTS = [*settings.DOWNLOAD_ALLOWED_HOSTS, server.host]
    yield server
    server.stop()


@pytest.fixture
def victim() -> Iterator[sites.Site]:
    server = sites.Site()
    server.routes["/secret"] = sites.serve(b"\x00\x00\x00\x18ftypmp42 secret", "video/mp4")
    yield server
    server.stop()


# ---------------------------------------------------------------- real processes
# `system`: the studio as real processes (tests/system.py) on a temporary data folder, each
# process stopped after the test. A module sets extra environment for them by overriding
# `system_env`.


@pytest.fixture
def system_env() -> dict[str, str]:
    return {}


@pytest.fixture
def system(tmp_path, system_env: dict[str, str]) -> Iterator[System]:
    with running(tmp_path / "data", **system_env) as system:
        yield system


# ---------------------------------------------------------------- no 500 goes unnoticed
# Every test fails when the studio answered 500 while it ran (an uncaught exception or a
# 500 response, in this process: the test client, live servers in threads), even if the test
# itself looked only at something else. A test that provokes one on purpose says so with
# @pytest.mark.server_error. Real processes (`system`) log in their own output.


class ServerErrors(logging.Handler):
    """The 500s seen while it is entered: django.request's error records for status 500
    and got_request_exception (sent for every uncaught exception, even when the test
    client re-raises it)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def __enter__(self) -> ServerErrors:
        logging.getLogger("django.request").addHandler(self)
        got_request_exception.connect(self.raised, dispatch_uid=id(self))
        return self

    def __exit__(self, *exc) -> None:
        got_request_exception.disconnect(dispatch_uid=id(self))
        logging.getLogger("django.request").removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "status_code", None) == 500:
            self.seen.append(record.getMessage())

    def raised(self, sender, request=None, **kwargs) -> None:
        error = sys.exc_info()[1]
        where = f"{request.method} {request.path}" if request is not None else "a request"
        self.seen.append(f"{where} raised {error!r}")

    def check(self, allowed: bool = False) -> None:
        if self.seen and not allowed:
            pytest.fail("The studio answered 500 during this test:\n" + "\n".join(self.seen))


@pytest.fixture(autouse=True)
def no_server_errors(request) -> Iterator[ServerErrors]:
    with ServerErrors() as errors:
        yield errors
    errors.check(allowed=request.node.get_closest_marker("server_error") is not None)


# ---------------------------------------------------------------- the world
# Who a test is about, as the permission matrix names them (tests/test_permissions.py).
# `client` is the owner's browser: asking for `owner` signs them in there. No other fixture
# touches `client`, so the order fixtures are named in never decides who is signed in; a test
# switches with `client.force_login(teammate)` or uses `reviewer_client`, a second browser.


@pytest.fixture
def owner(db, client: Client):
    """A creator ("cora") whose work the test is about, signed in on `client`."""
    user = make_user("cora")
    client.force_login(user)
    return user


@pytest.fixture
def teammate(db):
    """Another creator ("tess"): sees what the team shares, never the owner's private work."""
    return make_user("tess")


@pytest.fixture
def outsider(db):
    """An account with no role at all ("otto"): may sign in, may see nothing."""
    return make_user("otto", roles=())


@pytest.fixture
def reviewer(db):
    """A reviewer ("rex"), staff by that role."""
    return make_user("rex", roles=("reviewer",))


@pytest.fixture
def admin(db):
    """Someone with the admin role ("ada"), which is not a superuser."""
    return make_user("ada", roles=("admin",))


@pytest.fixture
def reviewer_client(reviewer) -> Client:
    """A second browser, the reviewer's, signed in."""
    return signed_in(reviewer)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Test on an SQLite file, as the studio runs (WAL, IMMEDIATE), not the in-memory
    default: threads in concurrency tests then wait on the busy timeout as in production
    instead of failing with "database table is locked" (shared-cache memory mode)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        # make mutate runs the tests once per mutant: one kept file (with --reuse-db)
        # saves migrating a new database each time.
        path = (
            os.environ.get("STUDIO_TEST_SQLITE") or tmp_path_factory.mktemp("db") / "test.sqlite3"
        )
        database.setdefault("TEST", {})["NAME"] = str(path)


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """Users are made by the hundred (five in the world alone); PBKDF2's deliberate cost
    took most of each test's setup. Tests of signing in work with any hasher."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def partials_report_their_context() -> Iterator[None]:
    """The test client records a rendered partial's context (response.context) as it does a
    template's, so a fragment response can be inspected like a page. Django 6's built-in
    partials are instrumented so; django-template-partials 25.x is not (its issue #54)."""
    from django.test.signals import template_rendered
    from template_partials.templatetags.partials import TemplateProxy

    original = TemplateProxy._render

    def instrumented(self, context):
        template_rendered.send(sender=self, template=self, context=context)
        return original(self, context)

    TemplateProxy._render = instrumented
    yield
    TemplateProxy._render = original
