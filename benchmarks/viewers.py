"""(f) Slow viewers: 20 people downloading a 40 MB video at 64 KB/s while `/healthz` and the
live status endpoint are timed, on the new path (`make run`'s: gunicorn checks access and
redirects, the media process sends the bytes) and on the old one (the video streamed by
gunicorn's own threads), one after the other in the same run, each beside its idle
baseline measured just before the viewers start.

The web server is gunicorn exactly as `make run` starts it (studio.run.web_command: 3
workers of 4 threads); the media process is studio.run.media_command. Each viewer is a
socket with a 128 KB receive buffer that reads 16 KB every 0.25 s; a timer sends one
request at a time (`/healthz`, then the status URL, then a 10 ms pause), with a 2 s limit.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.harness import (
    Process,
    cleanup,
    make_user,
    report,
    running,
    setup,
    wait_for_http,
)
from benchmarks.queries import grow
from tests.system import free_port, sign_in

VIEWERS = int(os.environ.get("BENCH_VIEWERS", 20))
VIDEO_MB = int(os.environ.get("BENCH_VIEWERS_VIDEO_MB", 40))
RATE = 64 * 1024  # bytes per second per viewer
STEP = 0.25  # a viewer reads RATE * STEP bytes every STEP seconds
SAMPLES = int(os.environ.get("BENCH_VIEWERS_SAMPLES", 300))  # timed pairs per phase
WINDOW = float(os.environ.get("BENCH_VIEWERS_SECONDS", 25))  # at most, per phase
TIMEOUT = 2.0


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
    for name, delivery in (("new path (media process)", "server"), ("old path (gunicorn)", "app")):
        phases = measure(data, delivery, f"/generations/{row.pk}/video.mp4", status_path)
        figures += summarise(name, phases, targeted=delivery == "server")
    report("(f) slow viewers", figures)
    cleanup(data)
    return 0


def measure(data: Path, delivery: str, video: str, status: str) -> dict:
    """Start the studio with `delivery`, time it idle, then with the viewers downloading."""
    from studio.run import media_command, web_command

    port, media_port = free_port(), free_port()
    env = {
        "STUDIO_MEDIA_DELIVERY": delivery,
        "STUDIO_MEDIA_SERVER_URL": f"http://127.0.0.1:{media_port}",
        "LOG_LEVEL": "WARNING",
    }
    web = Process("web", web_command("127.0.0.1", port, 3), data / f"web-{delivery}.log", env)
    media = Process("media", media_command("127.0.0.1", media_port), data / "media.log", env)
    url = f"http://127.0.0.1:{port}"
    with running(media, web):
        wait_for_http(f"{url}/healthz", web)
        wait_for_http(f"http://127.0.0.1:{media_port}/healthz", media)
        session = sign_in(url, "bench", "a-long-bench-password")
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        session.close()
        time_requests(url, ["/healthz", status], cookie, 50, 10)  # warm every worker up
        idle = time_requests(url, ["/healthz", status], cookie, SAMPLES, WINDOW)
        viewers = [Viewer(url + video, cookie) for _ in range(VIEWERS)]
        for viewer in viewers:
            viewer.start()
        time.sleep(3)  # every viewer has asked, and is being sent its video (or waits)
        loaded = time_requests(url, ["/healthz", status], cookie, SAMPLES, WINDOW)
        for viewer in viewers:
            viewer.stop()
    return {"idle": idle, "loaded": loaded, "viewers": viewers}


class Viewer(threading.Thread):
    """One person on a slow link: asks for the video (following the studio's redirect)
    and reads it at RATE through a small receive buffer."""

    def __init__(self, url: str, cookie: str):
        super().__init__(daemon=True)
        self.url, self.cookie = url, cookie
        self.received = 0
        self.error = ""
        self.done = threading.Event()

    def run(self) -> None:
        try:
            sock = self.open(self.url, {"Cookie": self.cookie})
            chunk = int(RATE * STEP)
            while not self.done.is_set():
                started = time.monotonic()
                data = sock.recv(chunk)
                if not data:
                    break
                self.received += len(data)
                self.done.wait(max(0.0, STEP - (time.monotonic() - started)))
            sock.close()
        except OSError as error:
            self.error = f"{type(error).__name__}: {error}"

    def open(self, url: str, headers: dict, hops: int = 2) -> socket.socket:
        parts = urlsplit(url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
        sock.settimeout(60)
        sock.connect((parts.hostname, parts.port))
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            more = sock.recv(1)  # byte by byte: nothing of the body is read here
            if not more:
                raise OSError("closed before the headers")
            head += more
        status = head.split(b" ", 2)[1]
        if status == b"302" and hops:
            location = next(
                line.split(b":", 1)[1].strip().decode()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"location:")
            )
            sock.close()
            return self.open(location, {}, hops - 1)
        if status != b"200":
            raise OSError(f"HTTP {status.decode()}")
        return sock

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)


def time_requests(base: str, paths: list[str], cookie: str, count: int, seconds: float) -> dict:
    """One request at a time over a keep-alive connection: each path in turn, `count`
    rounds or `seconds`, whichever ends first. Returns latencies (s) and errors per path."""
    parts = urlsplit(base)
    headers = {"Cookie": cookie, "HX-Request": "true", "Accept": "text/html"}
    found = {path: {"latencies": [], "errors": 0} for path in paths}
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    deadline = time.monotonic() + seconds
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        for path in paths:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status in (200, 286)
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
            if ok:
                found[path]["latencies"].append(time.perf_counter() - started)
            else:
                found[path]["errors"] += 1
        time.sleep(0.01)
    conn.close()
    return found


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def summarise(name: str, phases: dict, targeted: bool) -> list[dict]:
    """The new path carries the targets; the old one is the comparison beside it."""
    viewers = phases["viewers"]
    served = sum(1 for viewer in viewers if viewer.received > 0)
    failed = [viewer.error for viewer in viewers if viewer.error]
    mb = sorted(viewer.received / 1e6 for viewer in viewers)
    figures = [
        {
            "name": f"{name}: viewers receiving data, of {VIEWERS} at {RATE // 1024} KB/s "
            f"({VIDEO_MB} MB video; received {mb[0]:.1f}-{mb[-1]:.1f} MB each; "
            f"{len(failed)} failed{': ' + failed[0] if failed else ''})",
            "value": served,
            "unit": "viewers",
        }
    ]
    for path, label in zip(phases["idle"], ("/healthz", "status endpoint"), strict=True):
        idle, loaded = phases["idle"][path], phases["loaded"][path]
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
    sys.exit(main())
