"""Creating a generation and submitting it: one paid task per generation, whatever happens.

Sections (§n) are those of docs/upstream.md.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from studio.generations import pipeline, tasks
from studio.generations.models import Generation, Status
from studio.kling.client import KlingClient
from tests.conftest import SIM_API_KEY
from tests.drive import at_once, drive, make_due, params, submitted
from tests.factories import make_generation, make_user

pytestmark = pytest.mark.django_db


def test_create_saves_body_and_external_id_and_sends_nothing(
    upstream, queue, django_capture_on_commit_callbacks
):
    owner = make_user()
    with django_capture_on_commit_callbacks(execute=True):
        generation = pipeline.create_generation(owner, params(cfg_scale=0.7))

    row = Generation.objects.get()
    assert row.status == Status.QUEUED
    assert row.external_task_id.startswith("ps-")
    assert row.request_body == {
        "model_name": "kling-v1-6",
        "prompt": params()["prompt"],
        "mode": "std",
        "aspect_ratio": "16:9",
        "duration": "5",
        "cfg_scale": 0.7,
        "external_task_id": row.external_task_id,
    }
    assert queue == [("submit", (str(generation.pk),))]
    assert upstream.create_count() == 0
    assert list(row.events.values_list("status", flat=True)) == ["queued"]


def test_unsupported_fields_are_left_out_of_the_body(upstream, queue):
    row = pipeline.create_generation(
        make_user(), params(model_name="kling-v2-master", mode="", cfg_scale=None)
    )
    assert "cfg_scale" not in row.request_body
    assert "mode" not in row.request_body


def test_enqueue_waits_for_the_commit(upstream, queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pipeline.create_generation(make_user(), params())
    assert queue == []  # nothing before the commit (docs/reliability.md R23)
    assert len(callbacks) == 1


def test_double_click_gives_one_generation(upstream, queue):
    owner = make_user()
    request_id = uuid.uuid4()
    first = pipeline.create_generation(owner, params(), client_request_id=request_id)
    second = pipeline.create_generation(owner, params(), client_request_id=request_id)
    assert first.pk == second.pk
    assert Generation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_post_gives_one_generation(upstream, queue):
    owner = make_user()
    request_id = uuid.uuid4()
    made: list[Generation] = []

    def post(_: int) -> None:
        made.append(pipeline.create_generation(owner, params(), client_request_id=request_id))

    at_once(post, 2)
    assert len(made) == 2
    assert made[0].pk == made[1].pk
    assert Generation.objects.count() == 1


def test_run_again_makes_a_new_job_with_the_same_parameters(upstream, queue):
    owner = make_user()
    first = pipeline.create_generation(owner, params(prompt="A heron lifts off a lake"))
    again = pipeline.run_again(first, owner)
    assert again.pk != first.pk
    assert again.external_task_id != first.external_task_id
    assert again.params() == first.params()


def test_submit_moves_to_submitted_with_the_upstream_task_id(upstream, queue):
    row = pipeline.create_generation(make_user(), params())
    assert tasks.submit(str(row.pk))
    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert row.task_id in upstream.tasks
    assert upstream.tasks[row.task_id].external_task_id == row.external_task_id
    assert row.submit_attempts == 1
    assert not row.submit_uncertain
    assert row.submitted_at is not None
    assert row.upstream_created_at is not None
    assert row.next_poll_at > timezone.now()
    assert upstream.create_count(row.external_task_id) == 1


def test_a_second_submit_of_a_submitted_row_sends_nothing(upstream, queue):
    row = pipeline.create_generation(make_user(), params())
    assert pipeline.submit(row.pk)
    assert not pipeline.submit(row.pk)
    assert upstream.create_count() == 1


def test_callback_url_is_sent_but_never_stored(upstream, queue, settings):
    settings.STUDIO_PUBLIC_URL = "https://studio.example.org"
    row = submitted()
    sent = upstream.tasks[row.task_id].callback_url
    token = pipeline.callback_token(row.pk)
    assert sent == f"https://studio.example.org/hooks/kling/{row.pk}/{token}/"
    assert "callback_url" not in row.request_body
    assert token not in str(Generation.objects.filter(pk=row.pk).values().get())


def test_no_callback_url_without_a_public_url(upstream, queue):
    row = submitted()
    assert upstream.tasks[row.task_id].callback_url == ""


@pytest.mark.parametrize(
    ("keyword", "uncertain"),
    # A 503 is a 5xx after the body was sent: the client counts it as ambiguous.
    [("#rate-1302", False), ("#busy-1303", False), ("#unavailable-5001", True)],
)
def test_rate_limited_submit_honours_retry_after_then_succeeds(upstream, queue, keyword, uncertain):
    upstream.config.retry_after = 20  # longer than our own first backoff (4 s)
    row = pipeline.create_generation(make_user(), params(f"A fox {keyword}"))
    before = timezone.now()

    assert pipeline.submit(row.pk)

    row.refresh_from_db()
    assert row.status == Status.QUEUED
    assert row.next_poll_at >= before + timedelta(seconds=20)
    assert row.submit_uncertain is uncertain
    assert row.last_error
    assert upstream.create_count() == 0
    # Too early: the backoff holds even if the task is delivered again.
    assert not pipeline.submit(row.pk)
    make_due(row)
    assert pipeline.submit(row.pk)
    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert upstream.create_count(row.external_task_id) == 1


def test_a_5000_on_create_is_reconciled_before_it_is_sent_again(upstream, queue):
    row = submitted("A fox #error-5000")
    assert row.status == Status.QUEUED
    assert row.submit_uncertain  # a 5xx after sending may have made a task (§12.6)
    make_due(row)
    pipeline.submit(row.pk)
    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert upstream.create_count(row.external_task_id) == 1


@pytest.mark.parametrize(
    ("keyword", "message"),
    [
        ("#reject-1301", "The prompt was blocked by the content-safety policy"),
        ("#comet-invalid-request", "The API refused the request"),
        ("#html-301", "The API address is misconfigured"),
    ],
)
def test_final_errors_fail_the_row_with_a_human_message(upstream, queue, keyword, message):
    row = submitted(f"A fox {keyword}")
    assert row.status == Status.FAILED
    assert row.status_msg.startswith(message)
    assert row.finished_at is not None
    assert row.next_poll_at is None
    assert list(row.events.values_list("status", flat=True)) == ["queued", "failed"]
    assert upstream.create_count() == 0


def test_bad_api_key_fails_with_a_message_for_the_admin(upstream, queue, settings):
    settings.COMETAPI_KEY = "sk-wrong"
    row = submitted()
    assert row.status == Status.FAILED
    assert row.status_msg == "The studio's API key was refused; an admin needs to check it."


def test_ambiguous_504_ends_with_one_upstream_task_and_succeeds(upstream, queue):
    row = pipeline.create_generation(make_user(), params("A fox #ambiguous-504"))

    pipeline.submit(row.pk)

    row.refresh_from_db()
    assert row.status == Status.QUEUED
    assert row.submit_uncertain
    assert upstream.create_count(row.external_task_id) == 1  # it was made, despite the 504
    make_due(row)
    pipeline.submit(row.pk)  # looks it up by external_task_id instead of sending again
    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert row.task_id in upstream.tasks
    assert "external_task_id" in row.events.last().note
    drive(row)
    assert row.status == Status.SUCCEEDED
    assert upstream.create_count(row.external_task_id) == 1
    assert upstream.create_count() == 1


def test_a_create_answered_without_a_task_is_found_not_sent_again(upstream, queue):
    row = pipeline.create_generation(make_user(), params("A fox #create-no-task"))
    pipeline.submit(row.pk)
    row.refresh_from_db()
    assert row.status == Status.QUEUED
    assert row.submit_uncertain and row.error_code == "malformed"
    make_due(row)
    pipeline.submit(row.pk)
    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert row.submit_attempts == 1  # found by its external_task_id, not sent again
    assert upstream.create_count(row.external_task_id) == 1


@pytest.mark.parametrize("auth_style", ["comet", "kling"])
def test_a_bad_key_is_explained_whatever_the_shape_and_request_id(
    upstream, queue, settings, auth_style
):
    upstream.config.auth_style = auth_style
    upstream.config.request_ids = "gateway"
    settings.COMETAPI_KEY = "sk-wrong"
    row = pipeline.create_generation(make_user(), params())
    pipeline.submit(row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.status_msg == "The studio's API key was refused; an admin needs to check it."


def test_malformed_create_answer_is_reconciled_and_resent_with_the_same_id(upstream, queue):
    row = submitted("A fox #malformed")
    assert row.submit_uncertain
    assert upstream.create_count() == 0  # the simulator made nothing
    make_due(row)
    pipeline.submit(row.pk)  # nothing found upstream, so it sends again, same id
    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert upstream.tasks[row.task_id].external_task_id == row.external_task_id
    assert row.submit_attempts == 2
    assert upstream.create_count() == 1


def test_worker_killed_after_the_post_adopts_the_task_instead_of_sending_again(upstream, queue):
    """The create landed but the worker died before saving the answer: the row is still
    queued with `submit_uncertain` and a lease that has run out."""
    owner = make_user()
    row = make_generation(owner, status=Status.QUEUED)
    with KlingClient(upstream.url, SIM_API_KEY) as api:
        made = api.create_text2video(row.request_body)
    expired = timezone.now() - timedelta(seconds=5)
    Generation.objects.filter(pk=row.pk).update(
        submit_uncertain=True, submit_attempts=1, lease_until=expired, next_poll_at=expired
    )

    assert pipeline.submit(row.pk)

    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert row.task_id == made.task_id
    assert upstream.create_count(row.external_task_id) == 1


def test_a_row_whose_lease_is_live_is_left_alone(upstream, queue):
    row = make_generation(make_user(), status=Status.QUEUED)
    Generation.objects.filter(pk=row.pk).update(lease_until=timezone.now() + timedelta(seconds=60))
    assert not pipeline.submit(row.pk)
    assert upstream.create_count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submits_of_one_row_make_one_create(upstream, queue):
    upstream.config.latency = 0.3  # both workers are inside submit at the same time
    row = pipeline.create_generation(make_user(), params())
    acted: list[bool] = []

    def worker(_: int) -> None:
        acted.append(tasks.submit(str(row.pk)))

    at_once(worker, 2)
    assert sorted(acted) == [False, True]
    assert upstream.create_count(row.external_task_id) == 1
    row.refresh_from_db()
    assert row.status == Status.SUBMITTED


def test_gives_up_after_the_submit_attempt_limit(upstream, queue, settings):
    settings.SUBMIT_MAX_ATTEMPTS = 1
    upstream.config.retry_after = 0
    row = pipeline.create_generation(make_user(), params("A fox #rate-1302"))
    pipeline.submit(row.pk)
    make_due(row)
    pipeline.submit(row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "could not submit this video after 1 attempts" in row.status_msg
    assert upstream.create_count() == 0


def test_task_payloads_are_only_the_generation_id(upstream, settings):
    """docs/reliability.md R1: what the broker stores for each task is the generation id and
    nothing else."""
    if settings.Q_CLUSTER.get("orm") is None:
        pytest.skip("reads the ORM broker's queue table")
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    row = make_generation(make_user())
    for name in ("submit", "store"):
        pipeline.enqueue(name, str(row.pk))
    pipeline.enqueue("sweep")
    payloads = [SignedPackage.loads(q.payload) for q in OrmQ.objects.all()]
    assert {p["func"] for p in payloads} == {
        "studio.generations.tasks.submit",
        "studio.generations.tasks.store",
        "studio.generations.tasks.sweep",
    }
    for payload in payloads:
        assert payload["kwargs"] == {}
        for arg in payload["args"]:
            assert arg == str(row.pk)


def test_a_create_refused_as_a_duplicate_id_is_reconciled_not_failed(upstream, queue):
    """Even if the row forgot that a create was in flight, the upstream's uniqueness of
    external_task_id stops a second task, and the row adopts the first one."""
    row = make_generation(make_user(), status=Status.QUEUED)
    with KlingClient(upstream.url, SIM_API_KEY) as api:
        made = api.create_text2video(row.request_body)

    pipeline.submit(row.pk)  # sends, and is told the id already exists

    row.refresh_from_db()
    assert row.status == Status.QUEUED
    assert row.submit_uncertain
    make_due(row)
    pipeline.submit(row.pk)
    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert row.task_id == made.task_id
    assert upstream.create_count(row.external_task_id) == 1


def test_an_unavailable_model_is_explained_with_the_upstream_detail() -> None:
    from studio.kling import errors
    from studio.kling.types import KlingError

    error = KlingError("invalid model name", http_status=400, code="1203")
    message = errors.explain(error)
    assert message == "This model is not available through the API (invalid model name)."


def test_rows_refused_together_come_back_spread_out_after_retry_after(upstream, queue) -> None:
    upstream.config.retry_after = 3
    owner = make_user()
    rows = [pipeline.create_generation(owner, params(f"Fox {n} #rate-1302")) for n in range(12)]
    for row in rows:
        assert pipeline.submit(row.pk)
    # Each row's delay, from the moment its refusal was written.
    delays = [
        (row.next_poll_at - row.updated_at).total_seconds()
        for row in Generation.objects.filter(pk__in=[row.pk for row in rows])
    ]
    assert min(delays) >= 3 - 0.05
    assert max(delays) - min(delays) > 0.5


# ---------------------------------------------------------------- §15: the body sent, exactly


@pytest.mark.parametrize(
    ("chosen", "sent"),
    [
        (
            {"model_name": "kling-v3", "mode": "std", "duration": "10"},
            {"mode": "std", "aspect_ratio": "16:9", "duration": "10", "sound": "off"},
        ),
        (
            {"model_name": "kling-v3", "mode": "pro", "duration": "5", "sound": "on"},
            {"mode": "pro", "aspect_ratio": "16:9", "duration": "5", "sound": "on"},
        ),
        (
            {"model_name": "kling-v2-6", "mode": "pro", "duration": "10", "sound": "off"},
            {"mode": "pro", "aspect_ratio": "16:9", "duration": "10", "sound": "off"},
        ),
        (
            {"model_name": "kling-v2-6", "mode": "std", "duration": "5"},
            {"mode": "std", "aspect_ratio": "16:9", "duration": "5"},
        ),
        (
            {"model_name": "kling-v2-master", "mode": "", "duration": "5", "aspect_ratio": "1:1"},
            {"aspect_ratio": "1:1", "duration": "5"},
        ),
    ],
    ids=["v3-silent", "v3-sound", "v2-6-pro", "v2-6-std", "master"],
)
def test_the_strict_upstream_receives_exactly_the_body_of_the_contract(
    upstream, queue, chosen: dict, sent: dict
):
    row = pipeline.create_generation(make_user(), params(**chosen))
    assert pipeline.submit(row.pk)
    row.refresh_from_db()
    expected = {"model_name": chosen["model_name"], "prompt": params()["prompt"], **sent}
    received = upstream.tasks[row.task_id].params
    assert received == {**expected, "external_task_id": row.external_task_id}
    assert list(received) == [*expected, "external_task_id"]  # contract order
    assert row.request_body == received


def test_a_silent_kling_v3_job_is_billed_as_silent_by_the_strict_upstream(upstream, queue):
    # The strict simulator bills an omitted sound as on (§15 "model default"): the
    # explicit "off" is what keeps this job at the silent price.
    row = pipeline.create_generation(
        make_user(), params(model_name="kling-v3", mode="std", duration="5")
    )
    row = drive(row)
    assert row.status == Status.SUCCEEDED
    assert row.units_charged == 1
    assert upstream.tasks[row.task_id].sound is False


def test_run_again_keeps_the_sound_choice(upstream, queue):
    owner = make_user()
    loud = pipeline.create_generation(owner, params(model_name="kling-v3", sound="on"))
    again = pipeline.run_again(loud, owner)
    assert again.request_body["sound"] == "on"
    assert again.params()["sound"] == "on"


def test_kling_v3_beyond_5_and_10_seconds_is_refused_before_anything_is_saved(upstream, queue):
    with pytest.raises(ValueError, match="5 s or 10 s through CometAPI"):
        pipeline.create_generation(make_user(), params(model_name="kling-v3", duration="12"))
    assert Generation.objects.count() == 0


def test_the_setting_sends_kling_v3s_official_durations(upstream, queue, settings):
    settings.STUDIO_KLING_V3_ALL_DURATIONS = True
    row = pipeline.create_generation(make_user(), params(model_name="kling-v3", duration="12"))
    assert row.request_body["duration"] == "12"
    # CometAPI's documented shape (the strict simulator) refuses it for good...
    assert pipeline.submit(row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "5 s or 10 s through CometAPI" in row.last_error
    # ...an upstream with Kling's official shape takes it.
    upstream.config.strict = False
    again = pipeline.run_again(row, row.owner)
    assert pipeline.submit(again.pk)
    again.refresh_from_db()
    assert again.status == Status.SUBMITTED
    assert upstream.tasks[again.task_id].params["duration"] == "12"
