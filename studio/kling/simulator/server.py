"""Serves a Simulator over HTTP: wsgiref with a thread per request, on a daemon thread."""

from __future__ import annotations

import logging
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .app import Simulator

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """wsgiref's handler without its per-request stderr line (the app logs at debug)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def get_stderr(self) -> Any:
        return _LogStream()


class _LogStream:
    def write(self, data: str) -> None:
        if data.strip():
            log.debug("%s", data.rstrip())

    def flush(self) -> None:
        pass


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server with a daemon thread per request, so a slow answer blocks no one."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # benchmarks open many connections at once

    simulator: Simulator
    url: str
    thread: threading.Thread

    def stop(self) -> None:
        """Stop serving, close the socket and close the simulator."""
        self.shutdown()
        self.server_close()
        self.simulator.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are expected here (slow faults); no tracebacks.
        log.debug("error while serving %s", client_address, exc_info=True)


def serve(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> ThreadingWSGIServer:
    """Serve `sim` on a daemon thread and return the running server (`.url`, `.stop()`).

    Sets `sim.url` and `sim.server`, and `sim.config.public_url` when it is empty.
    """
    server = ThreadingWSGIServer((host, port), _QuietHandler)
    server.set_app(sim)
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
    server.url = f"http://{shown}:{server.server_port}"
    server.simulator = sim
    sim.url, sim.server = server.url, server
    if not sim.config.public_url:
        sim.config.public_url = server.url
    # A short poll keeps stop() quick (shutdown waits for the loop's next poll); an idle
    # select every 20 ms costs nothing measurable.
    server.thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="sim-server", daemon=True
    )
    server.thread.start()
    return server
