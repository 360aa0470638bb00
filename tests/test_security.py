"""Security checks (docs/reliability.md R24-R27, R29-R30, R36-R40, R42): forged webhooks, CSRF on
every state-changing request, SSRF attempts, the API key never shown or logged, sign-in
throttling, `check --deploy` with production settings, the Content-Security-Policy, and
webhook tokens kept out of gunicorn's access log.

Other suites cover the rest: tests/test_webhook.py (wrong and other generations' tokens,
forged bodies), tests/test_store.py (SSRF basics), tests/test_permissions.py (the
cross-user matrix), tests/browser/test_csp.py (pages under the CSP in a real browser).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import uuid
from io import BytesIO, StringIO
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

from studio.accesslog import redact
from studio.generations import media, pipeline
from studio.generations.models import Generation, Status
from studio.kling.simulator import SimConfig
from tests.drive import drive, params
from tests.factories import HTMX, make_generation, make_user
from tests.sites import redirect

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ forged webhooks


@pytest.mark.parametrize("path", ["/hooks/kling/{pk}/", "/hooks/kling/{pk}//", "/hooks/kling/"])
def test_a_webhook_without_a_token_is_refused_and_changes_nothing(queue, path):
    row = make_generation(make_user(), status=Status.PROCESSING, task_id="880000000000000123")
    before = Generation.objects.filter(pk=row.pk).values().get()
    response = Client(enforce_csrf_checks=True).post(
        path.format(pk=row.pk), "{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert Generation.objects.filter(pk=row.pk).values().get() == before
    assert queue == []


def test_a_token_made_with_another_secret_key_is_refused(queue, settings):
    row = make_generation(make_user(), status=Status.PROCESSING, task_id="880000000000000123")
    settings.SECRET_KEY = "someone-elses-secret-key-" * 3
    forged = pipeline.callback_token(row.pk)
    settings.SECRET_KEY = "the-studios-own-secret-key-" * 3
    response = Client(enforce_csrf_checks=True).post(
        f"/hooks/kling/{row.pk}/{forged}/", "{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert queue == []


# ------------------------------------------------------------------ CSRF on every URL

SAMPLE = {"uuid": "7d3f2c1e-0000-4000-8000-000000000001", "int": "1", "path": "1"}


def every_path() -> list[tuple[str, str]]:
    """(a concrete path, its URL name) for every pattern in the URLconf, admin included."""
    found: list[tuple[str, str]] = []

    def concrete(route: str) -> str:
        return re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: SAMPLE.get(m.group(1) or "str", "x"), route)

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = str(entry.pattern)
            if isinstance(entry, URLResolver):
                inner = f"{namespace}:{entry.namespace}" if entry.namespace else namespace
                walk(entry.url_patterns, prefix + route, inner.strip(":"))
            elif isinstance(entry, URLPattern):
                name = f"{namespace}:{entry.name}".strip(":") if entry.name else ""
                if route.startswith("^"):  # a regex route (the admin's app index)
                    route = "auth/" if "app_label" in route else ""
                    if not route:
                        continue
                found.append(("/" + concrete(prefix + route).lstrip("^"), name))

    walk(get_resolver().url_patterns, "", "")
    return found


def test_the_webhook_is_the_only_view_without_csrf_protection():
    exempt = set()
    for path, _name in every_path():
        try:
            match = resolve(path)
        except Resolver404:
            continue
        if getattr(match.func, "csrf_exempt", False):
            exempt.add(match.url_name)
    assert exempt == {"kling-callback"}


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_every_state_changing_request_without_a_token_gets_403(method, htmx):
    user = make_user("boss", is_staff=True, is_superuser=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # the page hands out the CSRF cookie; the request below omits the token
    checked, refused = 0, []
    for path, name in every_path():
        if name == "kling-callback":
            continue
        try:
            resolve(path)
        except Resolver404:
            continue
        checked += 1
        response = getattr(client, method)(path, {}, **(HTMX if htmx else {}))
        if response.status_code != 403 or b"CSRF" not in response.content:
            refused.append(f"{method.upper()} {path} ({name}): {response.status_code}")
    assert checked > 40
    assert refused == []


def test_the_same_post_with_the_token_goes_through(queue):
    user = make_user("maker")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/")
    token = client.cookies["csrftoken"].value
    assert '"X-CSRFToken": "' in page.content.decode()  # htmx sends it from <body hx-headers>
    data = {**params("A crane"), "client_request_id": str(uuid.uuid4())}
    data.update(negative_prompt="", cfg_scale="", camera_type="")
    response = client.post("/generations/new/", data, HTTP_X_CSRFTOKEN=token, **HTMX)
    assert response.status_code == 200
    assert Generation.objects.count() == 1


# ------------------------------------------------------------------ SSRF (beyond test_store)


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/v.mp4",  # 127.0.0.1 as one decimal number
        "https://0x7f000001/v.mp4",  # ... in hex
        "https://017700000001/v.mp4",  # ... in octal
        "https://127.1/v.mp4",  # ... shortened
        "https://172.16.5.4/v.mp4",
        "https://192.168.1.10/v.mp4",
        "https://100.64.0.1/v.mp4",  # carrier-grade NAT
        "https://198.18.0.1/v.mp4",
        "https://[fe80::1]/v.mp4",
        "https://[fc00::1]/v.mp4",
        "https://[::ffff:169.254.169.254]/latest/meta-data/",
        "https://[2002:7f00:1::]/v.mp4",  # 6to4 wrapping 127.0.0.1
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of the metadata address
        "https://[::]/v.mp4",
        "gopher://example.com/_x",
        "dict://example.com:11211/stat",
        "data:video/mp4;base64,AAAAGGZ0eXBtcDQy",
        "javascript:alert(1)",
        "https://example.com:99999/v.mp4",
    ],
)
def test_more_private_addresses_and_schemes_are_refused(url):
    with pytest.raises(media.Refused):
        media.check_url(url, [])


def test_a_name_resolving_to_a_public_and_a_private_address_is_refused(monkeypatch):
    answers = [("93.184.216.34", 443), ("10.0.0.7", 443)]
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", addr) for addr in answers],
    )
    with pytest.raises(media.Refused, match="10.0.0.7"):
        media.check_url("https://cdn.example-kling.test/v.mp4", [])


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "http://[::1]:{port}/secret",
        "http://localhost:{port}/secret",
    ],
)
def test_redirects_to_private_places_are_refused(upstream, site, victim, target):
    site.routes["/hop"] = redirect(target.format(port=victim.server.server_port))
    with pytest.raises(media.Refused):
        media.download(f"{site.url}/hop", BytesIO(), max_bytes=1024, allowed_hosts=[site.host])
    assert site.hits == ["/hop"]
    assert victim.hits == []


# ------------------------------------------------------------------ the API key


CANARY = "sk-canary-" + secrets.token_hex(16)


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(processing_after=0.2, finish_after=0.5, api_key=CANARY)


def test_the_api_key_appears_in_no_page_fragment_log_or_stored_row(
    upstream, settings, queue, caplog, capsys, tmp_path
):
    caplog.set_level(logging.DEBUG)
    settings.COMETAPI_KEY = CANARY
    settings.SIMULATOR_MODE = False
    maker = make_user("maker")
    boss = make_user("boss", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(maker)
    bodies: list[bytes] = []

    def get(url: str, who: Client = client, **headers) -> None:
        response = who.get(url, **headers)
        assert response.status_code in (200, 286), (url, response.status_code)
        bodies.append(
            b"".join(response.streaming_content) if response.streaming else response.content
        )

    data = {**params(), "client_request_id": str(uuid.uuid4())}
    data.update(negative_prompt="", cfg_scale="", camera_type="")
    bodies.append(client.post("/generations/new/", data, **HTMX).content)
    ok = Generation.objects.get()
    rejected = pipeline.create_generation(maker, params("A crane #reject-1301"))
    for row in (ok, rejected):
        pipeline.submit(row.pk)
        drive(row)
    upstream.config.api_key = "sk-another-key"  # the key stops working: an error to show
    refused = pipeline.create_generation(maker, params("A heron"))
    pipeline.submit(refused.pk)
    refused.refresh_from_db()
    assert refused.status == Status.FAILED and "API key" in refused.status_msg

    for row in (ok, rejected, refused):
        get(f"/generations/{row.pk}/")
        get(f"/generations/{row.pk}/", **HTMX, HTTP_HX_TARGET="generation-live")
    get("/")
    get("/history/")
    get("/queue/updates/?since=0", **HTMX)
    get(f"/generations/{ok.pk}/video.mp4")
    admin = Client()
    admin.force_login(boss)
    for url in (
        "/admin/",
        "/admin/generations/generation/",
        f"/admin/generations/generation/{ok.pk}/change/",
        f"/admin/generations/generation/{refused.pk}/change/",
        "/admin/django_q/failure/",
        *(["/admin/django_q/ormq/"] if "orm" in settings.Q_CLUSTER else []),
    ):
        get(url, admin)

    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    captured = capsys.readouterr()
    for where, text in {
        "pages": b"\n".join(bodies).decode(errors="replace"),
        "logs": caplog.text + captured.out + captured.err,
        "database": dump.getvalue(),
    }.items():
        assert CANARY not in text, f"the API key leaked into the {where}"
    ok.refresh_from_db()
    assert ok.status == Status.SUCCEEDED


# ------------------------------------------------------------------ sign-in throttling


def sign_in(client: Client, username: str, password: str):
    return client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR="203.0.113.7"
    )


def test_the_sixth_sign_in_after_five_failures_is_refused_even_with_the_password():
    make_user("target", password="the-right-password-1")
    make_user("neighbour", password="the-right-password-2")
    client = Client()
    for _ in range(4):
        assert sign_in(client, "target", "wrong").status_code == 200  # the form again
    sign_in(client, "target", "wrong")  # the fifth failure locks the pair

    locked = sign_in(client, "target", "the-right-password-1")

    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another account from the same address (an office NAT) still signs in.
    other = Client()
    assert sign_in(other, "neighbour", "the-right-password-2").status_code == 302
    assert "_auth_user_id" in other.session


# ------------------------------------------------------------------ production settings


def run_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        # DJANGO_ALLOW_ASYNC_UNSAFE: set by the browser tests' Playwright, never in production
        if not k.startswith(("STUDIO_", "SECURE_", "DEBUG", "COMETAPI_", "DJANGO_ALLOW"))
    }
    clean.update(
        STUDIO_DATA_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="studio.settings",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="studio.example.com",
        **env,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_check_deploy_is_clean_with_studio_https(tmp_path):
    done = run_check(tmp_path, STUDIO_HTTPS="true")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "no issues" in done.stdout


def test_check_deploy_warns_without_it(tmp_path):
    done = run_check(tmp_path)
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stderr + done.stdout


def test_studio_https_switches_on_secure_cookies_redirect_and_hsts(client, tmp_path):
    from django.test import override_settings

    make_user("maker")
    with override_settings(
        SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=3600, SECURE_HSTS_INCLUDE_SUBDOMAINS=True
    ):
        assert client.get("/login/").status_code == 301  # to https
        response = client.get("/login/", secure=True)
        assert response["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_HTTPONLY]))",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "STUDIO_HTTPS": "true",
            "STUDIO_DATA_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "studio.settings",
        },
        capture_output=True,
        text=True,
    )
    assert json.loads(probe.stdout) == [True, True, True, 3600, True], probe.stderr


# ------------------------------------------------------------------ Content-Security-Policy


def test_every_page_carries_a_strict_content_security_policy(client):
    user = make_user("boss", is_staff=True, is_superuser=True)
    row = make_generation(user)
    urls = ["/login/", "/", "/history/", f"/generations/{row.pk}/", "/admin/"]
    anonymous = Client()
    for url in urls:
        who = anonymous if url == "/login/" else client
        if who is client:
            client.force_login(user)
        response = who.get(url)
        assert response.status_code == 200, url
        policy = dict(
            part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
        )
        assert policy["default-src"] == "'self'"
        assert policy["script-src"] == "'self'"
        assert policy["style-src"] == "'self'"
        assert policy["object-src"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["form-action"] == "'self'"
        assert policy["base-uri"] == "'self'"
        assert "unsafe" not in response["Content-Security-Policy"]
        html = response.content.decode()
        if url != "/admin/":  # the admin's own templates are Django's
            # Nothing the policy would block: inline scripts, handlers, style attributes.
            assert not re.search(r"<script(?![^>]*\b(src|type=\"application/json\"))", html)
            assert not re.search(r"\son[a-z]+=", html)
            assert " style=" not in html
            assert "hx-on" not in html


# ------------------------------------------------------------- access log (docs/reliability.md R27)


def test_redact_blanks_only_the_webhook_token():
    pk = "7d3f2c1e-0000-4000-8000-000000000001"
    line = f'"POST /hooks/kling/{pk}/{"ab" * 32}/ HTTP/1.1" 200'
    assert redact(line) == f'"POST /hooks/kling/{pk}/[redacted]/ HTTP/1.1" 200'
    assert redact("GET /history/?page=2") == "GET /history/?page=2"


@pytest.mark.django_db
def test_djangos_request_log_never_shows_a_webhook_token(caplog):
    # Django logs the path of each 404 and 405 it answers: a GET on a real hook URL (405),
    # and a hook URL that matches no route (404) never reach the webhook view's own quiet
    # answers.
    token = secrets.token_hex(32)
    hook = f"/hooks/kling/{uuid.uuid4()}/{token}/"
    client = Client()
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(hook).status_code == 405
        assert client.post(hook + "more/").status_code == 404
        assert client.post(f"/hooks/kling/not-an-id/{token}/").status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "django.request"]
    assert len(lines) == 3 and all("[redacted]" in line for line in lines), lines
    assert token not in caplog.text


def test_the_web_processs_log_never_shows_a_webhook_token(system):
    system.manage("migrate", "-v0")
    url = system.start_web()
    token = secrets.token_hex(32)
    hook = f"/hooks/kling/{uuid.uuid4()}/{token}/"
    assert httpx.post(url + hook, content=b"{}").status_code == 404
    assert httpx.post(url + hook + "?x=1", content=b"{}").status_code == 404
    assert httpx.get(url + hook).status_code == 405  # Django logs these two itself
    assert httpx.post(url + hook + "more/", content=b"{}").status_code == 404
    assert httpx.get(url + "/healthz").status_code == 200
    system.stop()  # the log is whole once gunicorn has stopped
    log = (system.data / "web.log").read_text()
    assert "/healthz" in log  # the access log is on
    assert log.count("/hooks/kling/") >= 6 and "[redacted]" in log  # access log and Django
    assert token not in log
