"""A tiny HTTP server on loopback whose routes a test writes, for the downloader's tests
(test_store, test_security): `site` is allow-listed, `victim` must never be reached."""

from __future__ import annotations

import threading
from collections.abc import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


class Site:
    """A tiny HTTP server on loopback whose routes the test writes; it records each hit."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable] = {}
        self.hits: list[str] = []
        self.server: WSGIServer = make_server("127.0.0.1", 0, self, handler_class=_Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        self.hits.append(path)
        route = self.routes.get(path)
        if route is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no"]
        return route(start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(body: bytes, content_type: str, status: str = "200 OK") -> Callable:
    def route(start_response):
        start_response(status, [("Content-Type", content_type)])
        return [body]

    return route


def redirect(location: str) -> Callable:
    def route(start_response):
        start_response("302 Found", [("Location", location)])
        return [b""]

    return route
