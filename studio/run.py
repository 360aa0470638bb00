"""`make run`: migrate, create the first admin, then run the web server, the media server
(videos and posters, docs/architecture.md "Media delivery"), the worker and (without
COMETAPI_KEY) the simulator together until Ctrl-C, which stops all of them. A
child that exits on its own is restarted with a back-off; one that keeps crashing stops
everything, with the reason."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable

import django

SIMULATOR_CLOCK = {
    "STUDIO_SIM_PROCESSING_AFTER": "--processing-after",
    "STUDIO_SIM_FINISH_AFTER": "--finish-after",
}


def simulator_command(port: int, strict: bool = True) -> list[str]:
    """The simulator on loopback, with its clock from the environment when given. Strict
    (STUDIO_SIM_STRICT, on by default) holds requests to CometAPI's documented shape."""
    command = [sys.executable, "-m", "studio.kling.simulator", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--strict" if strict else "--no-strict"]
    for variable, flag in SIMULATOR_CLOCK.items():
        if os.environ.get(variable):
            command += [flag, os.environ[variable]]
    return command


def web_command(host: str, port: int, workers: int) -> list[str]:
    """gunicorn as the studio runs it: threaded workers, an access log without webhook
    tokens (docs/reliability.md R27: studio.accesslog)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "studio.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--access-logfile",
        "-",
        "--logger-class",
        "studio.accesslog.RedactingLogger",
        "--graceful-timeout",
        "10",
        # Several studios on one machine (tests, benchmarks) must not share one socket.
        "--no-control-socket",
    ]


def media_command(host: str, port: int) -> list[str]:
    """The media process: sends videos on asyncio, so a slow viewer holds no web thread."""
    command = [sys.executable, "-m", "studio.generations.mediaserver"]
    return command + ["--host", host, "--port", str(port)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("STUDIO_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STUDIO_PORT", "8000")))
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "3")))
    parser.add_argument(
        "--media-port", type=int, default=int(os.environ.get("STUDIO_MEDIA_PORT", "8002"))
    )
    parser.add_argument("--no-worker", action="store_true", help="do not start the qcluster")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    # Videos go out through the media process unless the settings choose another way.
    os.environ.setdefault("STUDIO_MEDIA_SERVER_URL", f"http://{args.host}:{args.media_port}")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("ensure_admin")

    commands: dict[str, list[str]] = {}
    if settings.SIMULATOR_MODE:
        commands["simulator"] = simulator_command(
            settings.SIMULATOR_PORT, settings.SIMULATOR_STRICT
        )
    commands["web"] = web_command(args.host, args.port, args.web_workers)
    if settings.MEDIA_DELIVERY == "server":
        commands["media"] = media_command(args.host, args.media_port)
    if not args.no_worker:
        commands["worker"] = [sys.executable, "manage.py", "worker"]
    mode = (
        "simulator mode (no COMETAPI_KEY)"
        if settings.SIMULATOR_MODE
        else settings.COMETAPI_BASE_URL
    )
    banner = (
        f"\n  Kling Prompt Studio is running at http://{args.host}:{args.port}/  [{mode}]\n"
        + (
            f"  Videos are sent from port {args.media_port} (the media process).\n"
            if "media" in commands
            else ""
        )
        + "  Press Ctrl-C to stop everything.\n"
    )
    # The worker's own stop grace, and a little more for the others.
    return supervise(commands, banner, grace=settings.WORKER_STOP_SECONDS + 5)


# A child that exits unexpectedly is started again after RESTART_FIRST seconds, doubling
# with each exit in the window up to RESTART_MAX; CRASH_LIMIT exits within CRASH_WINDOW
# seconds mean it will not get better by itself (a bad setting, a full disk), so give up.
RESTART_FIRST = 1.0
RESTART_MAX = 30.0
CRASH_LIMIT = 5
CRASH_WINDOW = 60.0


class Child:
    """One supervised command: its process (None while it waits to restart) and its exits."""

    def __init__(self, name: str, command: list[str]):
        self.name, self.command = name, command
        self.exits: list[float] = []
        self.restart_at = 0.0
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        # Own process group: Ctrl-C reaches us once, and we stop the children in order.
        self.popen = subprocess.Popen(self.command, start_new_session=True)

    def exited(self, now: float, window: float) -> int:
        """Record an exit at `now`: kill what is left of its process group (a cluster's
        or gunicorn's forked workers would hold the queue or the port), and return how
        many exits fall within the last `window` seconds."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.exits = [at for at in self.exits if now - at < window] + [now]
        return len(self.exits)


def describe_exit(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def supervise(
    commands: dict[str, list[str]],
    banner: str,
    grace: float,
    *,
    first: float = RESTART_FIRST,
    limit: int = CRASH_LIMIT,
    window: float = CRASH_WINDOW,
) -> int:
    """Start the commands and keep them running until Ctrl-C (or SIGTERM): a child that
    exits is restarted after a back-off. When one exits `limit` times within `window`
    seconds, stop them all (`grace` seconds before a kill) and return 1; 0 after Ctrl-C."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children = [Child(name, command) for name, command in commands.items()]
    for child in children:
        child.start()
    print(banner, flush=True)
    code = 0
    while not stopping and not code:
        for child in children:
            code = code or watch(child, time.monotonic(), first, limit, window)
        time.sleep(0.2)
    stop_children([child.popen for child in children if child.popen], grace)
    print("  Stopped.", flush=True)
    return code


def watch(child: Child, now: float, first: float, limit: int, window: float) -> int:
    """One look at `child`: restart it when its back-off is over, or notice that it exited.
    Returns 1 when it keeps crashing (everything stops), else 0."""
    if child.popen is None:
        if now >= child.restart_at:
            child.start()
            print(f"  {child.name} restarted (pid {child.popen.pid}).", flush=True)
        return 0
    if child.popen.poll() is None:
        return 0
    how = describe_exit(child.popen.returncode)
    exits = child.exited(now, window)
    if exits >= limit:
        print(
            f"  {child.name} {how}; it exited {exits} times within {window:g} s, so it is "
            f"not restarted again: stopping everything. Its output above says why.",
            flush=True,
        )
        return 1
    delay = min(RESTART_MAX, first * 2 ** (exits - 1))
    print(f"  {child.name} {how}; restarting it in {delay:g} s.", flush=True)
    child.popen, child.restart_at = None, now + delay
    return 0


def stop_children(children: Iterable[subprocess.Popen], grace: float) -> None:
    """SIGTERM to each child still running, then up to `grace` seconds for all of them to
    exit; a child still running then is killed."""
    children = list(children)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    sys.exit(main())
