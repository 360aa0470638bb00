"""A prompt's counters (Prompt.runs, finished, succeeded, success_rate, last_used and
team_videos): what the generations made from its versions add up to, kept by the receivers
below in the transaction of each change, so the library sorts by last use or success rate
from an index and the gallery finds its tags without reading the history.

generations may not import library (docs/architecture.md), so it says what happened with
its signals and post_save/post_delete, and library.apps connects these receivers:
- a generation written (post_save, created): it counts as one run, and for what it
  already is (a factory or an import may write a finished or approved row);
- a transition to succeeded or failed (generation_finished): one more finished;
- a verdict putting a video into the team's view or taking it out (generation_shared);
- a generation deleted (post_delete): its prompt is counted afresh (recount), since the
  newest run may be the one that went.
Rows written in bulk (the benchmarks' seeding) skip the signals: rebuild() counts all.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, F, FloatField, Max, Q, Value
from django.db.models.functions import Cast, Coalesce, Greatest, NullIf

from studio.generations.models import FINAL, Generation, Status
from studio.library.models import Prompt


def of(generation: Generation):
    """The prompt the generation's version belongs to, as an UPDATE-able queryset."""
    return Prompt.objects.filter(versions=generation.prompt_version_id)


def add(generation: Generation, *, runs=0, finished=0, succeeded=0, team=0) -> None:
    """Add to the counters of the generation's prompt, in one UPDATE."""
    if generation.prompt_version_id is None:
        return
    done, good = F("finished") + finished, F("succeeded") + succeeded
    changes = {
        "runs": F("runs") + runs,
        "finished": done,
        "succeeded": good,
        "success_rate": Cast(good, FloatField()) / NullIf(done, Value(0)),
        "team_videos": F("team_videos") + team,
    }
    if runs:
        made = Value(generation.created_at)
        changes["last_used"] = Greatest(Coalesce(F("last_used"), made), made)
    Prompt.objects.filter(pk__in=of(generation).values("pk")).update(**changes)


def made(sender, instance: Generation, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        add(
            instance,
            runs=1,
            finished=int(instance.status in FINAL),
            succeeded=int(instance.status == Status.SUCCEEDED),
            team=int(instance.team_visible),
        )


def finished(sender, generation: Generation, **kwargs) -> None:
    add(generation, finished=1, succeeded=int(generation.status == Status.SUCCEEDED))


def shared(sender, generation: Generation, shared: bool, **kwargs) -> None:
    add(generation, team=1 if shared else -1)


def gone(sender, instance: Generation, **kwargs) -> None:
    if instance.prompt_version_id is not None:
        recount(of(instance).values_list("pk", flat=True))


def numbers(prompt_ids=None) -> dict[int, dict]:
    """The counters as the generations have them, per prompt (all prompts: None)."""
    rows = Generation.objects.exclude(prompt_version=None)
    if prompt_ids is not None:
        rows = rows.filter(prompt_version__prompt__in=list(prompt_ids))
    found = rows.values("prompt_version__prompt").annotate(
        runs=Count("pk"),
        finished=Count("pk", filter=Q(status__in=FINAL)),
        succeeded=Count("pk", filter=Q(status=Status.SUCCEEDED)),
        last_used=Max("created_at"),
        team_videos=Count("pk", filter=Q(team_visible__in=[True])),
    )
    return {row.pop("prompt_version__prompt"): row for row in found}


def recount(prompt_ids) -> None:
    """Count these prompts afresh from their generations."""
    ids = list(prompt_ids)
    counted = numbers(ids)
    with transaction.atomic():
        for prompt in Prompt.objects.filter(pk__in=ids).select_for_update():
            write(prompt, counted.get(prompt.pk))


def rebuild() -> int:
    """Count every prompt afresh (after rows were written in bulk). Prompts written."""
    counted = numbers()
    with transaction.atomic():
        Prompt.objects.update(
            runs=0, finished=0, succeeded=0, success_rate=None, last_used=None, team_videos=0
        )
        for prompt in Prompt.objects.filter(pk__in=list(counted)):
            write(prompt, counted[prompt.pk])
    return len(counted)


FIELDS = ("runs", "finished", "succeeded", "success_rate", "last_used", "team_videos")


def write(prompt: Prompt, row: dict | None) -> None:
    row = row or {"runs": 0, "finished": 0, "succeeded": 0, "last_used": None, "team_videos": 0}
    for name in FIELDS[:3] + FIELDS[4:]:
        setattr(prompt, name, row[name])
    prompt.success_rate = prompt.succeeded / prompt.finished if prompt.finished else None
    prompt.save(update_fields=list(FIELDS))
