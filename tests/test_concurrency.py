"""Many writers at once: concurrent submissions on the default SQLite while the worker
runs, and two worker clusters sharing PostgreSQL and Redis (docs/reliability.md R4, R11, R14,
R18). Real processes (tests/system.py): gunicorn as `make run` starts it, the worker,
the simulator.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import studio_form
from tests.system import running, sign_in

SIM_FAST = ("--processing-after", "0.3", "--finish-after", "1", "--fps", "2")
PASSWORD = "a-long-test-password"
THREADS, EACH = 5, 10


def form(prompt: str, client_request_id: str, token: str) -> dict:
    return studio_form(
        prompt=prompt, client_request_id=client_request_id, csrfmiddlewaretoken=token
    )


def test_fifty_concurrent_submissions_on_sqlite_lose_nothing_and_never_lock(system):
    system.start_simulator(*SIM_FAST)
    system.manage("migrate", "-v0")
    for n in range(THREADS):
        system.manage("shell", "-c", f"from tests.factories import make_user; make_user('c{n}')")
    system.start_worker()
    url = system.start_web()
    sent: list[str] = []
    answers: list[int] = []
    lock = threading.Lock()

    def submitter(n: int) -> None:
        client = sign_in(url, f"c{n}", PASSWORD)
        try:
            token = client.cookies["csrftoken"]
            for k in range(EACH):
                request_id = str(uuid.uuid4())
                data = form(f"burst {n}/{k}: a lantern drifts up a canyon", request_id, token)
                answer = client.post("/generations/new/", data=data, headers={"HX-Request": "true"})
                # A double click (the same client_request_id again) is the same job.
                again = client.post("/generations/new/", data=data, headers={"HX-Request": "true"})
                # The page's poll, as an open studio tab runs it meanwhile.
                poll = client.get("/queue/updates/", headers={"HX-Request": "true"})
                with lock:
                    sent.append(request_id)
                    answers.extend([answer.status_code, again.status_code, poll.status_code])
        finally:
            client.close()

    threads = [threading.Thread(target=submitter, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 3 * THREADS * EACH
    assert set(answers) <= {200, 286}, Counter(answers)
    stored = system.rows("SELECT client_request_id FROM generations_generation")
    assert sorted(uuid.UUID(str(r[0])).hex for r in stored) == sorted(
        uuid.UUID(r).hex for r in sent
    ), "a submission was lost or doubled"
    system.wait(system.all_final, 90, "every submission to finish")
    assert system.statuses() == {"succeeded": THREADS * EACH}
    system.assert_one_create_each()
    system.assert_storage_matches()
    logs = system.logs()
    assert "database is locked" not in logs
    assert not re.search(r'" 5\d\d ', logs), "the web server answered with a 5xx"


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[str]:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = f"studio_clusters_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
    reason="two clusters need PostgreSQL and Redis (on SQLite the worker refuses a second)",
)
def test_two_clusters_on_postgres_and_redis_never_submit_or_store_twice(tmp_path, postgres):
    with running(
        tmp_path / "data",
        database_url=postgres,
        redis_url=os.environ["REDIS_URL"],
        STUDIO_WORKERS="2",
    ) as system:
        system.start_simulator("--latency", "0.05", *SIM_FAST)
        system.manage("migrate", "-v0")
        first, second = system.start_worker("worker-a"), system.start_worker("worker-b")
        ids = system.create([f"two clusters {n}: gulls over a harbour" for n in range(30)])
        # Every submit handed out twice more (at-least-once delivery, docs/reliability.md R4):
        # three tasks per row race on the two clusters.
        system.manage(
            "shell",
            "-c",
            "from studio.generations import pipeline\n"
            f"for pk in {ids!r} * 2: pipeline.enqueue('submit', pk)",
        )

        system.wait(system.all_final, 90, "every generation to finish")

        assert first.alive() and second.alive(), "both clusters ran to the end"
        assert system.statuses() == {"succeeded": 30}
        system.assert_one_create_each()
        attempts = system.sim_stats()["create_attempts_by_external_id"]
        assert set(attempts.values()) == {1}, f"a create was sent twice: {attempts}"
        system.assert_storage_matches()
        logs = {
            name: (system.data / f"{name}.log").read_text() for name in ("worker-a", "worker-b")
        }
        stored = Counter(
            found
            for text in logs.values()
            for found in re.findall(r"Generation (\S+): stored", text)
        )
        assert len(stored) == 30 and set(stored.values()) == {1}, "a video was stored twice"
        assert all("Processed" in text for text in logs.values()), "one cluster did nothing"
