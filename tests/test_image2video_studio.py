"""Image-to-video in the studio (issue 14 #5–#7), against the strict simulator over real
HTTP: the form's upload rules (a field error, the rest kept, nothing sent), the body sent
(docs/upstream.md §15.1 exactly), the stored and access-checked pictures, continuing a
shot from a frame of a finished video, and pictures in recipes, history, compare, presets."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from studio.generations import pipeline
from studio.generations.models import Generation, InputImage, Kind, Status
from studio.kling import images
from studio.library.presets import preset_problems
from tests import images as pictures
from tests.drive import drive
from tests.factories import HTMX, make_picture, signed_in, studio_form

pytestmark = pytest.mark.django_db

PROMPT = "The lantern flickers as the camera drifts closer"


def upload(data: bytes, name: str = "still.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/png")


def image_form(**fields) -> dict:
    """What the form posts in image-to-video mode (kling-v2-6 std, 5 s)."""
    base = {"kind": "image2video", "model_name": "kling-v2-6", "prompt": PROMPT, "mode": "std"}
    return studio_form(**{**base, **fields})


def generate(client, **fields):
    return client.post("/generations/new/", image_form(**fields), **HTMX)


def errors_of(response) -> dict[str, str]:
    html = response.content.decode()
    return dict(re.findall(r'id="id_(\w+)_error">([^<]*)<', html))


def in_image_mode(html: str) -> bool:
    return re.search(r'value="image2video"[^>]*checked', html) is not None


def sent_body(simulator) -> dict:
    (task,) = simulator.tasks.values()
    return task


# ---------------------------------------------------------------- the upload's rules


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"GIF89a not really", "not a JPEG or PNG"),
        (b"%PDF-1.4 a document", "not a JPEG or PNG"),
        (pictures.picture(fmt="GIF"), "GIF; use JPEG or PNG"),
        (pictures.picture((299, 600)), "at least 300"),
        (pictures.picture((1000, 399)), "between 1:2.5 and 2.5:1"),
        (pictures.picture((320, 801)), "between 1:2.5 and 2.5:1"),
        (pictures.animated_png(), "animated"),
        (pictures.cmyk_jpeg(), "CMYK"),
        (pictures.bomb_png(), "too many pixels"),
        (pictures.bomb_png(7000), "too many pixels"),
        (pictures.large_png(10.2), "the limit is 10 MB"),
    ],
    ids=[
        "gif-header", "pdf", "gif", "small", "wide", "tall", "animated", "cmyk", "bomb",
        "bomb-7000", "over-10-mb",
    ],
)  # fmt: skip
def test_a_bad_picture_is_a_field_error_the_form_is_kept_and_nothing_is_sent(
    client, owner, upstream, queue, data: bytes, words: str
) -> None:
    response = generate(client, image=upload(data), negative_prompt="no fog")
    assert response.status_code == 200
    assert words in errors_of(response).get("image", "")
    html = response.content.decode()
    assert PROMPT in html and "no fog" in html  # the rest of the form is kept
    assert in_image_mode(html)
    assert not Generation.objects.exists() and not InputImage.objects.exists()
    assert upstream.create_count() == 0 and queue == []


def test_no_picture_at_all_is_a_field_error(client, owner, upstream, queue) -> None:
    response = generate(client)
    assert errors_of(response)["image"] == "Choose a start image."
    assert not Generation.objects.exists()


def test_an_end_image_where_the_mode_takes_none_is_a_field_error(client, owner, upstream) -> None:
    response = generate(
        client, image=upload(pictures.picture()), image_tail=upload(pictures.picture())
    )
    assert "is not supported with image_tail" in errors_of(response)["image_tail"]
    assert not Generation.objects.exists()


def test_an_image_only_model_in_text_mode_says_so(client, owner, upstream) -> None:
    response = client.post(
        "/generations/new/", studio_form(model_name="kling-v1-5", prompt=PROMPT), **HTMX
    )
    assert "from images only" in errors_of(response)["model_name"]


def test_a_good_picture_is_kept_when_another_field_is_refused(client, owner, upstream) -> None:
    response = generate(client, image=upload(pictures.picture()), prompt="x" * 501)
    assert "the limit is 500" in errors_of(response)["prompt"]
    (kept,) = InputImage.objects.all()
    html = response.content.decode()
    assert f'name="image_id" value="{kept.pk}"' in html
    assert f"/generations/images/{kept.pk}/" in html  # shown, so the person sees it is kept
    again = generate(client, image_id=str(kept.pk))
    assert again.status_code == 200 and not errors_of(again)
    assert Generation.objects.get().image == kept


def test_someone_elses_picture_cannot_be_named(client, owner, teammate, upstream) -> None:
    theirs = make_picture(teammate)
    response = generate(client, image_id=str(theirs.pk))
    assert errors_of(response)["image"] == "That picture is gone; choose it again."
    assert not Generation.objects.exists()


# ---------------------------------------------------------------- what is stored and sent


def test_the_picture_is_stored_reencoded_without_exif_and_sent_as_raw_base64(
    client, owner, upstream, queue
) -> None:
    response = generate(client, image=upload(pictures.with_exif((640, 400)), "phone.jpg"))
    assert response.status_code == 200 and not errors_of(response)
    row = Generation.objects.get()
    picture = row.image
    stored = picture.file.read()
    assert b"Secret Camera" not in stored and b"Exif" not in stored
    assert (picture.width, picture.height, picture.format) == (400, 640, "JPEG")  # upright
    assert row.kind == Kind.IMAGE and row.aspect_ratio == ""
    assert row.request_body == {
        "model_name": "kling-v2-6",
        "image": f"studio-image:{picture.pk}",
        "prompt": PROMPT,
        "mode": "std",
        "duration": "5",
        "external_task_id": row.external_task_id,
    }
    pipeline.submit(row.pk)
    task = sent_body(upstream)
    assert task.action == "image2video"
    # §15.1: exactly these fields, in this order; no aspect_ratio, sound or camera.
    assert list(task.params) == ["model_name", "prompt", "mode", "duration", "external_task_id"]
    assert task.image == stored  # raw base64 of our copy, decoded by the simulator


def test_every_field_of_the_form_reaches_the_body(client, owner, upstream, queue) -> None:
    response = generate(
        client,
        model_name="kling-v1-6",
        mode="pro",
        duration="10",
        cfg_scale="0.3",
        negative_prompt="no text",
        aspect_ratio="9:16",
        sound="on",
        camera_type="forward_up",
        image=upload(pictures.picture()),
        image_tail=upload(pictures.picture(color=pictures.BLUE)),
    )
    assert not errors_of(response)
    row = Generation.objects.get()
    pipeline.submit(row.pk)
    task = sent_body(upstream)
    assert task.params == {
        "model_name": "kling-v1-6",
        "prompt": PROMPT,
        "negative_prompt": "no text",
        "mode": "pro",
        "duration": "10",
        "cfg_scale": 0.3,
        "external_task_id": row.external_task_id,
    }
    assert task.image_tail == row.image_tail.file.read()


def test_the_job_runs_to_a_video_that_starts_on_the_picture(client, owner, upstream) -> None:
    generate(client, image=upload(pictures.picture((600, 600), color=pictures.RED)))
    row = drive(Generation.objects.get())
    assert row.status == Status.SUCCEEDED, row.last_error
    assert row.video_width == row.video_height  # the video took the picture's shape
    poster = Image.open(row.poster.open("rb")).convert("RGB")
    corner = poster.getpixel((poster.width - 4, poster.height - 4))
    assert all(abs(a - b) < 50 for a, b in zip(corner, pictures.RED, strict=True))
    page = client.get(row.get_absolute_url()).content.decode()
    assert f"/generations/images/{row.image_id}/" in page
    assert "not sent: the video follows the image" in page


def test_a_picture_that_is_gone_fails_the_job_without_sending(client, owner, upstream) -> None:
    generate(client, image=upload(pictures.picture()))
    row = Generation.objects.get()
    row.image.file.delete(save=False)
    pipeline.submit(row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED and row.error_code == "image_missing"
    assert upstream.create_count() == 0


def test_run_again_and_remix_keep_the_pictures(client, owner, upstream, queue) -> None:
    generate(client, image=upload(pictures.picture()))
    first = Generation.objects.get()
    client.post(f"/generations/{first.pk}/run-again/")
    again = Generation.objects.exclude(pk=first.pk).get()
    assert (again.kind, again.image_id) == (Kind.IMAGE, first.image_id)
    remix = client.get(f"/?remix={first.pk}").content.decode()
    assert f'name="image_id" value="{first.image_id}"' in remix


# ---------------------------------------------------------------- the request size


def test_the_generate_route_takes_two_10_mb_pictures_and_others_keep_their_limit(
    client, owner, settings
) -> None:
    from studio.bodylimit import limit_for

    assert limit_for("/generations/new/") == settings.MAX_UPLOAD_BYTES >= 21 * 1024 * 1024
    assert limit_for("/library/import/") == settings.MAX_REQUEST_BYTES
    over = client.post(
        "/generations/new/", b"x", content_type="text/plain",
        CONTENT_LENGTH=str(settings.MAX_UPLOAD_BYTES + 1),
    )  # fmt: skip
    assert over.status_code == 413
    elsewhere = client.post(
        "/library/import/", b"x", content_type="text/plain",
        CONTENT_LENGTH=str(settings.MAX_REQUEST_BYTES + 1),
    )  # fmt: skip
    assert elsewhere.status_code == 413


def test_two_pictures_near_10_mb_go_through_the_form(client, owner, upstream, queue) -> None:
    big = pictures.large_png(9.3)
    response = generate(client, mode="pro", image=upload(big), image_tail=upload(big, "end.png"))
    assert response.status_code == 200 and not errors_of(response)
    row = Generation.objects.get()
    pipeline.submit(row.pk)
    row.refresh_from_db()
    assert row.status == Status.SUBMITTED, row.last_error


# ---------------------------------------------------------------- continuing a shot


def finished_text_video(client) -> Generation:
    client.post("/generations/new/", studio_form(prompt="A paper boat on a pond"), **HTMX)
    row = drive(Generation.objects.get())
    assert row.status == Status.SUCCEEDED, row.last_error
    return row


def test_continue_from_the_last_frame_opens_the_form_and_links_both_ways(
    client, owner, upstream
) -> None:
    source = finished_text_video(client)
    response = client.post(f"/generations/{source.pk}/continue/", {"at": ""})
    frame = InputImage.objects.get()
    assert response.status_code == 302 and response.url == f"/?image={frame.pk}"
    assert frame.source == source and frame.source_seconds > 4  # the last of a 5 s video
    # The simulator's 320×180 frame is scaled up to Kling's 300 px minimum.
    assert min(frame.width, frame.height) >= images.MIN_SIDE
    assert abs(frame.width / frame.height - 16 / 9) < 0.02
    page = client.get(response.url).content.decode()
    assert in_image_mode(page)
    assert f'name="image_id" value="{frame.pk}"' in page
    assert "A paper boat on a pond" in page  # the source's prompt, to carry on from
    generate(client, prompt="The boat drifts under a bridge", image_id=str(frame.pk))
    shot = Generation.objects.exclude(pk=source.pk).get()
    assert shot.continued_from == source and shot.continued_at == frame.source_seconds
    assert shot.image == frame
    forward = client.get(source.get_absolute_url()).content.decode()
    assert "Continued by" in forward and shot.get_absolute_url() in forward
    back = client.get(shot.get_absolute_url()).content.decode()
    assert f'Continues <a href="{source.get_absolute_url()}"' in back


def test_start_from_this_frame_takes_the_frame_at_the_players_time(client, owner, upstream) -> None:
    source = finished_text_video(client)
    client.post(f"/generations/{source.pk}/continue/", {"at": "1.25"})
    frame = InputImage.objects.get()
    assert 1.0 <= frame.source_seconds <= 1.25  # the frame shown at 1.25 s (10 fps)
    first = InputImage.objects.count()
    client.post(f"/generations/{source.pk}/continue/", {"at": "0"})
    assert InputImage.objects.count() == first + 1
    assert InputImage.objects.order_by("-created_at").first().source_seconds == 0


@pytest.mark.parametrize("at", ["soon", "-1", "nan", "1e309"])
def test_a_bad_time_takes_no_frame(client, owner, upstream, at: str) -> None:
    source = finished_text_video(client)
    response = client.post(f"/generations/{source.pk}/continue/", {"at": at}, follow=True)
    assert "No frame taken" in response.content.decode()
    assert not InputImage.objects.exists()


def test_a_video_not_stored_gives_no_frame(client, owner, upstream) -> None:
    from tests.factories import make_generation

    running = make_generation(owner, status="processing")
    response = client.post(f"/generations/{running.pk}/continue/", follow=True)
    assert "No frame taken" in response.content.decode()


def test_a_teammate_continuing_an_approved_shot_links_to_it(
    client, owner, teammate, upstream
) -> None:
    from studio.review.models import Review
    from tests.factories import make_user

    source = finished_text_video(client)
    Review.decide(source, make_user("rita", roles=("reviewer",)), "approved", "Good")
    theirs = signed_in(teammate)
    response = theirs.post(f"/generations/{source.pk}/continue/")
    frame = InputImage.objects.get()
    assert frame.owner == teammate and response.url == f"/?image={frame.pk}"
    theirs.post("/generations/new/", image_form(image_id=str(frame.pk)), **HTMX)
    shot = Generation.objects.get(owner=teammate)
    assert shot.continued_from == source
    # The owner sees the continuation only if they may see it (a teammate's in review: no).
    assert shot.get_absolute_url() not in client.get(source.get_absolute_url()).content.decode()


# ---------------------------------------------------------------- recipe, history, compare, presets


def test_the_recipe_card_names_the_pictures_and_opens_the_form_with_them(
    client, owner, upstream, queue
):
    generate(client, image=upload(pictures.picture()))
    row = Generation.objects.get()
    card = json.loads(client.get(f"/library/recipes/{row.pk}/").content)
    assert card["kind"] == "image2video"
    assert card["request"]["image"] == f"studio-image:{row.image_id}"
    assert card["images"]["image"] == {
        "id": str(row.image_id),
        "format": "PNG",
        "width": 640,
        "height": 360,
        "bytes": row.image.size,
        "sha256": row.image.sha256,
        "url": f"/generations/images/{row.image_id}/",
    }
    raw = json.dumps(card).encode()
    assert base64.b64encode(row.image.file.read())[:40] not in raw  # a name, never the bytes
    opened = client.post("/library/recipes/run/", {"file": SimpleUploadedFile("r.json", raw)})
    page = opened.content.decode()  # the studio form, prefilled; nothing queued yet
    assert opened.status_code == 200 and in_image_mode(page)
    assert f'name="image_id" value="{row.image_id}"' in page
    assert Generation.objects.count() == 1
    generate(client, image_id=str(row.image_id))
    again = Generation.objects.exclude(pk=row.pk).get()
    assert (
        again.image_id == row.image_id and again.request_body["image"] == card["request"]["image"]
    )


def test_a_recipe_naming_someone_elses_picture_is_refused(client, owner, teammate, upstream):
    theirs = make_picture(teammate)
    card = {
        "format": "kling-prompt-studio.recipe",
        "version": 1,
        "request": {"model_name": "kling-v2-6", "image": f"studio-image:{theirs.pk}"},
    }
    file = SimpleUploadedFile("r.json", json.dumps(card).encode())
    response = client.post("/library/recipes/run/", {"file": file})
    assert "That picture is gone; choose it again." in response.content.decode()
    assert not Generation.objects.exists()


def test_history_filters_text_or_image(client, owner, upstream, queue) -> None:
    generate(client, image=upload(pictures.picture()), prompt="IMAGE-MADE lantern")
    client.post("/generations/new/", studio_form(prompt="TEXT-MADE lantern"), **HTMX)
    by_image = client.get("/history/?kind=image2video").content.decode()
    by_text = client.get("/history/?kind=text2video").content.decode()
    assert "IMAGE-MADE" in by_image and "TEXT-MADE" not in by_image
    assert "TEXT-MADE" in by_text and "IMAGE-MADE" not in by_text


def test_compare_shows_what_each_was_made_from(client, owner, upstream, queue) -> None:
    generate(client, image=upload(pictures.picture()), prompt="from a picture")
    client.post("/generations/new/", studio_form(prompt="from words"), **HTMX)
    image, text = Generation.objects.order_by("-kind")[:2]
    if image.kind != Kind.IMAGE:
        image, text = text, image
    page = client.get(f"/compare/?ids={image.pk},{text.pk}").content.decode()
    assert "Made from" in page and "Image to video" in page and "Text to video" in page
    assert image.image.sha256[:10] in page


def test_presets_never_hold_pictures_and_know_the_image_only_models() -> None:
    assert "cannot hold image" in preset_problems({"image": "x"})[""]
    assert "cannot hold image_tail" in preset_problems({"image_tail": "x"})[""]
    assert preset_problems({"model_name": "kling-v1-5", "mode": "pro"}) == {}
    assert "aspect_ratio" in preset_problems({"model_name": "kling-v2-1", "aspect_ratio": "1:1"})


def test_a_preset_applied_in_image_mode_keeps_the_picture(client, owner, upstream) -> None:
    from tests.factories import make_preset

    preset = make_preset(owner, params={"mode": "pro", "duration": "10"})
    picture = make_picture(owner)
    data = image_form(image_id=str(picture.pk), add_preset=str(preset.pk))
    page = client.post("/library/presets/apply/", data, **HTMX).content.decode()
    assert f'name="image_id" value="{picture.pk}"' in page
    assert re.search(r'<option value="pro" selected', page)


def test_the_picture_file_is_served_to_who_may_see_it(client, owner, outsider) -> None:
    picture = make_picture(owner)
    response = client.get(f"/generations/images/{picture.pk}/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == picture.file.read()
    assert signed_in(outsider).get(f"/generations/images/{picture.pk}/").status_code == 403


def test_prepared_pictures_decode_to_the_upload_pixels() -> None:
    data = pictures.picture((500, 400), color=pictures.BLUE)
    prepared = images.prepare(data)
    original = Image.open(io.BytesIO(data)).convert("RGB")
    again = Image.open(io.BytesIO(prepared.data)).convert("RGB")
    assert original.tobytes() == again.tobytes()  # PNG stays lossless


def test_a_batch_in_image_mode_is_refused_with_the_reason(client, owner, upstream, queue):
    picture = make_picture(owner)
    data = image_form(image_id=str(picture.pk), prompt="A {colour} lantern", var_colour="red\nblue")
    page = client.post("/library/batches/new/", data, **HTMX).content.decode()
    assert "run one at a time, not as a batch" in page
    assert not Generation.objects.exists() and upstream.create_count() == 0


def test_a_job_without_a_prompt_is_named_in_lists_and_headings(client, owner, upstream, queue):
    response = generate(client, prompt="", image=upload(pictures.picture()))
    assert not errors_of(response)
    row = Generation.objects.get()
    assert row.request_body.get("prompt") is None  # §15.1: optional, left out when empty
    for page in ("/", "/history/", row.get_absolute_url()):
        assert "From an image, no prompt" in client.get(page).content.decode(), page
