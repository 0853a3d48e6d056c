"""`zybridge sandbox …`: the national platform sandbox's own command line."""

from __future__ import annotations

import argparse

from bridge.commands.render import Sub
from bridge.errors import ConfigError


def register(sub: Sub) -> None:
    sb = sub.add_parser("sandbox", help="the national platform sandbox",
                        description="A real HTTP server implementing the national interface.")
    sb.add_argument("args", nargs=argparse.REMAINDER,
                    help="`serve [--host] [--port] [--apps FILE] [--db FILE] …`")
    sb.set_defaults(func=cmd_sandbox, needs_config=False)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bridge.sandbox.cli import main as sandbox_main

    rest: list[str] = list(args.args)
    if not rest:
        raise ConfigError("usage: zybridge sandbox serve [--host H] [--port P] [--apps FILE] …")
    return sandbox_main(rest)
