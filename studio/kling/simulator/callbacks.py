"""Delivers task callbacks (docs/upstream.md §8) from a small thread pool, best effort."""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .config import SimConfig

log = logging.getLogger(__name__)


class Callbacks:
    """POSTs task objects to callback URLs; `count` is told "callbacks_sent" or "_failed"."""

    def __init__(self, config: Callable[[], SimConfig], count: Callable[[str], None]) -> None:
        self._config = config  # read per delivery: the config may change while running
        self._count = count
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closing = threading.Event()
        # No proxies: callback receivers are often on loopback.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def send(self, task_id: str, url: str, bodies: list[bytes]) -> None:
        """Queue `bodies` for `url`, delivered in order by one worker."""
        with self._lock:
            if self._closing.is_set():
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sim-callback")
            # One job per batch keeps a task's transitions in order; the pool keeps a slow
            # receiver from holding up the ticker.
            self._pool.submit(self._deliver, task_id, url, bodies)

    def _deliver(self, task_id: str, url: str, bodies: list[bytes]) -> None:
        config = self._config()
        if config.callback_delay and self._closing.wait(config.callback_delay):
            return
        for body in bodies:
            request = urllib.request.Request(
                url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with self._opener.open(request, timeout=config.callback_timeout) as answer:
                    answer.read()
                self._count("callbacks_sent")
            except Exception as error:  # §8: best effort; a receiver's failure is its own
                # The URL is left out: receivers put secret tokens in it.
                log.debug("callback for task %s failed: %s", task_id, type(error).__name__)
                self._count("callbacks_failed")

    def close(self) -> None:
        with self._lock:
            self._closing.set()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
