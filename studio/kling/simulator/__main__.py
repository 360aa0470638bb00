"""`python -m studio.kling.simulator`: serve the simulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from .app import Simulator
from .config import CHOICES, SimConfig, field_help, field_kinds
from .server import serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m studio.kling.simulator",
        description="Serve the CometAPI-compatible Kling simulator.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    defaults, helps = SimConfig(), field_help()
    # One flag per SimConfig field, so the CLI never falls behind the config.
    for name, (base, _optional) in field_kinds().items():
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        if base is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=helps[name]
            )
            continue
        parser.add_argument(
            flag,
            type=base,
            default=default,
            choices=CHOICES.get(name),
            metavar=base.__name__.upper(),
            help=f"{helps[name]} (default: {'unset' if default is None else repr(default)})",
        )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    options = {name: getattr(args, name) for name in field_kinds()}
    try:
        config = SimConfig(**options)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    server = serve(Simulator(config), host=args.host, port=args.port)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # The URL goes to stdout first thing, so a parent process started with --port 0 can read it.
    print(f"Kling simulator listening on {server.url}", flush=True)
    while not stopping.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
