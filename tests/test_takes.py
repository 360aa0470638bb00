"""Takes of a shot: run again and remix make the next take of the same shot, the shot page
stacks them newest first with their numbers and verdicts and compares any two; notes become
retakes: Remix from a "changes requested" note shows the note beside the form, the new take
links to it, and the thread closes when a later take is approved."""

from __future__ import annotations

import importlib
import threading

import pytest
from django.apps import apps as global_apps
from django.db import connection, transaction
from django.utils import timezone

from studio.generations.models import Generation, Shot
from studio.review.models import Comment, Retake, Review, Verdict
from tests.factories import make_generation, studio_form

pytestmark = pytest.mark.django_db


def finished(owner, **kw):
    kw.setdefault("finished_at", timezone.now())
    kw.setdefault("video", "videos/v.mp4")
    return make_generation(owner, status="succeeded", **kw)


def test_every_generation_starts_a_shot_and_run_again_makes_its_next_take(
    client, owner, queue
) -> None:
    first = finished(owner)
    assert first.shot is not None and first.take == 1
    client.post(f"/generations/{first.pk}/run-again/")
    client.post(f"/generations/{first.pk}/run-again/")
    takes = list(Generation.objects.filter(shot=first.shot).order_by("take"))
    assert [take.take for take in takes] == [1, 2, 3]
    assert Shot.objects.get().takes_made == 3
    page = client.get(f"/generations/{takes[2].pk}/").content.decode()
    assert "Take 3 of a shot with 3 takes" in page
    assert f"/shots/{first.shot_id}/" in page


def test_a_remix_is_the_next_take_of_the_remixed_shot(client, owner, queue) -> None:
    first = finished(owner)
    form = client.get("/", {"remix": first.pk}).content.decode()
    assert f'name="take_of" value="{first.pk}"' in form
    client.post("/generations/new/", studio_form(prompt="A fox, slower", take_of=str(first.pk)))
    remix = Generation.objects.get(prompt="A fox, slower")
    assert (remix.shot_id, remix.take) == (first.shot_id, 2)
    # Without take_of a generation starts a shot of its own.
    client.post("/generations/new/", studio_form(prompt="Something new"))
    assert Generation.objects.get(prompt="Something new").shot_id != first.shot_id


def test_a_remix_cannot_join_a_shot_its_author_may_not_see(client, owner, teammate, queue):
    hidden = finished(teammate)  # in review: the owner does not see it
    client.post("/generations/new/", studio_form(prompt="Sneaky", take_of=str(hidden.pk)))
    assert Generation.objects.get(prompt="Sneaky").shot_id != hidden.shot_id
    assert Shot.objects.get(pk=hidden.shot_id).takes_made == 1


def test_the_shot_stacks_its_takes_newest_first_and_compares_two(client, owner, reviewer) -> None:
    first = finished(owner, prompt="Take one fox")
    second = make_generation(
        owner, prompt="Take two fox", status="succeeded", shot=first.shot, take=2
    )
    Review.decide(first, reviewer, Verdict.CHANGES, "Slower")
    Review.decide(second, reviewer, Verdict.APPROVED)
    page = client.get(f"/shots/{first.shot_id}/").content.decode()
    assert page.index("Take two fox") < page.index("Take one fox")
    assert "Approved: " in page and f'href="/generations/{second.pk}/">take 2</a>' in page
    assert 'action="/compare/"' in page and f'name="ids" value="{first.pk}"' in page
    compared = client.get("/compare/", {"ids": [first.pk, second.pk]})
    assert compared.status_code == 200
    assert "Take two fox" in compared.content.decode()


def test_a_shot_shows_only_the_takes_one_may_see(client, owner, teammate) -> None:
    mine = finished(owner)
    make_generation(teammate, prompt="Not yours", status="succeeded", shot=mine.shot, take=2)
    page = client.get(f"/shots/{mine.shot_id}/").content.decode()
    assert "Not yours" not in page
    client.force_login(teammate)
    assert client.get(f"/shots/{mine.shot_id}/").status_code == 200  # their own take
    assert client.get(f"/shots/{Shot.objects.create().pk}/").status_code == 404


def test_a_note_becomes_a_retake_and_closes_when_a_later_take_is_approved(
    client, owner, reviewer, reviewer_client, queue
) -> None:
    first = finished(owner)
    reviewer_client.post(
        f"/review/{first.pk}/",
        {"verdict": "changes", "comment": "Make the fox run slower", "at_seconds": "1"},
    )
    note = Comment.objects.get()
    page = client.get(f"/generations/{first.pk}/").content.decode()
    assert f"/?remix={first.pk}&amp;note={note.pk}" in page
    studio = client.get("/", {"remix": first.pk, "note": note.pk}).content.decode()
    assert "The note you are answering" in studio and "Make the fox run slower" in studio
    assert f'name="note" value="{note.pk}"' in studio
    client.post(
        "/generations/new/",
        studio_form(prompt="A fox runs slowly", take_of=str(first.pk), note=str(note.pk)),
    )
    retake = Generation.objects.get(prompt="A fox runs slowly")
    assert Retake.objects.get().take == retake and retake.take == 2
    assert "retake of the note" in client.get(f"/generations/{retake.pk}/").content.decode()
    Generation.objects.filter(pk=retake.pk).update(status="succeeded")
    retake.refresh_from_db()
    Review.decide(retake, reviewer, Verdict.APPROVED)
    note.refresh_from_db()
    assert note.resolved_at is not None and note.closed_by_take == retake
    page = client.get(f"/generations/{first.pk}/").content.decode()
    assert "take 2</a> was approved" in page
    assert f'approved: <a href="/generations/{retake.pk}/">take 2</a>' in page
    assert "Remix from this note" not in page


def test_a_note_from_another_video_is_not_linked(client, owner, reviewer, queue) -> None:
    first, other = finished(owner), finished(owner)
    Review.decide(other, reviewer, Verdict.CHANGES, "Elsewhere")
    elsewhere = Comment.objects.get()
    client.post(
        "/generations/new/",
        studio_form(prompt="Mixed up", take_of=str(first.pk), note=str(elsewhere.pk)),
    )
    assert not Retake.objects.exists()


def test_the_migration_gives_every_older_generation_a_shot(owner) -> None:
    old = finished(owner)
    Generation.objects.filter(pk=old.pk).update(shot=None, take=5)
    migration = importlib.import_module("studio.generations.migrations.0008_shots_and_frame_rate")
    migration.shots_for_every_generation(global_apps, None)
    old.refresh_from_db()
    assert old.shot is not None and old.take == 1 and old.shot.takes_made == 1


def test_any_open_note_on_a_video_sent_back_for_changes_can_become_a_retake(
    client, owner, reviewer, reviewer_client
) -> None:
    video = finished(owner)
    reviewer_client.post(
        f"/review/{video.pk}/comments/", {"body": "Frame left", "start_seconds": "1"}
    )
    plain = Comment.objects.get()
    page = client.get(f"/generations/{video.pk}/").content.decode()
    assert f"note={plain.pk}" not in page  # no verdict yet: a plain comment
    Review.decide(video, reviewer, Verdict.CHANGES, "Warmer")
    page = client.get(f"/generations/{video.pk}/").content.decode()
    assert f"note={plain.pk}" in page


@pytest.mark.django_db(transaction=True)
def test_takes_made_at_once_get_different_numbers(owner) -> None:
    first = finished(owner)
    start = threading.Barrier(6)
    numbers: list[int] = []

    def take() -> None:
        try:
            start.wait(timeout=30)
            with transaction.atomic():
                numbers.append(Shot.objects.get(pk=first.shot_id).next_take())
        finally:
            connection.close()

    workers = [threading.Thread(target=take) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(numbers) == [2, 3, 4, 5, 6, 7]
