"""The `zybridge` command line (operator-interface.md): the root parser and main(). Each
command group lives in bridge/commands/; errors become one clear line and an exit code,
tracebacks only with --debug."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from bridge import logs
from bridge.commands import admin, audit, demo, sandbox, state, status, sync
from bridge.commands.render import terminal_guard
from bridge.console import cli as console_cli
from bridge.errors import BridgeError, LockHeld

PIPE_CLOSED = 141


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zybridge", description=(
        "Sync volunteer-service records from local 志愿云 systems to the national platform."))
    p.add_argument("--config", help="config file (default: $ZYBRIDGE_CONFIG or ./zybridge.toml)")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    p.add_argument("--no-wait", action="store_true",
                   help="when a daemon runs: hand the command over and return at once "
                   "(also accepted after the command)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sync.register(sub)
    status.register(sub)
    audit.register(sub)
    admin.register(sub)
    state.register(sub)
    console_cli.register(sub)
    demo.register(sub)
    sandbox.register(sub)
    return p


def version() -> str:
    """The installed package's version (pyproject.toml's, through its metadata)."""
    try:
        return metadata.version("zhiyuan-bridge")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line, creating every file 0600 (umask 077, issue 18); the caller's
    umask is given back at the end (tests and embedders call this in-process). Everything
    it prints goes through render.clean: no control character reaches the terminal."""
    previous = os.umask(0o077)
    os.umask(previous | 0o077)
    try:
        with terminal_guard():
            code = _main(argv)
            sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
        return code
    except BrokenPipeError:
        return _pipe_closed()
    finally:
        os.umask(previous)


def _pipe_closed() -> int:
    """The reader of stdout went away (`zybridge runs --json | head -1`): stop quietly
    with 141 (128 + SIGPIPE), as a Unix tool killed by SIGPIPE does. What is still
    buffered goes to /dev/null so the interpreter's exit raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout has no descriptor (replaced in-process)
        pass
    return PIPE_CLOSED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        try:
            return func(args)
        except LockHeld as held:
            from bridge.ops import handoff
            from bridge.runtime import load_config

            request = admin.handed_request(args)
            if request is None:
                raise
            admin.confirm_handed(args)   # asked before the hand-off: a refusal queues nothing
            return handoff.submit(load_config(args.config), request, held,
                                  wait=not args.no_wait)
    except BridgeError as exc:
        if args.debug:
            raise
        print(f"zybridge: error: {logs.scrub(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("zybridge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # main() ends quietly
    except Exception as exc:
        if args.debug:
            raise
        print(f"zybridge: unexpected error: {type(exc).__name__}: {logs.scrub(str(exc))} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1
