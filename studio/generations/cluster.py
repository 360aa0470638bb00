"""The django-q2 cluster under a main process that alone decides when it stops.

Why not django-q2's own `Cluster`: its `Sentinel` resets SIGTERM to the default action, so
a SIGTERM sent to every process of the worker at once (systemd's default stop, or
`kill -TERM -<pgid>`) kills the sentinel outright, most often while it sleeps in
`stop_event.wait()`. The main process's handler then calls `stop_event.set()`, whose
`notify_all()` waits for each sleeper it wakes to acknowledge; the dead sentinel never
does, so the main process sits in a futex beside its defunct sentinel until SIGKILL.

Here SIGTERM and SIGINT are blocked in every process of the cluster (the mask is
inherited across fork; the Sentinel only changes the handler), so only the main process
acts on them. It stops the cluster in django-q2's order: the pusher stops taking tasks,
each worker finishes the task it holds, the monitor records the results. Whatever still
runs after STUDIO_WORKER_STOP_SECONDS is killed: every step restarts from its row, and the
next worker to start takes back the leases and queued tasks (docs/reliability.md R2).

While the sentinel lives, the main process writes the cluster's heartbeat row every
STUDIO_HEARTBEAT_SECONDS (studio/generations/vitals.py, docs/reliability.md R53).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connections

logger = logging.getLogger(__name__)

STOPS = {signal.SIGTERM, signal.SIGINT}


def run(grace: float) -> None:
    """Run a cluster until SIGTERM or SIGINT, then stop it within `grace` seconds."""
    from django_q.cluster import Sentinel, get_mp_context
    from django_q.humanhash import humanize

    from studio.generations.vitals import WorkerHeartbeat

    context = get_mp_context()
    stop_event, start_event, cluster_id = context.Event(), context.Event(), uuid.uuid4()
    name = humanize(cluster_id.hex)
    heart = WorkerHeartbeat(
        cluster=cluster_id, name=name, host=socket.gethostname(), pid=os.getpid()
    )
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)  # before the fork: inherited
    os.register_at_fork(after_in_child=watch_parents_sigterm)
    # The sentinel must not inherit this process's database connection: the heartbeat
    # keeps using it, and a child closing a shared socket would end it for both.
    connections.close_all()
    try:
        sentinel = context.Process(
            target=Sentinel, args=(stop_event, start_event, cluster_id), name="sentinel"
        )
        sentinel.start()
        logger.info("Q Cluster %s starting (stops within %s s of SIGTERM).", name, grace)
        received = watch(sentinel, heart)
        logger.info("Q Cluster %s got %s: stopping.", name, signal.strsignal(received))
        heart.stop()
        stop(sentinel, stop_event, grace)
        logger.info("Q Cluster %s has stopped.", name)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def watch(sentinel, heart) -> int:
    """Beat while the sentinel lives, until a stop signal arrives; returns its number."""
    every = settings.STUDIO_HEARTBEAT_SECONDS
    next_beat = 0.0
    while True:
        if time.monotonic() >= next_beat:
            heart.beat()
            next_beat = time.monotonic() + every
        received = signal.sigtimedwait(STOPS, min(1.0, every))
        if received is not None:
            return received.si_signo
        if not sentinel.is_alive():
            heart.stop()
            raise CommandError(f"The cluster's sentinel exited ({sentinel.exitcode}).")


def stop(sentinel, stop_event, grace: float) -> None:
    """Ask the sentinel to stop; after `grace` seconds kill whatever of the cluster is left."""
    # Event.set() waits for the sleepers it wakes; from a thread, so a sentinel that died
    # some other way (SIGKILL, the OOM killer) cannot hold up the stop.
    threading.Thread(target=stop_event.set, daemon=True).start()
    sentinel.join(grace)
    if sentinel.is_alive():
        left = [sentinel.pid, *descendants(sentinel.pid)]
        logger.warning("Cluster still busy after %s s: killing %s processes.", grace, len(left))
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        sentinel.join()


def watch_parents_sigterm() -> None:
    """In each process forked below the main one: django-q2 ends a worker stuck past its
    task's timeout, and the sentinel its pusher and monitor at exit, with SIGTERM from the
    parent. SIGTERM is blocked here, so a thread takes it: from the parent it ends this
    process as before; from anyone else (the stop sent to every process) it is dropped."""
    threading.Thread(target=_end_on_parents_sigterm, daemon=True, name="sigterm").start()


def _end_on_parents_sigterm() -> None:
    # Every other signal keeps going to the main thread, as without this thread.
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    while True:
        if signal.sigwaitinfo({signal.SIGTERM}).si_pid == os.getppid():
            os.kill(os.getpid(), signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """The processes below `pid`, from each one's parent id in /proc (Linux)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # The name, in parentheses, may hold spaces: the fields after it are plain.
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, level = [], {pid}
    while level:
        level = {child for child, parent in parents.items() if parent in level}
        found += level
    return found
