"""The studio as real processes, for the crash, fault and concurrency suites: the simulator,
`manage.py worker` clusters and gunicorn, each in its own process group, on a file
database in a temporary data folder (SQLite, or a fresh PostgreSQL database), with short
poll and retry settings given through the environment.

The test reads the outcome from the database (sqlite3 or psycopg, no Django in between),
the simulator's `/_sim/stats` and the storage folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "sk-system-test"
FINAL = ("succeeded", "failed")
TABLE = "generations_generation"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict, *args: str, stdin: str | None = None) -> str:
    """Run `manage.py` with `env`; its output, or an AssertionError with its stderr."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def sign_in(base_url: str, username: str, password: str) -> httpx.Client:
    """An httpx client with a signed-in session: the real login form, CSRF and all."""
    client = httpx.Client(base_url=base_url, timeout=60)
    client.get("/login/")
    answer = client.post(
        "/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    if answer.status_code != 302:
        raise AssertionError(f"signing in as {username}: HTTP {answer.status_code}\n{answer.text}")
    return client


class Proc:
    """A child in its own process group, its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict, log: Path):
        self.name, self.log = name, log
        self._out = log.open("a")
        self.popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group at once: the cluster's processes get no chance to clean
        up, as when the machine or the OOM killer takes them."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._wait_group_gone()

    def stop(self) -> None:
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=3)  # a cluster finishing its sweep takes longer
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout=10)
        self._wait_group_gone()
        self._out.close()

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def _wait_group_gone(self, seconds: float = 10) -> None:
        """Forked children (the cluster's workers) may outlive the leader for a moment."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                os.killpg(self.popen.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        self.signal(signal.SIGKILL)


def wait_http(url: str, process: Proc, seconds: float = 60) -> None:
    """Until `url` answers (any status); an AssertionError with the log if `process` exits
    first or nothing answers in `seconds` (a minute: a loaded machine starts slowly)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process.alive():
            raise AssertionError(f"{process.name} exited:\n{process.log.read_text()}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{process.name} did not answer at {url}:\n{process.log.read_text()}")


class System:
    def __init__(self, data: Path, *, database_url: str = "", redis_url: str = "", **env):
        self.data = data
        self.processes: list[Proc] = []
        self.sim_url = ""
        self.database_url = database_url
        base = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "COMETAPI_KEY", "COMETAPI_BASE_URL")
            and not k.startswith(("STUDIO_", "PYTEST_", "DJANGO_ALLOW"))
        }
        self.env = {
            **base,
            "DJANGO_SETTINGS_MODULE": "studio.settings",
            "STUDIO_DATA_DIR": str(data),
            "STUDIO_QUEUE_NAME": f"system-{uuid.uuid4().hex[:8]}",
            "COMETAPI_KEY": API_KEY,
            "STUDIO_POLL_MIN_SECONDS": "0.3",
            "STUDIO_POLL_MAX_SECONDS": "1",
            "STUDIO_UPSTREAM_READ_TIMEOUT": "2",
            "STUDIO_DOWNLOAD_RETRY_SECONDS": "0.5",
            "LOG_LEVEL": "INFO",
            **({"DATABASE_URL": database_url} if database_url else {}),
            **({"REDIS_URL": redis_url} if redis_url else {}),
            **env,
        }

    # ------------------------------------------------------------ processes

    def manage(self, *args: str, stdin: str | None = None) -> str:
        return manage(self.env, *args, stdin=stdin)

    def start_simulator(self, *flags: str) -> str:
        port = free_port()
        command = [sys.executable, "-m", "studio.kling.simulator", "--port", str(port)]
        command += ["--api-key", API_KEY, *flags]
        self.processes.append(Proc("simulator", command, self.env, self.data / "simulator.log"))
        self.sim_url = f"http://127.0.0.1:{port}"
        self.env["COMETAPI_BASE_URL"] = self.sim_url
        self.env["STUDIO_DOWNLOAD_ALLOWED_HOSTS"] = f"127.0.0.1:{port}"
        wait_http(f"{self.sim_url}/_sim/stats", self.processes[-1])
        return self.sim_url

    def start_worker(self, name: str = "worker") -> Proc:
        worker = Proc(
            name, [sys.executable, "manage.py", "worker"], self.env, self.data / f"{name}.log"
        )
        self.processes.append(worker)
        return worker

    def start_web(self) -> str:
        from studio.run import web_command

        port = free_port()
        web = Proc("web", web_command("127.0.0.1", port, 2), self.env, self.data / "web.log")
        self.processes.append(web)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", web)
        return url

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.name.startswith("worker") and process.alive():
                process.kill()  # a cluster's graceful stop waits for its sweep; not needed
            process.stop()

    def logs(self) -> str:
        return "\n".join(
            f"===== {path.name}\n{path.read_text(errors='replace')}"
            for path in sorted(self.data.glob("*.log"))
        )

    # ------------------------------------------------------------ the studio's side

    def create(self, prompts: list[str], username: str = "maker") -> list[str]:
        """Generations made as the form makes them (pipeline.create_generation: the row,
        then its submit task on commit), one per prompt; returns their ids."""
        script = (
            "import json, sys\n"
            "from django.contrib.auth import get_user_model\n"
            "from studio.generations import pipeline\n"
            f"user, _ = get_user_model().objects.get_or_create(username={username!r})\n"
            "params = dict(model_name='kling-v1-6', mode='std', duration='5', "
            "aspect_ratio='16:9')\n"
            "ids = [str(pipeline.create_generation(user, {**params, 'prompt': p}).pk)\n"
            "       for p in json.loads(sys.stdin.read())]\n"
            "print(json.dumps(ids))\n"
        )
        out = self.manage("shell", "-c", script, stdin=json.dumps(prompts))
        return json.loads(out.strip().splitlines()[-1])

    def rows(self, sql: str) -> list[tuple]:
        if self.database_url:
            import psycopg

            with psycopg.connect(self.database_url) as conn:
                return conn.execute(sql).fetchall()
        with sqlite3.connect(self.data / "studio.sqlite3", timeout=20) as conn:
            return conn.execute(sql).fetchall()

    def generations(self) -> list[dict]:
        names = (
            "id",
            "status",
            "external_task_id",
            "video",
            "poster",
            "poster_1x",
            "video_sha256",
            "status_msg",
            "lease_until",
        )
        found = self.rows(f"SELECT {', '.join(names)} FROM {TABLE}")
        return [dict(zip(names, row, strict=True)) for row in found]

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.generations():
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return counts

    def wait(self, check: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; statuses {self.statuses()}\n"
                    f"{self.logs()[-8000:]}"
                )
            time.sleep(0.1)

    def all_final(self) -> bool:
        return all(row["status"] in FINAL for row in self.generations())

    # ------------------------------------------------------------ the upstream's side

    def sim_stats(self) -> dict:
        return httpx.get(f"{self.sim_url}/_sim/stats", timeout=10).json()

    def sim_config(self, **changes) -> dict:
        return httpx.post(f"{self.sim_url}/_sim/config", json=changes, timeout=10).json()

    # ------------------------------------------------------------ checks

    def assert_one_create_each(self) -> None:
        """The upstream saw exactly one create per generation, and none for anything else."""
        ours = {row["external_task_id"] for row in self.generations()}
        stats = self.sim_stats()
        creates = stats["creates_by_external_id"]
        duplicated = {key: n for key, n in creates.items() if n != 1}
        assert duplicated == {}, f"created more than once upstream: {duplicated}"
        assert set(creates) <= ours, "the upstream has tasks no generation asked for"
        assert stats["creates"] == len(creates)

    def assert_videos_are_whole(self) -> None:
        """Every video in storage, at this moment, is byte for byte the upstream's."""
        ids = {row["id"].replace("-", ""): row for row in self.generations()}
        tasks = dict(self.rows(f"SELECT id, task_id FROM {TABLE}"))
        tasks = {str(key).replace("-", ""): value for key, value in tasks.items()}
        for path in (self.data / "media").rglob("*.mp4"):
            key = path.stem.replace("-", "")
            assert key in ids, f"{path.name} belongs to no generation"
            upstream = httpx.get(f"{self.sim_url}/_sim/videos/{tasks[key]}.mp4", timeout=30)
            assert path.read_bytes() == upstream.content, f"{path.name} is not whole"

    def assert_storage_matches(self) -> None:
        """Every file in storage (the video and its two posters) belongs to a succeeded row and
        the video hashes as recorded; no partial or temp files anywhere under the data folder."""
        media = self.data / "media"
        on_disk = {str(path.relative_to(media)) for path in media.rglob("*") if path.is_file()}
        wanted = set()
        for row in self.generations():
            if row["status"] == "succeeded":
                wanted |= {row["video"], row["poster"], row["poster_1x"]}
                video = media / row["video"]
                assert video.is_file(), f"{row['id']}: its video is missing"
                digest = hashlib.sha256(video.read_bytes()).hexdigest()
                assert digest == row["video_sha256"], f"{row['id']}: the video is not whole"
            else:
                assert not row["video"], f"{row['id']} ({row['status']}) points at a video"
        assert on_disk == wanted, f"stray files: {on_disk - wanted}; missing: {wanted - on_disk}"
        leftovers = [p.name for p in (self.data / "tmp").glob("*")]
        assert leftovers == [], f"temp files left behind: {leftovers}"


@contextlib.contextmanager
def running(data: Path, **options) -> Iterator[System]:
    """A System on the new data folder `data`; every process it started is stopped after."""
    system = System(data, **options)
    data.mkdir()
    try:
        yield system
    finally:
        system.stop()


# ---------------------------------------------------------------- nginx in front

NGINX = Path("/usr/sbin/nginx")  # Debian's (`make nginx`)


def nginx_command(conf: Path, gunicorn_port: int, nginx_port: int, media: Path) -> list[str]:
    """Debian's nginx in the foreground with docs/nginx.conf, the file the README shows,
    its three marked lines pointed at these ports and this media folder; its pid, logs
    and temp files in `conf` (made here)."""
    text = (ROOT / "docs" / "nginx.conf").read_text()
    changes = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{gunicorn_port};",
        "listen 80;": f"listen 127.0.0.1:{nginx_port};",
        "alias /srv/studio/data/media/;": f"alias {media}/;",
    }
    for line, value in changes.items():
        assert text.count(line) == 1, f"docs/nginx.conf should have {line!r} once"
        text = text.replace(line, value)
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "studio.conf").write_text(text)
    temp = " ".join(
        f"{kind}_temp_path {conf}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (conf / "nginx.conf").write_text(
        "daemon off;\nmaster_process on;\nworker_processes 1;\n"
        "user root;\n"  # the files are root's here; nginx runs as root in CI and here
        f"pid {conf}/nginx.pid;\nerror_log {conf}/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{ access_log {conf}/access.log; {temp} include {conf}/studio.conf; }}\n"
    )
    return [str(NGINX), "-p", str(conf), "-c", str(conf / "nginx.conf")]


# ---------------------------------------------------------------- media delivery


def assert_sends_video(
    get: Callable[..., httpx.Response], url: str, video: bytes, pk, *, if_range: bool = True
) -> None:
    """What every way of delivering a video keeps (tests/test_delivery.py, test_nginx.py,
    test_s3_delivery.py), asked of `get(url, headers=...)` for generation `pk`'s `video`:
    the whole file inline with its type and Cache-Control, byte ranges (a slice, a suffix,
    416 beyond the end), 304s on ETag and Last-Modified, and (`if_range`, what the studio's
    own servers and nginx do; S3's test server does not) If-Range: the range for the current
    copy, the whole file for a changed one."""
    whole = get(url)
    assert whole.status_code == 200 and whole.content == video
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Cache-Control"] == "private, max-age=3600"
    assert whole.headers["Content-Disposition"] == f'inline; filename="kling-{pk}.mp4"'
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == video[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(video)}"
    assert get(url, headers={"Range": "bytes=-50"}).content == video[-50:]
    assert get(url, headers={"Range": f"bytes={len(video) * 10}-"}).status_code == 416
    etag, modified = whole.headers["ETag"], whole.headers["Last-Modified"]
    assert get(url, headers={"If-None-Match": etag}).status_code == 304
    assert get(url, headers={"If-Modified-Since": modified}).status_code == 304
    if not if_range:
        return
    stale = get(url, headers={"Range": "bytes=0-9", "If-Range": '"older"'})
    assert stale.status_code == 200 and stale.content == video
    same = get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert same.status_code == 206 and same.content == video[:10]


def assert_download_and_poster(fetch: Callable[..., httpx.Response], pk, video: bytes):
    """`fetch(path, **query)` the way the test's path does (a link, or the page itself):
    ?download=1 is the whole video as an attachment, the poster is a JPEG."""
    saved = fetch(f"/generations/{pk}/video.mp4", download="1")
    assert saved.headers["Content-Disposition"] == f'attachment; filename="kling-{pk}.mp4"'
    assert saved.content == video
    poster = fetch(f"/generations/{pk}/poster.jpg")
    assert poster.headers["Content-Type"] == "image/jpeg" and poster.content.startswith(b"\xff")


def media_link(client, path: str, **query) -> str:
    """Where the studio (a django.test.Client) sends the browser for `path`: a redirect
    with no body that is asked again each time (the link in it runs out)."""
    answer = client.get(path, query)
    assert answer.status_code == 302, answer.status_code
    assert answer["Cache-Control"] == "private, no-cache" and answer.content == b""
    return answer["Location"]


def via_link(client) -> Callable[..., httpx.Response]:
    """A fetch(path, **query) that asks the studio (`client`) for the path's link and gets
    what the link points at."""
    return lambda path, **query: httpx.get(media_link(client, path, **query))
