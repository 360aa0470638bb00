"""How long a job usually takes, learned from this studio's own finished jobs: the median
time from saving to stored video of the latest succeeded jobs of the same model, mode and
duration. Real Kling jobs take minutes, so a running card shows its elapsed time against
it (issue 12, 4). Medians are kept in the cache for a few minutes: the queue polls often."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import DurationField, ExpressionWrapper, F

from studio.generations.models import Generation, Status

SAMPLES = 50  # the latest succeeded jobs looked at
ENOUGH = 5  # fewer of the same kind: only a rough "usually about N min" over all jobs
CACHE_SECONDS = 300


@dataclass(frozen=True)
class Expected:
    seconds: int
    exact: bool  # learned from jobs of the same model, mode and duration

    @property
    def minutes(self) -> int:
        return max(1, round(self.seconds / 60))


def median_seconds(**match: str) -> tuple[int, int] | None:
    """(median seconds, samples) over the latest succeeded jobs matching `match`."""
    took = ExpressionWrapper(F("finished_at") - F("created_at"), output_field=DurationField())
    rows = (
        Generation.objects.filter(status=Status.SUCCEEDED, finished_at__isnull=False, **match)
        .annotate(took=took)
        .order_by("-finished_at")
        .values_list("took", flat=True)[:SAMPLES]
    )
    seconds = [t.total_seconds() for t in rows if t is not None and t.total_seconds() > 0]
    if not seconds:
        return None
    return round(statistics.median(seconds)), len(seconds)


def expected(model_name: str, mode: str, duration: str) -> Expected | None:
    """The usual time for a job of this kind, or None when nothing has finished yet."""
    key = f"studio-expected:{model_name}:{mode}:{duration}"
    found = cache.get(key)
    if found is None:
        found = _learn(model_name, mode, duration) or "none"
        cache.set(key, found, CACHE_SECONDS)
    return None if found == "none" else found


def _learn(model_name: str, mode: str, duration: str) -> Expected | None:
    same = median_seconds(model_name=model_name, mode=mode, duration=duration)
    if same and same[1] >= ENOUGH:
        return Expected(same[0], exact=True)
    overall = median_seconds()
    return Expected(overall[0], exact=False) if overall else None
