"""Plain factory functions for tests: users, generations, library prompts and presets."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from studio.generations.models import Generation
from studio.kling.capabilities import build_body
from studio.kling.types import Task, TaskStatus, Video

# What htmx sends with each request it makes: `client.get(url, **HTMX)`.
HTMX = {"HTTP_HX_REQUEST": "true"}

# A valid text2video request: what make_generation records and studio_form posts unless told.
PARAMS = {
    "model_name": "kling-v1-6",
    "prompt": "A red fox runs through fresh snow at dawn",
    "negative_prompt": "",
    "mode": "std",
    "duration": "5",
    "aspect_ratio": "16:9",
}


def make_user(username: str = "creator", roles: tuple[str, ...] | None = None, **kw):
    """A user; new accounts are creators (studio/review/signals.py) unless `roles` names
    the groups to be in instead ("creator", "reviewer", "admin"; () for no role at all)."""
    password = kw.pop("password", "a-long-test-password")
    user = get_user_model().objects.create_user(username=username, password=password, **kw)
    if roles is not None:
        give_roles(user, *roles)
    return user


def give_roles(user, *roles: str):
    """Put `user` in exactly these role groups (reviewers and admins become staff)."""
    from django.contrib.auth.models import Group

    user.groups.set(Group.objects.filter(name__in=roles))
    user.refresh_from_db(fields=["is_staff"])  # reviewers and admins became staff
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)
    return user


def signed_in(user) -> Client:
    """A browser of its own, signed in as `user` (the `client` fixture is the owner's)."""
    browser = Client()
    browser.force_login(user)
    return browser


def make_generation(owner, **kw) -> Generation:
    """A Generation row written directly (no upstream call); any field can be given."""
    params = {name: kw.pop(name, default) for name, default in PARAMS.items()}
    external_task_id = kw.pop("external_task_id", f"ps-{uuid.uuid4().hex}")
    body = {**build_body(params), "external_task_id": external_task_id}
    fields = {**params, "request_body": body, "external_task_id": external_task_id, **kw}
    return Generation.objects.create(owner=owner, **fields)


def studio_form(**fields) -> dict:
    """What the studio's generate form posts: a valid kling-v1-6 request with a new
    client_request_id, as each render carries; `fields` change or add any field."""
    return {
        **PARAMS,
        "cfg_scale": "",
        "camera_type": "",
        "client_request_id": str(uuid.uuid4()),
        **fields,
    }


def make_task(status: str = "processing", task_id: str = "880000000000000123", **kw) -> Task:
    """An upstream answer as the client returns it; `status` is the upstream's own string
    ("submitted", "processing", "succeed", "failed"), `video_url` gives it a video."""
    url = kw.pop("video_url", "")
    videos = (Video(id="video-1", url=url),) if url else ()
    return Task(
        task_id=task_id, status=TaskStatus.parse(status), raw_status=status, videos=videos, **kw
    )


def finish(generation: Generation, units: Decimal | None = None) -> Generation:
    """Take `generation` through storing to succeeded by its transitions, the upstream
    reporting `units` charged; nothing is downloaded and no file names are set."""
    from studio.generations.media import StoredMedia

    url = "https://cdn.example-kling.test/out/video-1.mp4"
    task = make_task("succeed", video_url=url, final_unit_deduction=units)
    assert generation.mark_storing(task, next_poll_at=timezone.now())
    stored = StoredMedia(
        video="", poster="", size=0, sha256="", seconds=None, width=None, height=None
    )
    assert generation.mark_succeeded(stored)
    return generation


def make_prompt(owner, title: str = "Fox at dawn", text: str = "A red fox in snow", **kw):
    """A library prompt with one version (studio/library); `visibility`, `tags`,
    `negative_prompt` and `notes` may be given."""
    from studio.library.models import Prompt

    prompt = Prompt.objects.create(
        owner=owner, title=title, visibility=kw.pop("visibility", "private")
    )
    prompt.set_tags(kw.pop("tags", []))
    prompt.add_version(text=text, author=owner, **kw)
    return prompt


def make_preset(owner, name: str = "Vertical", params: dict | None = None, **kw):
    from studio.library.models import Preset

    params = {"aspect_ratio": "9:16"} if params is None else params
    return Preset.objects.create(owner=owner, name=name, params=params, **kw)


def make_picture(owner, data: bytes | None = None, **kw):
    """An InputImage saved as the studio saves an upload (checked, re-encoded, stored);
    `data` is the file's bytes (a 640×360 red PNG by default); `kw` sets source etc."""
    from studio.generations import pictures
    from studio.kling import images
    from tests.images import picture

    return pictures.save(owner, images.prepare(data or picture()), **kw)
