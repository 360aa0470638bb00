"""The permission matrix: every URL and fragment of the studio, for the owner of the work, a
teammate (another creator), a reviewer, an outsider (signed in, no role) and an anonymous
visitor. Each gets exactly what their role allows; the rest get 403 or 404 (anonymous: the
sign-in page) and never a prompt, a title or a file they may not see.

The URLconf is walked, so a new URL without a row here fails the test.

What a role sees (studio/accounts/roles.py): the owner their own generations; any role the
approved ones (the team gallery); a reviewer every finished one; nobody else anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from studio.review.models import Review
from tests.factories import HTMX, make_generation, make_user

pytestmark = pytest.mark.django_db

ROLES = ("owner", "teammate", "reviewer", "outsider", "anonymous")
LOGIN = 302  # anonymous: LoginRequiredMiddleware sends them to sign in

# Text only some may see. The owner's work: a finished video in review, a running one, an
# approved one (the team's), and (library) a private prompt and preset.
PENDING, RUNNING, APPROVED = "SECRET-PENDING kite", "SECRET-RUNNING heron", "TEAM-APPROVED fox"
PRIVATE_TITLE, PRIVATE_TEXT = "SECRET-TITLE notes", "SECRET-VERSION swans"
PRIVATE_PRESET = "SECRET-PRESET nine"
SEES = {
    "owner": {PENDING, RUNNING, APPROVED, PRIVATE_TITLE, PRIVATE_TEXT, PRIVATE_PRESET},
    "teammate": {APPROVED},
    "reviewer": {PENDING, APPROVED},
    "outsider": set(),
    "anonymous": set(),
}
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(200)


@dataclass
class World:
    users: dict
    pending: object
    running: object
    approved: object
    approved_too: object
    library: dict = field(default_factory=dict)


@pytest.fixture
def world(settings, tmp_path, owner, teammate, reviewer, outsider) -> World:
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "videos").mkdir()
    (tmp_path / "posters").mkdir()
    for name in ("pending", "approved", "approved_too"):
        (tmp_path / "videos" / f"{name}.mp4").write_bytes(VIDEO)
        (tmp_path / "posters" / f"{name}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + name.encode())
    users = {
        "owner": owner,
        "teammate": teammate,
        "reviewer": reviewer,
        "outsider": outsider,
        "anonymous": None,
    }

    def finished(name: str, prompt: str):
        return make_generation(
            owner,
            prompt=prompt,
            status="succeeded",
            video=f"videos/{name}.mp4",
            poster=f"posters/{name}.jpg",
            video_bytes=len(VIDEO),
        )

    world = World(
        users=users,
        pending=finished("pending", PENDING),
        running=make_generation(owner, prompt=RUNNING, status="processing"),
        approved=finished("approved", APPROVED),
        approved_too=finished("approved_too", APPROVED + " two"),
    )
    curator = make_user("cleo", roles=("reviewer",))
    Review.decide(world.approved, curator, "approved", "Good")
    Review.decide(world.approved_too, curator, "approved", "Good")
    if apps.is_installed("studio.library"):
        from studio.library.models import Batch, Preset, Prompt

        prompt = Prompt.objects.create(owner=owner, title=PRIVATE_TITLE)
        version = prompt.add_version(text=PRIVATE_TEXT, author=owner)
        doomed = Prompt.objects.create(owner=owner, title=PRIVATE_TITLE + " (to remove)")
        used = doomed.add_version(text=PRIVATE_TEXT, author=owner)
        # A generation made from it: removing archives the prompt, so it can be restored.
        make_generation(owner, prompt=PRIVATE_TEXT, prompt_version=used)
        world.library = {
            "prompt": prompt,
            "version": version,
            "doomed": doomed,
            "preset": Preset.objects.create(
                owner=owner, name=PRIVATE_PRESET, params={"duration": "10"}
            ),
            "doomed_preset": Preset.objects.create(
                owner=owner, name=PRIVATE_PRESET + " (to delete)", params={"mode": "pro"}
            ),
            "batch": Batch.objects.create(
                owner=owner, template=PRIVATE_TEXT, size=0, prompt_version=version
            ),
        }
    return world


@dataclass
class Case:
    label: str
    path: Callable[[World], str]
    expect: dict  # role -> status code, or a set of acceptable codes
    method: str = "get"
    data: dict | Callable[[World], dict] = field(default_factory=dict)
    headers: dict = field(default_factory=dict)


def codes(owner, teammate, reviewer, outsider, anonymous=LOGIN) -> dict:
    return dict(zip(ROLES, (owner, teammate, reviewer, outsider, anonymous), strict=True))


def gen(name: str, suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"/generations/{getattr(w, name).pk}/{suffix}"


def listing(label: str, page: str, fragment: str, target: str) -> list[Case]:
    """A list every role may read, and the fragment its filters fetch with htmx: the
    fragment answers exactly as its page does."""
    anyone = codes(200, 200, 200, 403)
    headers = {**HTMX, "HTTP_HX_TARGET": target}
    return [
        Case(label, lambda w: page, anyone),
        Case(f"{label} fragment", lambda w: fragment, anyone, headers=headers),
    ]


OK_OR_REDIRECT = {200, 302}
PENDING_VIEW = codes(200, 404, 200, 403)  # a finished video still in review
RUNNING_VIEW = codes(200, 404, 404, 403)  # not finished: its owner only
APPROVED_VIEW = codes(200, 200, 200, 403)  # the team's
NOT_STORED = codes(404, 404, 404, 403)  # nobody gets a file that is not there

CASES: dict[str, list[Case]] = {
    "login": [Case("sign-in page", lambda w: "/login/", codes(200, 200, 200, 200, 200))],
    "logout": [Case("log out needs POST", lambda w: "/logout/", codes(405, 405, 405, 405))],
    "password-change": [Case("change password", lambda w: "/password/", codes(200, 200, 200, 200))],
    "password-change-done": [
        Case("password changed", lambda w: "/password/done/", codes(200, 200, 200, 200))
    ],
    "healthz": [Case("health check", lambda w: "/healthz", codes(200, 200, 200, 200, 200))],
    "kling-callback": [
        Case(
            "webhook with a wrong token",
            lambda w: f"/hooks/kling/{w.running.pk}/wrong-token/",
            codes(404, 404, 404, 404, 404),
            method="post",
        )
    ],
    "studio": [
        Case("studio", lambda w: "/", codes(200, 200, 302, 403)),
        Case("remix in review", lambda w: f"/?remix={w.pending.pk}", codes(200, 404, 302, 403)),
        Case("remix approved", lambda w: f"/?remix={w.approved.pk}", codes(200, 200, 302, 403)),
    ],
    "generation-create": [
        Case(
            "submit (empty prompt: the form again)",
            lambda w: "/generations/new/",
            codes(200, 200, 403, 403),
            method="post",
            data={"prompt": ""},
            headers=HTMX,
        )
    ],
    "queue-updates": [
        # The owner has a running video, so their poll goes on (200); 286 stops it.
        Case("queue poll", lambda w: "/queue/updates/", codes(200, 286, 403, 403), headers=HTMX)
    ],
    "generation-detail": [
        Case("page in review", gen("pending"), PENDING_VIEW),
        Case("page running", gen("running"), RUNNING_VIEW),
        Case("page approved", gen("approved"), APPROVED_VIEW),
        Case(
            "live fragment running",
            gen("running"),
            RUNNING_VIEW,
            headers={**HTMX, "HTTP_HX_TARGET": "generation-live"},
        ),
        Case(
            "live fragment in review",
            gen("pending"),
            PENDING_VIEW,
            headers={**HTMX, "HTTP_HX_TARGET": "generation-live"},
        ),
    ],
    "generation-run-again": [
        Case(
            "run again in review", gen("pending", "run-again/"), codes(302, 404, 403, 403), "post"
        ),
        Case(
            "run again approved", gen("approved", "run-again/"), codes(302, 302, 403, 403), "post"
        ),
    ],
    "generation-video": [
        Case("video in review", gen("pending", "video.mp4"), PENDING_VIEW),
        Case("video approved", gen("approved", "video.mp4"), APPROVED_VIEW),
        Case("video running", gen("running", "video.mp4"), NOT_STORED),
        Case(
            "video download",
            lambda w: f"/generations/{w.pending.pk}/video.mp4?download=1",
            PENDING_VIEW,
        ),
    ],
    "generation-poster": [
        Case("poster in review", gen("pending", "poster.jpg"), PENDING_VIEW),
        Case("poster approved", gen("approved", "poster.jpg"), APPROVED_VIEW),
        Case("poster running", gen("running", "poster.jpg"), NOT_STORED),
    ],
    "history": listing("history", "/history/?view=list", "/history/", "history-results"),
    "compare": [
        Case(
            "compare in review",
            lambda w: f"/compare/?ids={w.pending.pk},{w.approved.pk}",
            codes(200, 404, 200, 403),
        ),
        Case(
            "compare approved",
            lambda w: f"/compare/?ids={w.approved.pk},{w.approved_too.pk}",
            codes(200, 200, 200, 403),
        ),
        Case(
            "compare running",
            lambda w: f"/compare/?ids={w.running.pk},{w.approved.pk}",
            codes(200, 404, 404, 403),
        ),
    ],
    "review": [Case("review queue", lambda w: "/review/", codes(403, 403, 200, 403))],
    "review-generation": [
        Case("review page", lambda w: f"/review/{w.pending.pk}/", codes(403, 403, 200, 403)),
        Case("review running", lambda w: f"/review/{w.running.pk}/", codes(403, 403, 404, 403)),
        Case(
            "review POST without a verdict",
            lambda w: f"/review/{w.pending.pk}/",
            codes(403, 403, 200, 403),
            method="post",
            data={"comment": "hm"},
        ),
    ],
    "gallery": listing("gallery", "/gallery/", "/gallery/?q=fox", "gallery-results"),
    "spend": [Case("spend", lambda w: "/spend/", codes(403, 403, 200, 403))],
    # Retention removes videos: admins only (studio/ops); none of these roles.
    "retention": [
        Case("retention preview", lambda w: "/ops/retention/?days=1", codes(403, 403, 403, 403)),
        Case(
            "retention run",
            lambda w: "/ops/retention/",
            codes(403, 403, 403, 403),
            method="post",
            data={"days": "1"},
        ),
    ],
}

# The library (studio/library): creators only; private prompts and presets to their owner.
LIBRARY_MEMBER = codes(200, 200, 403, 403)


def lib(key: str, suffix: str = "") -> Callable[[World], str]:
    def path(w: World) -> str:
        obj = w.library[key]
        kind = "presets" if "preset" in key else "batches" if key == "batch" else "prompts"
        return f"/library/{kind}/{obj.pk}/{suffix}"

    return path


CASES.update(
    {
        "library": [Case("library", lambda w: "/library/", LIBRARY_MEMBER)],
        "prompt-create": [
            Case("new prompt form", lambda w: "/library/prompts/new/", LIBRARY_MEMBER)
        ],
        "prompt-detail": [Case("private prompt", lib("prompt"), codes(200, 404, 403, 403))],
        "prompt-edit": [
            Case(
                "edit private prompt",
                lib("prompt", "edit/"),
                codes({200, 302, 400}, 404, 403, 403),
                "post",
                data={"title": PRIVATE_TITLE, "text": PRIVATE_TEXT},
            )
        ],
        "prompt-diff": [Case("diff", lib("prompt", "diff/"), codes(200, 404, 403, 403))],
        "prompt-star": [
            Case("star", lib("prompt", "star/"), codes(OK_OR_REDIRECT, 404, 403, 403), "post")
        ],
        "prompt-fork": [Case("fork", lib("prompt", "fork/"), codes(302, 404, 403, 403), "post")],
        "prompt-remove": [
            Case("remove", lib("doomed", "remove/"), codes(302, 404, 403, 403), "post")
        ],
        "prompt-restore": [
            Case("restore", lib("doomed", "restore/"), codes(302, 404, 403, 403), "post")
        ],
        "prompt-export": [Case("export one", lib("prompt", "export/"), codes(200, 404, 403, 403))],
        "presets": [Case("presets", lambda w: "/library/presets/", LIBRARY_MEMBER)],
        "preset-edit": [Case("edit preset", lib("preset"), codes(200, 404, 403, 403))],
        "preset-delete": [
            Case(
                "delete preset", lib("doomed_preset", "delete/"), codes(302, 404, 403, 403), "post"
            )
        ],
        "preset-default": [
            Case("default preset", lib("preset", "default/"), codes(302, 404, 403, 403), "post")
        ],
        "preset-apply": [
            Case(
                "apply a preset to the form",
                lambda w: "/library/presets/apply/",
                codes({200, 400, 404}, {200, 400, 404}, 403, 403),
                "post",
                data=lambda w: {"preset": w.library["preset"].pk},
                headers=HTMX,
            )
        ],
        "batch-preview": [
            Case(
                "batch preview",
                lambda w: "/library/batches/preview/",
                codes(200, 200, 403, 403),
                "post",
                data={"prompt": "A {animal} at dawn", "variables": "animal: fox"},
                headers=HTMX,
            )
        ],
        "batch-create": [
            Case(
                "batch create (nothing to make)",
                lambda w: "/library/batches/new/",
                codes({200, 302, 400}, {200, 302, 400}, 403, 403),
                "post",
                data={"prompt": ""},
            )
        ],
        "batch-detail": [Case("batch", lib("batch"), codes(200, 404, 403, 403))],
        "library-export": [Case("export all", lambda w: "/library/export/", LIBRARY_MEMBER)],
        "library-import": [Case("import form", lambda w: "/library/import/", LIBRARY_MEMBER)],
        "generation-recipe": [
            Case("recipe in review", lambda w: f"/library/recipes/{w.pending.pk}/", PENDING_VIEW),
            Case("recipe running", lambda w: f"/library/recipes/{w.running.pk}/", RUNNING_VIEW),
        ],
        "recipe-run": [
            Case(
                "run a recipe file",
                lambda w: "/library/recipes/run/",
                codes({200, 302, 400}, {200, 302, 400}, 403, 403),
                "post",
            )
        ],
    }
)


def url_names() -> set[str]:
    """Every named URL of the project, the admin's aside (test_admin.py covers it)."""
    found: set[str] = set()

    def walk(patterns, namespace: str | None) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and namespace != "admin":
                assert entry.name, f"an unnamed URL: {entry.pattern}"
                found.add(entry.name)

    walk(get_resolver().url_patterns, None)
    return found


def test_every_url_has_a_row_in_the_matrix() -> None:
    names = url_names()
    missing = names - set(CASES)
    assert not missing, f"URLs without permission cases: {sorted(missing)}"
    assert {"review", "review-generation", "gallery", "spend"} <= names


def run(client, world: World, role: str, case: Case):
    client.logout()
    if world.users[role] is not None:
        client.force_login(world.users[role])
    data = case.data(world) if callable(case.data) else case.data
    return getattr(client, case.method)(case.path(world), data, **case.headers)


def body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_what_it_may(client, world, role) -> None:
    names = url_names()
    problems = []
    hidden = set().union(*SEES.values()) - SEES[role]
    for name, cases in CASES.items():
        if name not in names:
            continue  # e.g. the library while it is not installed
        for case in cases:
            response = run(client, world, role, case)
            wanted = case.expect[role]
            wanted = wanted if isinstance(wanted, set) else {wanted}
            if response.status_code not in wanted:
                problems.append(f"{case.label}: {response.status_code}, expected {wanted}")
            if role == "anonymous" and response.status_code == 302:
                location = response["Location"]
                if not location.startswith("/login/"):
                    problems.append(f"{case.label}: anonymous sent to {location}")
            text = body(response)
            leaked = [secret for secret in hidden if secret in text]
            if leaked:
                problems.append(f"{case.label}: shows {leaked}")
            if response.status_code in (200, 206) and case.label.startswith(("video", "poster")):
                assert role in ("owner", "teammate", "reviewer"), case.label
    assert not problems, f"{role}:\n" + "\n".join(problems)


def test_reviewers_are_sent_to_the_queue_and_teammates_see_only_approved_work(
    client, world
) -> None:
    reviewer = run(client, world, "reviewer", CASES["studio"][0])
    assert reviewer["Location"] == "/review/"
    history = body(run(client, world, "teammate", CASES["history"][0]))
    assert APPROVED in history and PENDING not in history
    queue = body(run(client, world, "reviewer", CASES["review"][0]))
    assert PENDING in queue and RUNNING not in queue
    gallery = body(run(client, world, "teammate", CASES["gallery"][0]))
    assert APPROVED in gallery and f"/generations/{world.approved.pk}/video.mp4" in gallery


def test_the_nav_shows_each_role_only_what_it_may_use(client, world, admin) -> None:
    def nav(role: str) -> str:
        path = "/review/" if role == "reviewer" else "/history/"
        html = body(run(client, world, role, Case(role, lambda w: path, {})))
        return html.split('<ul class="nav-links">')[1].split("</ul>")[0]

    owner = nav("owner")
    assert all(f'href="{url}"' in owner for url in ("/", "/history/", "/gallery/"))
    assert 'href="/review/"' not in owner and 'href="/spend/"' not in owner
    assert 'href="/admin/"' not in owner
    reviewer = nav("reviewer")
    assert 'href="/review/"' in reviewer and 'href="/gallery/"' in reviewer
    assert 'href="/"' not in reviewer and 'href="/spend/"' in reviewer
    assert 'href="/admin/"' in reviewer  # reviewers work in the admin too
    client.force_login(admin)
    admins = client.get("/spend/").content.decode().split('<ul class="nav-links">')[1]
    assert 'href="/spend/"' in admins.split("</ul>")[0]


@pytest.mark.parametrize("role", ROLES)
def test_media_files_are_never_served_from_their_storage_path(client, world, role) -> None:
    client.logout()
    if world.users[role] is not None:
        client.force_login(world.users[role])
    for path in ("/media/videos/pending.mp4", "/media/posters/approved.jpg"):
        response = client.get(path)
        assert response.status_code in (302, 404), (path, response.status_code)
        assert VIDEO not in response.content


def test_an_account_without_a_role_is_told_to_ask_for_one(client, world) -> None:
    client.force_login(world.users["outsider"])
    html = client.get("/").content.decode()
    assert "no role in the studio yet" in html and "Back to the start" not in html
    client.force_login(world.users["reviewer"])
    assert "Your role does not include this page" in client.get("/library/").content.decode()
