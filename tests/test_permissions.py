"""The permission matrix: every URL and fragment of the studio, for the owner of the work, a
teammate (another creator), a reviewer, an outsider (signed in, no role) and an anonymous
visitor. Each gets exactly what their role allows; the rest get 403 or 404 (anonymous: the
sign-in page) and never a prompt, a title or a file they may not see.

The URLconf is walked, so a new URL without a row here fails the test.

What a role sees (studio/accounts/roles.py): the owner their own generations; any role the
approved ones (the team gallery); a reviewer every finished one; nobody else anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from studio.review import sharing
from studio.review.models import Comment, Review
from tests.factories import HTMX, make_generation, make_picture, make_user

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
    note: object = None
    pictures: dict = field(default_factory=dict)
    shared: object = None
    share_token: str = ""
    share_video: object = None


@pytest.fixture
def world(settings, tmp_path, owner, teammate, reviewer, outsider) -> World:
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "videos").mkdir()
    (tmp_path / "posters").mkdir()
    for name in ("pending", "approved", "approved_too", "shared"):
        (tmp_path / "videos" / f"{name}.mp4").write_bytes(VIDEO)
        (tmp_path / "posters" / f"{name}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + name.encode())
        (tmp_path / "posters" / f"{name}-1x.jpg").write_bytes(b"\xff\xd8\xff\xe1" + name.encode())
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
            poster_1x=f"posters/{name}-1x.jpg",
            video_bytes=len(VIDEO),
        )

    world = World(
        users=users,
        pending=finished("pending", PENDING),
        running=make_generation(owner, prompt=RUNNING, status="processing"),
        approved=finished("approved", APPROVED),
        approved_too=finished("approved_too", APPROVED + " two"),
    )
    # Pictures: one the approved video starts from, one the one in review, one unused.
    world.pictures = {name: make_picture(owner) for name in ("approved", "pending", "unused")}
    for name in ("approved", "pending"):
        row = getattr(world, name)
        row.kind, row.image = "image2video", world.pictures[name]
        row.save(update_fields=["kind", "image"])
    curator = make_user("cleo", roles=("reviewer",))
    world.note = Comment.objects.create(
        generation=world.pending, author=curator, author_name="cleo", body="Tilt", start_seconds=1
    )
    # Shared outside the studio by a reviewer: a shot link guests may comment through, and
    # a video link (revoked by the matrix: only its maker or an admin may).
    world.shared = finished("shared", "SHARED swallow")
    world.share_token = sharing.create(
        curator, "shot", world.shared.shot_id, days=1, can_comment=True
    )[1]
    world.share_video = sharing.create(curator, "video", world.shared.pk, days=1)[0]
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
        preset = Preset.objects.create(
            owner=owner, name=PRIVATE_PRESET, params={"negative_prompt": PRIVATE_PRESET}
        )
        # The approved video was made from the private version with the private preset:
        # teammates see the video, never the prompt's text or the preset's name and values.
        world.approved.prompt_version, world.approved.presets = version, [preset.record()]
        world.approved.save(update_fields=["prompt_version", "presets"])
        world.library = {
            "prompt": prompt,
            "version": version,
            "doomed": doomed,
            "preset": preset,
            "doomed_preset": Preset.objects.create(
                owner=owner, name=PRIVATE_PRESET + " (to delete)", params={"mode": "pro"}
            ),
            "batch": Batch.objects.create(
                owner=owner,
                template=PRIVATE_TEXT,
                size=0,
                prompt_version=version,
                sweep={"presets": [{"id": preset.pk, "name": PRIVATE_PRESET}]},
            ),
        }
    return world


@dataclass
class Case:
    label: str
    path: str | Callable[[World], str]  # a str is formatted with w=the world
    expect: dict  # role -> status code, or a set of acceptable codes
    method: str = "get"
    data: dict | Callable[[World], dict] = field(default_factory=dict)
    headers: dict = field(default_factory=dict)


def codes(owner, teammate, reviewer, outsider, anonymous=LOGIN) -> dict:
    return dict(zip(ROLES, (owner, teammate, reviewer, outsider, anonymous), strict=True))


def post(label: str, path, expect: dict, data=None, **kwargs) -> Case:
    return Case(label, path, expect, "post", data or {}, **kwargs)


def gen(name: str, suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"/generations/{getattr(w, name).pk}/{suffix}"


def listing(label: str, page: str, fragment: str, target: str) -> list[Case]:
    """A list every role may read, and the fragment its filters fetch with htmx: the
    fragment answers exactly as its page does."""
    anyone = codes(200, 200, 200, 403)
    headers = {**HTMX, "HTTP_HX_TARGET": target}
    return [
        Case(label, page, anyone),
        Case(f"{label} fragment", fragment, anyone, headers=headers),
    ]


OK_OR_REDIRECT = {200, 302}
PENDING_VIEW = codes(200, 404, 200, 403)  # a finished video still in review
OWNER_VIEW = codes(200, 404, 404, 403)  # its owner's only
RUNNING_VIEW = OWNER_VIEW  # not finished: its owner only
APPROVED_VIEW = codes(200, 200, 200, 403)  # the team's
NOT_STORED = codes(404, 404, 404, 403)  # nobody gets a file that is not there
# The studio page sends reviewers to their queue; creators start from what they may see.
STUDIO_OWN, STUDIO_TEAM = codes(200, 404, 302, 403), codes(200, 200, 302, 403)
REVIEWERS = codes(403, 403, 200, 403)  # reviewers' pages
ANYONE = codes(200, 200, 200, 200, 200)  # signed in or not
NOBODY = codes(404, 404, 404, 404, 404)
A_NOTE = {"body": "A note", "start_seconds": "1"}
# The take a guest's link shares, and one it does not.
TAKE, NOT_SHARED = "/s/{w.share_token}/v/{w.shared.pk}/", "/s/{w.share_token}/v/{w.pending.pk}/"
LIVE = {**HTMX, "HTTP_HX_TARGET": "generation-live"}  # the detail page's live fragment

CASES: dict[str, list[Case]] = {
    "login": [Case("sign-in page", "/login/", ANYONE)],
    "logout": [Case("log out needs POST", "/logout/", codes(405, 405, 405, 405))],
    "password-change": [Case("change password", "/password/", codes(200, 200, 200, 200))],
    "password-change-done": [
        Case("password changed", "/password/done/", codes(200, 200, 200, 200))
    ],
    "healthz": [Case("health check", "/healthz", ANYONE)],
    "kling-callback": [
        post("webhook with a wrong token", "/hooks/kling/{w.running.pk}/wrong-token/", NOBODY)
    ],
    "studio": [
        Case("studio", "/", STUDIO_TEAM),
        Case("remix in review", "/?remix={w.pending.pk}", STUDIO_OWN),
        Case("remix approved", "/?remix={w.approved.pk}", STUDIO_TEAM),
        Case("start from an unused picture", "/?image={w.pictures[unused].pk}", STUDIO_OWN),
        Case(
            "start from the approved video's picture",
            "/?image={w.pictures[approved].pk}",
            STUDIO_TEAM,
        ),
    ],
    "input-image": [
        Case("picture unused", "/generations/images/{w.pictures[unused].pk}/", OWNER_VIEW),
        Case("picture in review", "/generations/images/{w.pictures[pending].pk}/", PENDING_VIEW),
        Case("picture approved", "/generations/images/{w.pictures[approved].pk}/", APPROVED_VIEW),
    ],
    "generation-archive": [
        # Its owner only: others who may see the video still get a 404 (owned_by).
        Case("archive in review", gen("pending", "archive/"), codes(302, 404, 404, 403), "post"),
        Case("archive approved", gen("approved", "archive/"), codes(302, 404, 404, 403), "post"),
        Case("archive running", gen("running", "archive/"), codes(302, 404, 404, 403), "post"),
    ],
    "generation-continue": [
        # The test videos are not playable, so the owner is sent back with a message.
        post("continue in review", gen("pending", "continue/"), codes(302, 404, 403, 403)),
        post("continue approved", gen("approved", "continue/"), codes(302, 302, 403, 403)),
    ],
    "generation-create": [
        post(
            "submit (empty prompt: the form again)",
            "/generations/new/",
            codes(200, 200, 403, 403),
            {"prompt": ""},
            headers=HTMX,
        )
    ],
    "queue-updates": [
        # The owner has a running video, so their poll goes on (200); 286 stops it.
        Case("queue poll", "/queue/updates/", codes(200, 286, 403, 403), headers=HTMX)
    ],
    "generation-detail": [
        Case("page in review", gen("pending"), PENDING_VIEW),
        Case("page running", gen("running"), RUNNING_VIEW),
        Case("page approved", gen("approved"), APPROVED_VIEW),
        Case("live fragment running", gen("running"), RUNNING_VIEW, headers=LIVE),
        Case("live fragment in review", gen("pending"), PENDING_VIEW, headers=LIVE),
    ],
    "generation-run-again": [
        post("run again in review", gen("pending", "run-again/"), codes(302, 404, 403, 403)),
        post("run again approved", gen("approved", "run-again/"), codes(302, 302, 403, 403)),
    ],
    "generation-video": [
        Case("video in review", gen("pending", "video.mp4"), PENDING_VIEW),
        Case("video approved", gen("approved", "video.mp4"), APPROVED_VIEW),
        Case("video running", gen("running", "video.mp4"), NOT_STORED),
        Case("video download", "/generations/{w.pending.pk}/video.mp4?download=1", PENDING_VIEW),
    ],
    "generation-poster": [
        Case("poster in review", gen("pending", "poster.jpg"), PENDING_VIEW),
        Case("poster approved", gen("approved", "poster.jpg"), APPROVED_VIEW),
        Case("poster running", gen("running", "poster.jpg"), NOT_STORED),
    ],
    "generation-poster-1x": [
        Case("poster 1x in review", gen("pending", "poster-1x.jpg"), PENDING_VIEW),
        Case("poster 1x approved", gen("approved", "poster-1x.jpg"), APPROVED_VIEW),
        Case("poster 1x running", gen("running", "poster-1x.jpg"), NOT_STORED),
    ],
    "history": listing("history", "/history/?view=list", "/history/", "history-results"),
    "compare": [
        Case("compare in review", "/compare/?ids={w.pending.pk},{w.approved.pk}", PENDING_VIEW),
        Case(
            "compare approved", "/compare/?ids={w.approved.pk},{w.approved_too.pk}", APPROVED_VIEW
        ),
        Case("compare running", "/compare/?ids={w.running.pk},{w.approved.pk}", RUNNING_VIEW),
    ],
    # Everyone signed in: their own jobs only (200 while one runs, else 286), and no tile
    # of the owner's (the walk checks that no private text shows).
    "activity": [
        Case(
            "nav activity watching the owner's job",
            "/activity/?watch={w.running.pk}",
            codes(200, {200, 286}, {200, 286}, 286),
        )
    ],
    "review": [Case("review queue", "/review/", REVIEWERS)],
    "review-generation": [
        Case("review page", "/review/{w.pending.pk}/", REVIEWERS),
        Case("review running", "/review/{w.running.pk}/", codes(403, 403, 404, 403)),
        post(
            "review POST without a verdict", "/review/{w.pending.pk}/", REVIEWERS, {"comment": "hm"}
        ),
    ],
    # Comments on the timeline: the video's creator and reviewers; a teammate who sees an
    # approved video may read its comments, not write them.
    "comment-create": [
        post(
            "comment in review",
            "/review/{w.pending.pk}/comments/",
            codes(302, 404, 302, 403),
            A_NOTE,
        ),
        post(
            "comment approved",
            "/review/{w.approved.pk}/comments/",
            codes(302, 403, 302, 403),
            A_NOTE,
        ),
        post(
            "comment running", "/review/{w.running.pk}/comments/", codes(404, 404, 404, 403), A_NOTE
        ),
    ],
    "comment-edit": [
        post(
            "edit a reviewer's comment",
            "/review/comments/{w.note.pk}/edit/",
            codes(302, 404, 302, 403),
            {"body": "Tilt"},
        )
    ],
    "comment-resolve": [
        post(
            "resolve a thread",
            "/review/comments/{w.note.pk}/resolve/",
            codes(302, 404, 302, 403),
            {"resolved": "1"},
        )
    ],
    "shot-detail": [
        Case("shot in review", "/shots/{w.pending.shot_id}/", PENDING_VIEW),
        Case("shot running", "/shots/{w.running.shot_id}/", RUNNING_VIEW),
        Case("shot approved", "/shots/{w.approved.shot_id}/", APPROVED_VIEW),
    ],
    # Share links: reviewers and admins make and revoke them; a guest (anyone, signed in or
    # not) reaches exactly what the token shares.
    "share-create": [
        Case("share a video in review", "/review/share/?kind=video&id={w.pending.pk}", REVIEWERS),
        Case(
            "share a running video",
            "/review/share/?kind=video&id={w.running.pk}",
            codes(403, 403, 404, 403),
        ),
        post(
            "share with bad terms",
            "/review/share/?kind=video&id={w.pending.pk}",
            codes(403, 403, 400, 403),
            {"days": "0"},
        ),
    ],
    "shares": [Case("share links", "/review/shares/", REVIEWERS)],
    "share-revoke": [
        post(
            "revoke another reviewer's link",
            "/review/shares/{w.share_video.pk}/revoke/",
            codes(403, 403, 404, 403),
        )
    ],
    "shared": [
        Case("shared shot", "/s/{w.share_token}/", ANYONE),
        Case("unknown token", "/s/not-a-token/", NOBODY),
    ],
    "shared-video": [
        Case("shared take", TAKE, ANYONE),
        Case("a video the link does not share", NOT_SHARED, NOBODY),
    ],
    "shared-comment": [
        post(
            "guest comment without a name",
            TAKE + "comments/",
            codes(400, 400, 400, 400, 400),
            {"body": "Nice", "start_seconds": "1"},
        )
    ],
    "shared-video-file": [
        Case("shared video file", TAKE + "video.mp4", ANYONE),
        Case("another video's file", NOT_SHARED + "video.mp4", NOBODY),
    ],
    "shared-poster": [Case("shared poster", TAKE + "poster.jpg", ANYONE)],
    "shared-poster-1x": [Case("shared poster 1x", TAKE + "poster-1x.jpg", ANYONE)],
    "review-news": [Case("review news", "/review/news/", codes(200, 200, 200, 403))],
    "review-bulk": [
        post(
            "bulk approve nothing ticked",
            "/review/bulk/",
            codes(403, 403, 302, 403),
            {"verdict": "approved"},
        ),
        post(
            "bulk approve a running video",
            "/review/bulk/",
            codes(403, 403, 302, 403),
            lambda w: {"verdict": "approved", "ids": [w.running.pk]},
        ),
    ],
    "gallery": listing("gallery", "/gallery/", "/gallery/?q=fox", "gallery-results"),
    "spend": [Case("spend", "/spend/", REVIEWERS)],
    # The health page: admins only (studio/ops); none of these roles.
    "health": [Case("health page", "/ops/health/", codes(403, 403, 403, 403))],
    # Retention removes videos: admins only (studio/ops); none of these roles.
    "retention": [
        Case("retention preview", "/ops/retention/?days=1", codes(403, 403, 403, 403)),
        post("retention run", "/ops/retention/", codes(403, 403, 403, 403), {"days": "1"}),
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
        "library": [Case("library", "/library/", LIBRARY_MEMBER)],
        "prompt-create": [Case("new prompt form", "/library/prompts/new/", LIBRARY_MEMBER)],
        "prompt-detail": [Case("private prompt", lib("prompt"), codes(200, 404, 403, 403))],
        "prompt-edit": [
            post(
                "edit private prompt",
                lib("prompt", "edit/"),
                codes({200, 302, 400}, 404, 403, 403),
                {"title": PRIVATE_TITLE, "text": PRIVATE_TEXT},
            )
        ],
        "prompt-diff": [Case("diff", lib("prompt", "diff/"), codes(200, 404, 403, 403))],
        "prompt-star": [post("star", lib("prompt", "star/"), codes(OK_OR_REDIRECT, 404, 403, 403))],
        "prompt-fork": [post("fork", lib("prompt", "fork/"), codes(302, 404, 403, 403))],
        "prompt-remove": [post("remove", lib("doomed", "remove/"), codes(302, 404, 403, 403))],
        "prompt-restore": [post("restore", lib("doomed", "restore/"), codes(302, 404, 403, 403))],
        "prompt-export": [Case("export one", lib("prompt", "export/"), codes(200, 404, 403, 403))],
        "presets": [Case("presets", "/library/presets/", LIBRARY_MEMBER)],
        "preset-edit": [Case("edit preset", lib("preset"), codes(200, 404, 403, 403))],
        "preset-delete": [
            post("delete preset", lib("doomed_preset", "delete/"), codes(302, 404, 403, 403))
        ],
        "preset-default": [
            post("default preset", lib("preset", "default/"), codes(302, 404, 403, 403))
        ],
        "preset-apply": [
            post(
                "apply a preset to the form",
                "/library/presets/apply/",
                codes({200, 400, 404}, {200, 400, 404}, 403, 403),
                lambda w: {"preset": w.library["preset"].pk},
                headers=HTMX,
            )
        ],
        "batch-preview": [
            post(
                "batch preview",
                "/library/batches/preview/",
                codes(200, 200, 403, 403),
                {"prompt": "A {animal} at dawn", "variables": "animal: fox"},
                headers=HTMX,
            )
        ],
        "batch-create": [
            post(
                "batch create (nothing to make)",
                "/library/batches/new/",
                codes({200, 302, 400}, {200, 302, 400}, 403, 403),
                {"prompt": ""},
            )
        ],
        "batch-detail": [Case("batch", lib("batch"), codes(200, 404, 403, 403))],
        "library-export": [Case("export all", "/library/export/", LIBRARY_MEMBER)],
        "library-import": [Case("import form", "/library/import/", LIBRARY_MEMBER)],
        "generation-recipe": [
            Case("recipe in review", "/library/recipes/{w.pending.pk}/", PENDING_VIEW),
            Case("recipe running", "/library/recipes/{w.running.pk}/", RUNNING_VIEW),
            Case("recipe approved", "/library/recipes/{w.approved.pk}/", APPROVED_VIEW),
        ],
        "import-file": [
            Case(
                "import a file of either kind (none sent: the form again)",
                lambda w: "/library/import/file/",
                codes(200, 200, 403, 403),
                "post",
            )
        ],
        "recipe-run": [
            post(
                "run a recipe file",
                "/library/recipes/run/",
                codes({200, 302, 400}, {200, 302, 400}, 403, 403),
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
    path = case.path.format(w=world) if isinstance(case.path, str) else case.path(world)
    return getattr(client, case.method)(path, data, **case.headers)


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
        html = body(run(client, world, role, Case(role, path, {})))
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


# ---------------------------------------------------------------------------- the admin
# Every ModelAdmin, for each person, on one row (mostly the owner's private one): may they
# see it in the changelist, open, change or delete it, or touch it with a bulk action?
# Here the owner and the teammate are creators who also review: staff, so the admin opens
# for them (plain creators never reach it: tests/test_admin.py). The admin has the admin
# role; the superuser is Django's. The studio's rules hold for all of them.

ADMIN_ROLES = ("owner", "teammate", "reviewer", "admin", "superuser", "outsider", "anonymous")
SIGN_IN, DENIED = "sign-in", "denied"  # sent to the admin's sign-in page; 403 on the model
# Any other expectation is the rights on the row: "" = not there for them (absent from the
# changelist, 404), "v" see it, "c" change it, "d" delete it, "a" open the add page.
SECRET_TAG = "secret-tag-otter"
ADMIN_SEES = {
    "owner": {PENDING, RUNNING, APPROVED, PRIVATE_TITLE, PRIVATE_TEXT, PRIVATE_PRESET, SECRET_TAG},
    "teammate": {PENDING, APPROVED},
    "reviewer": {PENDING, APPROVED},
    # Every generation (so the private version's text they were made from) and every batch,
    # but no one's private prompt, preset or tag.
    "admin": {PENDING, RUNNING, APPROVED, PRIVATE_TEXT},
    "superuser": {PENDING, RUNNING, APPROVED, PRIVATE_TEXT},
    "outsider": set(),
    "anonymous": set(),
}


@dataclass
class AdminCase:
    model: str  # app_label.ModelName
    label: str
    row: str | Callable[[World], object]  # a str names a row of world.library
    expect: dict  # role -> SIGN_IN, DENIED or the rights

    def the_row(self, world: World):
        return world.library[self.row] if isinstance(self.row, str) else self.row(world)


def rights(owner, teammate, reviewer, admin, superuser) -> dict:
    people = (owner, teammate, reviewer, admin, superuser, SIGN_IN, SIGN_IN)
    return dict(zip(ADMIN_ROLES, people, strict=True))


def admins(admin: str, superuser: str | None = None) -> dict:
    """Rights for the admin and the superuser (the same unless said); the rest denied."""
    return rights(DENIED, DENIED, DENIED, admin, superuser or admin)


ADMINS_ONLY = admins("avcd")
SUPERUSERS_ONLY = admins(DENIED, "vcd")
PRIVATE_ROW = rights("vd", "", DENIED, "", "")  # the owner's alone: others do not see it
OWNERS = rights("avcd", "a", DENIED, "a", "a")  # the owner's; others may add their own
TEAMS = rights("avcd", "av", DENIED, "av", "av")  # the owner's, shared with the team

ADMIN_CASES = [
    AdminCase("library.Prompt", "private prompt", "prompt", OWNERS),
    AdminCase("library.Prompt", "team prompt", "team_prompt", TEAMS),
    AdminCase("library.PromptVersion", "private version", "version", PRIVATE_ROW),
    AdminCase("library.Preset", "private preset", "preset", OWNERS),
    AdminCase("library.Preset", "team preset", "team_preset", TEAMS),
    AdminCase("library.Batch", "batch", "batch", rights("v", "", DENIED, "v", "v")),
    AdminCase("library.Tag", "tag of a private prompt", "tag", rights("v", "", DENIED, "", "")),
    AdminCase("library.Star", "star on a private prompt", "star", PRIVATE_ROW),
    AdminCase("library.DefaultPreset", "private default preset", "default", PRIVATE_ROW),
    AdminCase(
        "generations.Generation",
        "running video",
        lambda w: w.running,
        rights("v", "", "", "vd", "vd"),
    ),
    AdminCase(
        "generations.Generation",
        "approved video",
        lambda w: w.approved,
        rights("v", "v", "v", "vd", "vd"),
    ),
    AdminCase(
        "review.Review", "a verdict", lambda w: w.approved.review, rights("v", "v", "v", "vd", "vd")
    ),
    AdminCase("review.Budget", "a budget", "budget", ADMINS_ONLY),
    AdminCase("review.AuditEntry", "an audit entry", "entry", admins("v")),
    AdminCase("auth.User", "a superuser", "boss", admins("av", "avcd")),
    AdminCase("auth.User", "a creator", lambda w: w.users["owner"], ADMINS_ONLY),
    AdminCase("auth.Group", "a role", "group", ADMINS_ONLY),
    AdminCase("axes.AccessAttempt", "a failed sign-in", "attempt", admins("vcd")),
    AdminCase("axes.AccessLog", "a sign-in", "access", admins("vcd")),
    AdminCase("axes.AccessFailureLog", "a sign-in failure", "failure", admins("vcd")),
    AdminCase("ops.Backup", "a backup", "backup", admins("vd")),
    AdminCase("django_q.Schedule", "the watchdog", "schedule", admins(DENIED, "avcd")),
    AdminCase("django_q.Success", "a finished task", "success", SUPERUSERS_ONLY),
    AdminCase("django_q.Failure", "a failed task", "failed", SUPERUSERS_ONLY),
    AdminCase("django_q.OrmQ", "a queued task", "queued", SUPERUSERS_ONLY),
]


@pytest.fixture
def admin_world(world, admin) -> World:
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.auth.models import Group
    from django.utils import timezone
    from django_q.models import Failure, OrmQ, Schedule, Success

    from studio.library.models import DefaultPreset, Preset, Prompt, Star
    from studio.ops.models import Backup
    from studio.review.models import AuditEntry, Budget
    from tests.factories import give_roles

    owner, teammate = world.users["owner"], world.users["teammate"]
    for creator in (owner, teammate):
        give_roles(creator, "creator", "reviewer")
    boss = make_user("boss", roles=(), is_superuser=True, is_staff=True)
    world.users.update(admin=admin, superuser=boss)
    prompt = world.library["prompt"]
    prompt.set_tags([SECRET_TAG])
    team_prompt = Prompt.objects.create(owner=owner, title="Team heron", visibility="team")
    team_prompt.add_version(text="A heron at the team's pond", author=owner)
    now, sign_in = timezone.now(), {"user_agent": "ua", "ip_address": "10.0.0.9", "username": "x"}
    sign_in.update(http_accept="*/*", path_info="/login/")
    task = {"name": "sweep-1", "func": "math.floor", "started": now, "stopped": now}
    world.library.update(
        team_prompt=team_prompt,
        team_preset=Preset.objects.create(
            owner=owner, name="Team wide", visibility="team", params={"aspect_ratio": "1:1"}
        ),
        tag=prompt.tags.get(),
        star=Star.objects.create(user=owner, prompt=prompt),
        default=DefaultPreset.objects.create(user=owner, preset=world.library["preset"]),
        budget=Budget.objects.create(user=owner, monthly_units=10),
        entry=AuditEntry.objects.create(action="test.entry", actor_name="x"),
        boss=boss,
        group=Group.objects.get(name="creator"),
        attempt=AccessAttempt.objects.create(**sign_in, failures_since_start=1),
        access=AccessLog.objects.create(**sign_in),
        failure=AccessFailureLog.objects.create(**sign_in, locked_out=False),
        schedule=Schedule.objects.first(),
        success=Success.objects.create(id="a" * 32, success=True, **task),
        failed=Failure.objects.create(id="b" * 32, success=False, **task),
        queued=OrmQ.objects.create(key="studio", payload="x", lock=now),
        backup=Backup.objects.create(path="/backups/one", ok=True, files=3),
    )
    assert world.library["schedule"] is not None  # the watchdog (a data migration)
    assert Success.objects.count() == 1
    return world


def admin_url(row, view: str = "change") -> str:
    from django.urls import reverse

    meta = row._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[row.pk])


def changelist(row) -> str:
    from django.urls import reverse

    return reverse(f"admin:{row._meta.app_label}_{row._meta.model_name}_changelist")


def state(row) -> str:
    """The row as stored (and, for a video, its verdicts): what a refused action leaves."""
    from django.core import serializers

    stored = row._meta.model._base_manager.filter(pk=row.pk)
    text = serializers.serialize("json", stored)
    if row._meta.label == "generations.Generation":
        text += str(list(row.decisions.values_list("verdict", flat=True)))
    return text


def test_every_admin_has_a_row_in_the_matrix() -> None:
    from django.contrib import admin as django_admin

    registered = {model._meta.label for model in django_admin.site._registry}
    missing = registered - {case.model for case in ADMIN_CASES}
    assert not missing, f"ModelAdmins without permission cases: {sorted(missing)}"


def registered(case: AdminCase) -> bool:
    from django.contrib import admin as django_admin

    return django_admin.site.is_registered(apps.get_model(case.model))


@pytest.mark.parametrize("role", ADMIN_ROLES)
def test_each_role_gets_exactly_what_it_may_in_the_admin(client, admin_world, role) -> None:
    client.logout()
    if admin_world.users[role] is not None:
        client.force_login(admin_world.users[role])
    hidden = set().union(*ADMIN_SEES.values()) - ADMIN_SEES[role]
    problems: list[str] = []
    for case in ADMIN_CASES:
        if registered(case):
            problems += check_admin_case(client, case, case.the_row(admin_world), role, hidden)
    assert not problems, f"{role}:\n" + "\n".join(problems)


def check_admin_case(client, case: AdminCase, row, role: str, hidden: set[str]) -> list[str]:
    expect, where = case.expect[role], f"{case.model} {case.label}"
    pages = {view: admin_url(row, view) for view in ("change", "delete", "history")}
    pages["list"], pages["add"] = changelist(row), changelist(row).rstrip("/") + "/add/"
    if expect == SIGN_IN:
        found = [(v, client.get(url)) for v, url in pages.items()]
        return [
            f"{where} {view}: {r.status_code} to {r.get('Location')}"
            for view, r in found
            if r.status_code != 302 or not r["Location"].startswith(("/admin/login/", "/login/"))
        ]
    got = {view: client.get(url) for view, url in pages.items()}
    problems = [
        f"{where} {view}: shows {sorted(s for s in hidden if s in body(r))}"
        for view, r in got.items()
        if any(secret in body(r) for secret in hidden)
    ]
    if expect == DENIED:
        wanted = {
            "list": {403},
            "add": {403},
            **dict.fromkeys(("change", "delete", "history"), {403, 404}),
        }
    else:
        seen = "v" in expect
        wanted = {
            "list": {200},
            "add": {200} if "a" in expect else {403},
            "change": {200} if seen else {404},
            "history": {200} if seen else {404},
            "delete": {200} if "d" in expect else {403} if seen else {404},
        }
        listed = pages["change"] in body(got["list"])
        if got["list"].status_code == 200 and listed != seen:
            problems.append(f"{where}: {'in' if listed else 'not in'} the changelist")
        editable = 'name="_save"' in body(got["change"])
        if seen and editable != ("c" in expect):
            problems.append(f"{where}: change form {'editable' if editable else 'read-only'}")
    problems += [
        f"{where} {view}: {got[view].status_code}, expected {codes}"
        for view, codes in wanted.items()
        if got[view].status_code not in codes
    ]
    return problems + refused_writes(client, where, expect, row, pages)


def refused_writes(client, where: str, expect: str, row, pages: dict) -> list[str]:
    """What they may not do, tried: a change, a delete, every bulk action. The row stays."""
    before, problems = state(row), []
    if expect == DENIED or "c" not in expect:
        code = client.post(pages["change"], {}).status_code
        if code not in (403, 404):
            problems.append(f"{where}: change POST {code}")
    if expect == DENIED or "d" not in expect:
        code = client.post(pages["delete"], {"post": "yes"}).status_code
        if code not in (403, 404):
            problems.append(f"{where}: delete POST {code}")
    actions = ["delete_selected"]
    if expect != DENIED:
        listed = body(client.get(pages["list"]))
        actions += re.findall(r'<option value="(\w+)">', listed.split('name="action"', 1)[-1])
    for action in dict.fromkeys(actions):
        if action == "delete_selected" and expect != DENIED and "d" in expect:
            continue  # they may: not tried here (tests/test_admin.py)
        if action != "delete_selected" and expect != "":
            continue  # another action on a row they may see may well change it
        data = {"action": action, "_selected_action": [row.pk], "post": "yes", "index": 0}
        code = client.post(pages["list"], data).status_code
        if code not in ((403,) if expect == DENIED else (200, 302)):
            problems.append(f"{where}: bulk {action}: {code}")
    if state(row) != before:
        problems.append(f"{where}: changed by what they may not do")
    return problems
