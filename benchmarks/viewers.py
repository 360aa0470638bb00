"""(f) Slow viewers: 20 people downloading a 40 MB video at 64 KB/s while `/healthz` and the
live status endpoint are timed, on the new path (`make run`'s: gunicorn checks access and
redirects, the media process sends the bytes), behind nginx (X-Accel-Redirect, when
Debian's nginx is installed) and on the old one (the video streamed by gunicorn's own
threads), one after the other in the same run, each beside its idle baseline.

The web server is gunicorn exactly as `make run` starts it (studio.run.web_command: 3
workers of 4 threads); the media process is studio.run.media_command. Each viewer is a
socket with a 128 KB receive buffer that reads 16 KB every 0.25 s (one thread reads them
all, in a process of its own); a timer sends one
request at a time on a new connection (`/healthz`, then the status URL, then a 10 ms
pause), with a 2 s limit.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.harness import (
    ROOT,
    Process,
    cleanup,
    make_user,
    report,
    running,
    setup,
    wait_for_http,
)
from benchmarks.queries import grow
from benchmarks.web import cpu_seconds
from tests.system import NGINX, free_port, nginx_command, sign_in

VIEWERS = int(os.environ.get("BENCH_VIEWERS", 20))
VIDEO_MB = int(os.environ.get("BENCH_VIEWERS_VIDEO_MB", 40))
RATE = 64 * 1024  # bytes per second per viewer
STEP = 0.25  # a viewer reads RATE * STEP bytes every STEP seconds
SAMPLES = int(os.environ.get("BENCH_VIEWERS_SAMPLES", 800))  # timed pairs, idle and loaded each
WINDOW = float(os.environ.get("BENCH_VIEWERS_SECONDS", 30))  # at most, per phase
TIMEOUT = 2.0
ROUNDS = 4  # idle and loaded rounds, taking turns (the old path: one of each)


def main() -> int:
    data = setup("viewers")
    from django.utils import timezone

    from studio.composer.views import to_cursor
    from studio.generations.models import Generation, Status

    user = make_user("bench")
    grow(user, make_user("other"), 1000)
    videos = data / "media" / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    (videos / "big.mp4").write_bytes(os.urandom(1024 * 1024) * VIDEO_MB)
    row = Generation.objects.filter(owner=user, status=Status.SUCCEEDED).first()
    Generation.objects.filter(pk=row.pk).update(video="videos/big.mp4")
    newest = Generation.objects.filter(owner=user).order_by("-created_at").first()
    status_path = (
        f"/queue/updates/?since={to_cursor(timezone.now())}&known={to_cursor(newest.created_at)}"
    )
    figures = []
    paths = [("new path (media process)", "server"), ("old path (gunicorn)", "app")]
    if NGINX.exists():  # `make nginx` installs it; the proxy's path is shown beside
        paths.insert(1, ("behind nginx (X-Accel-Redirect)", "nginx"))
    for name, delivery in paths:
        phases = measure(data, delivery, f"/generations/{row.pk}/video.mp4", status_path)
        figures += summarise(name, phases, targeted=delivery == "server")
    report("(f) slow viewers", figures)
    cleanup(data)
    return 0


def measure(data: Path, delivery: str, video: str, status: str) -> dict:
    """Start the studio with `delivery`, time it idle, then with the viewers downloading."""
    with studio(data, delivery) as (url, sender):
        session = sign_in(url, "bench", "a-long-bench-password")
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        session.close()
        paths = ["/healthz", status]
        time_requests(url, paths, cookie, 50, 10)  # warm every worker up
        # Idle and loaded rounds take turns, so the machine's other work (it is shared)
        # falls on both alike.
        rounds = {"idle": [], "loaded": [], "viewers": [], "sender_cpu": []}
        for _ in range(ROUNDS if delivery != "app" else 1):
            rounds["idle"].append(time_requests(url, paths, cookie, SAMPLES // ROUNDS, WINDOW))
            cpu, started = cpu_seconds(sender.group_pids()), time.monotonic()
            viewers, timed = with_viewers(
                url + video,
                cookie,
                lambda: time_requests(url, paths, cookie, SAMPLES // ROUNDS, WINDOW),
            )
            rounds["sender_cpu"].append(
                (cpu_seconds(sender.group_pids()) - cpu) / (time.monotonic() - started)
            )
            rounds["loaded"].append(timed)
            rounds["viewers"].append(viewers)
    return rounds


@contextmanager
def studio(data: Path, delivery: str) -> Iterator[tuple[str, Process]]:
    """gunicorn as `make run` starts it and what sends the files: the media process, or
    nginx in front with docs/nginx.conf. Yields (the URL people use, the sender)."""
    from studio.run import media_command, web_command

    port, side = free_port(), free_port()
    env = {
        "STUDIO_MEDIA_DELIVERY": delivery,
        "STUDIO_MEDIA_SERVER_URL": f"http://127.0.0.1:{side}",
        "LOG_LEVEL": "WARNING",
    }
    web = Process("web", web_command("127.0.0.1", port, 3), data / f"web-{delivery}.log", env)
    if delivery == "nginx":
        command = nginx_command(data / "nginx", port, side, data / "media")
        sender = Process("nginx", command, data / "nginx.log")
        url = f"http://127.0.0.1:{side}"
    else:
        sender = Process("media", media_command("127.0.0.1", side), data / "media.log", env)
        url = f"http://127.0.0.1:{port}"
    with running(sender, web):
        wait_for_http(f"http://127.0.0.1:{port}/healthz", web)
        wait_for_http(f"http://127.0.0.1:{side}/healthz", sender)
        yield url, sender


def with_viewers(url: str, cookie: str, timed) -> tuple[list, dict]:
    """Run `timed()` while VIEWERS viewers download `url`; (what each viewer received and
    its error, what `timed` returned). The viewers run in a process of their own, so
    their threads never stand between the timer and the GIL."""
    viewers = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.viewers", "crowd", url, cookie],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    # Timing starts once every viewer has asked and been sent data for 2 s (or waits for
    # a thread, on the old path): what is timed is watching, not arriving.
    assert viewers.stdout.readline().strip() == "ready"
    found = timed()
    out, _ = viewers.communicate("", timeout=60)  # end of input: the viewers stop
    return json.loads(out), found


def pooled(rounds: list[dict]) -> dict:
    """The rounds' latencies and errors together, per path."""
    merged: dict = {}
    for found in rounds:
        for path, values in found.items():
            into = merged.setdefault(path, {"latencies": [], "errors": 0})
            into["latencies"] += values["latencies"]
            into["errors"] += values["errors"]
    return merged


def crowd(url: str, cookie: str) -> int:
    """`python -m benchmarks.viewers crowd URL COOKIE`: VIEWERS viewers until the end of
    standard input, then what each received (bytes) and its error as JSON. One thread
    reads every viewer's socket each STEP, so the crowd itself costs next to nothing."""
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    viewers = [Viewer(url, {"Cookie": cookie}) for _ in range(VIEWERS)]
    steps = 0
    while not stop.wait(STEP):
        for viewer in viewers:
            viewer.step()
        steps += 1
        if steps == int(2 / STEP):
            print("ready", flush=True)
    print(json.dumps([[viewer.received, viewer.error] for viewer in viewers]))
    return 0


class Viewer:
    """One person on a slow link: asks for the video, follows the studio's redirect and
    reads RATE * STEP bytes a STEP through a 128 KB receive buffer."""

    def __init__(self, url: str, headers: dict):
        self.received, self.error, self.hops = 0, "", 2
        self.head = b""
        self.sock = self.ask(url, headers)

    def ask(self, url: str, headers: dict) -> socket.socket | None:
        parts = urlsplit(url)
        try:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
            sock.connect((parts.hostname, parts.port))
            target = f"{parts.path}?{parts.query}" if parts.query else parts.path
            lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            sock.setblocking(False)
            return sock
        except OSError as error:
            self.error = f"{type(error).__name__}: {error}"
            return None

    def step(self) -> None:
        if self.sock is None:
            return
        try:
            data = self.sock.recv(int(RATE * STEP))
        except BlockingIOError:
            return  # nothing sent yet (a viewer the old path keeps waiting)
        except OSError as error:
            self.error, self.sock = f"{type(error).__name__}: {error}", None
            return
        if not data:
            self.sock = None
        elif b"\r\n\r\n" not in self.head:
            self.headers(data)
        else:
            self.received += len(data)

    def headers(self, data: bytes) -> None:
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        head, _, body = self.head.partition(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status == b"302" and self.hops:
            location = next(
                line.split(b":", 1)[1].strip().decode()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"location:")
            )
            self.sock.close()
            self.hops, self.head = self.hops - 1, b""
            self.sock = self.ask(location, {})
        elif status != b"200":
            self.error, self.sock = f"HTTP {status.decode()}", None
        else:
            self.received += len(body)


def time_requests(base: str, paths: list[str], cookie: str, count: int, seconds: float) -> dict:
    """One request at a time, each on a new connection (as many people's browsers land
    on any of gunicorn's workers): each path in turn, `count` rounds or `seconds`,
    whichever ends first. Returns latencies (s) and errors per path."""
    parts = urlsplit(base)
    headers = {"Cookie": cookie, "HX-Request": "true", "Accept": "text/html"}
    found = {path: {"latencies": [], "errors": 0} for path in paths}
    deadline = time.monotonic() + seconds
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        for path in paths:
            started = time.perf_counter()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status in (200, 286)
            except (OSError, http.client.HTTPException):
                ok = False
            finally:
                conn.close()
            if ok:
                found[path]["latencies"].append(time.perf_counter() - started)
            else:
                found[path]["errors"] += 1
        time.sleep(0.01)
    return found


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def summarise(name: str, phases: dict, targeted: bool) -> list[dict]:
    """The new path carries the targets; the old one is the comparison beside it."""
    # The worst round counts: every viewer must receive data in every round.
    served = min(sum(1 for got, _error in viewers if got > 0) for viewers in phases["viewers"])
    failed = [error for viewers in phases["viewers"] for _got, error in viewers if error]
    mb = sorted(got / 1e6 for viewers in phases["viewers"] for got, _error in viewers) or [0.0]
    figures = [
        {
            "name": f"{name}: viewers receiving data, of {VIEWERS} at {RATE // 1024} KB/s "
            f"({VIDEO_MB} MB video; received {mb[0]:.1f}-{mb[-1]:.1f} MB each; "
            f"{len(failed)} failed{': ' + failed[0] if failed else ''}; what sends the files used "
            f"{max(phases['sender_cpu']) * 100:.1f} % of a core at most)",
            "value": served,
            "unit": "viewers",
        }
    ]
    idle_rounds, loaded_rounds = pooled(phases["idle"]), pooled(phases["loaded"])
    for path, label in zip(idle_rounds, ("/healthz", "status endpoint"), strict=True):
        idle, loaded = idle_rounds[path], loaded_rounds[path]
        idle_p50 = statistics.median(idle["latencies"]) * 1000 if idle["latencies"] else 0
        p50 = percentile(loaded["latencies"], 0.5) * 1000
        p99 = percentile(loaded["latencies"], 0.99) * 1000
        errors = loaded["errors"]
        met = p99 < 100 and p99 <= 3 * idle_p50 and errors == 0 and served == VIEWERS and not failed
        figure = {
            "name": f"{name}: {label} p99 with {VIEWERS} slow viewers (p50 {p50:.1f} ms, "
            f"{len(loaded['latencies'])} answered, {errors} errors or timeouts > "
            f"{TIMEOUT:g} s; idle: p50 {idle_p50:.1f} ms, p99 "
            f"{percentile(idle['latencies'], 0.99) * 1000:.1f} ms)",
            "value": p99,
            "unit": "ms",
            "baseline": idle_p50,
            "baseline_unit": "ms (idle p50)",
            "ratio": p99 / idle_p50 if idle_p50 else None,
        }
        if targeted:
            figure["target"] = "< 100 ms and <= 3x idle p50, no errors, every viewer served"
            figure["met"] = met
        figures.append(figure)
    return figures


if __name__ == "__main__":
    sys.exit(crowd(*sys.argv[2:4]) if sys.argv[1:2] == ["crowd"] else main())
