"""`make run`: migrate, create the first admin, then run the web server, the worker and
(without COMETAPI_KEY) the simulator together until Ctrl-C, which stops all of them."""

from __future__ import annotations

import argparse
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
    tokens (R27: studio.accesslog)."""
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("STUDIO_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STUDIO_PORT", "8000")))
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "3")))
    parser.add_argument("--no-worker", action="store_true", help="do not start the qcluster")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
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
    if not args.no_worker:
        commands["worker"] = [sys.executable, "manage.py", "worker"]
    mode = (
        "simulator mode (no COMETAPI_KEY)"
        if settings.SIMULATOR_MODE
        else settings.COMETAPI_BASE_URL
    )
    banner = (
        f"\n  Kling Prompt Studio is running at http://{args.host}:{args.port}/  [{mode}]\n"
        "  Press Ctrl-C to stop the web server and the worker.\n"
    )
    # The worker's own stop grace, and a little more for the others.
    return supervise(commands, banner, grace=settings.WORKER_STOP_SECONDS + 5)


def supervise(commands: dict[str, list[str]], banner: str, grace: float) -> int:
    """Start the commands, run until Ctrl-C (or SIGTERM) or until one of them exits, then
    stop them all (`grace` seconds before a kill). The exit code: 0 after Ctrl-C, else the
    code of the child that exited."""
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # Own process group: Ctrl-C reaches us once, and we stop the children in order.
    children = {
        name: subprocess.Popen(command, start_new_session=True)
        for name, command in commands.items()
    }
    print(banner, flush=True)
    code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"  {name} exited with code {child.returncode}; stopping.", flush=True)
                code = child.returncode or 1
                stopping = True
                break
        time.sleep(0.5)
    stop_children(children.values(), grace)
    print("  Stopped.", flush=True)
    return code


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
