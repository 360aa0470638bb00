"""A prompt's counters (studio/library/counters.py) follow its generations in the
transaction of each change, and equal a count afresh; the library sorts by them and the
gallery's tag choices read them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from studio.generations.models import Generation, Status
from studio.library import counters
from studio.library.models import Prompt
from studio.review.models import Review
from tests.factories import finish, make_generation, make_prompt, make_task

NAMES = ("runs", "finished", "succeeded", "success_rate", "last_used", "team_videos")


def stored(prompt: Prompt) -> dict:
    prompt.refresh_from_db()
    return {name: getattr(prompt, name) for name in NAMES}


def afresh(prompt: Prompt) -> dict:
    row = counters.numbers([prompt.pk]).get(prompt.pk)
    if row is None:
        return dict.fromkeys(NAMES, 0) | {"success_rate": None, "last_used": None}
    rate = row["succeeded"] / row["finished"] if row["finished"] else None
    return {**row, "success_rate": rate}


def test_runs_count_when_made_and_finish_on_success_and_failure(owner) -> None:
    prompt = make_prompt(owner)
    version = prompt.latest_version()
    assert stored(prompt)["runs"] == 0 and stored(prompt)["last_used"] is None
    good = make_generation(owner, prompt_version=version, status=Status.PROCESSING)
    bad = make_generation(owner, prompt_version=version, status=Status.PROCESSING)
    numbers = stored(prompt)
    assert (numbers["runs"], numbers["finished"], numbers["success_rate"]) == (2, 0, None)
    assert numbers["last_used"] == max(good.created_at, bad.created_at)

    finish(good)
    assert (stored(prompt)["finished"], stored(prompt)["succeeded"]) == (1, 1)
    assert bad.mark_failed_upstream(make_task("failed", status_msg="Refused"))
    numbers = stored(prompt)
    assert (numbers["runs"], numbers["finished"], numbers["succeeded"]) == (2, 2, 1)
    assert numbers["success_rate"] == 0.5
    assert numbers == afresh(prompt)


def test_a_transition_that_loses_the_race_counts_nothing(owner) -> None:
    prompt = make_prompt(owner)
    job = make_generation(owner, prompt_version=prompt.latest_version(), status=Status.PROCESSING)
    stale = Generation.objects.get(pk=job.pk)
    assert job.mark_failed("Gave up")
    assert not stale.mark_failed("Gave up again")  # already final: no second count
    assert (stored(prompt)["finished"], stored(prompt)["succeeded"]) == (1, 0)


def test_a_rolled_back_transition_rolls_the_counters_back(owner) -> None:
    prompt = make_prompt(owner)
    job = make_generation(owner, prompt_version=prompt.latest_version(), status=Status.PROCESSING)
    with pytest.raises(RuntimeError), transaction.atomic():
        job.mark_failed("Gave up")
        assert stored(prompt)["finished"] == 1
        raise RuntimeError("the caller failed after the move")
    assert stored(prompt)["finished"] == 0


def test_verdicts_count_the_videos_the_team_sees(owner, reviewer) -> None:
    prompt = make_prompt(owner)
    video = make_generation(owner, prompt_version=prompt.latest_version(), status="succeeded")
    Review.decide(video, reviewer, "approved")
    assert stored(prompt)["team_videos"] == 1
    Review.decide(video, reviewer, "approved")  # the same verdict again: no change
    assert stored(prompt)["team_videos"] == 1
    Review.decide(video, reviewer, "changes", "Slower")
    assert stored(prompt)["team_videos"] == 0
    Review.decide(video, reviewer, "approved")
    Review.objects.get(pk=video.pk).delete()  # the admin removes the verdict
    assert stored(prompt)["team_videos"] == 0
    assert stored(prompt) == afresh(prompt)


def test_deleting_the_newest_run_counts_the_prompt_afresh(owner) -> None:
    prompt = make_prompt(owner)
    version = prompt.latest_version()
    old = make_generation(
        owner, prompt_version=version, status="failed", created_at=timezone.now() - timedelta(1)
    )
    new = make_generation(owner, prompt_version=version, status="succeeded")
    assert stored(prompt)["last_used"] == new.created_at
    new.delete()
    numbers = stored(prompt)
    assert (numbers["runs"], numbers["finished"], numbers["succeeded"]) == (1, 1, 0)
    assert numbers["last_used"] == old.created_at and numbers["success_rate"] == 0
    old.delete()
    assert (
        stored(prompt)
        == afresh(prompt)
        == {
            **dict.fromkeys(NAMES, 0),
            "success_rate": None,
            "last_used": None,
        }
    )


def test_rebuild_and_the_migration_give_what_the_receivers_kept(owner, reviewer) -> None:
    import importlib

    from django.apps import apps

    migration = importlib.import_module("studio.library.migrations.0002_prompt_counters")
    prompts = [make_prompt(owner, title=f"P{n}") for n in range(3)]
    for n, prompt in enumerate(prompts):
        for status in ["succeeded", "failed", "processing"][: n + 1]:
            video = make_generation(owner, prompt_version=prompt.latest_version(), status=status)
            if status == "succeeded":
                Review.decide(video, reviewer, "approved")
    kept = [stored(p) for p in prompts]
    assert kept == [afresh(p) for p in prompts]
    zero = dict.fromkeys(("runs", "finished", "succeeded", "team_videos"), 0)
    Prompt.objects.update(**zero, success_rate=None, last_used=None)
    counters.rebuild()
    assert [stored(p) for p in prompts] == kept
    Prompt.objects.update(**zero, success_rate=None, last_used=None)
    migration.count_runs(apps, None)
    assert [stored(p) for p in prompts] == kept


def test_the_gallery_offers_the_tags_of_approved_videos_only(client, owner, reviewer) -> None:
    shown = make_prompt(owner, title="Shown", tags=["heron"])
    waiting = make_prompt(owner, title="Waiting", tags=["owl"])
    video = make_generation(owner, prompt_version=shown.latest_version(), status="succeeded")
    make_generation(owner, prompt_version=waiting.latest_version(), status="succeeded")

    def offered() -> list[str]:
        choices = client.get("/gallery/").context["form"].fields["tag"].choices
        return [name for name, _ in choices if name]

    assert offered() == []
    Review.decide(video, reviewer, "approved")
    assert offered() == ["heron"]
    Review.decide(video, reviewer, "rejected", "No")
    assert offered() == []
