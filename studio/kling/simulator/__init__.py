"""A CometAPI-compatible Kling text-to-video simulator (docs/upstream.md §13), as a WSGI app."""

from .app import Simulator
from .config import SimConfig
from .render import render_mp4
from .server import ThreadingWSGIServer, serve

__all__ = ["SimConfig", "Simulator", "ThreadingWSGIServer", "render_mp4", "serve"]
