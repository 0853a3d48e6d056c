"""`python -m bridge.sandbox serve …` (and `zybridge sandbox serve …`).

Secrets never go on the command line: an apps file names them as `${ENV_NAME}`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

from bridge.errors import ConfigError
from bridge.sandbox import BASE_PATH, DEMO_APP_ID
from bridge.sandbox.faults import FaultSettings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
CONTROL_TOKEN_ENV = "ZYBRIDGE_SANDBOX_CONTROL_TOKEN"


class _Stopped(Exception):
    """SIGTERM or SIGINT: stop serving, then remove what the sandbox made."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bridge.sandbox",
                                description="The national platform sandbox.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve national-api.md over HTTP on 127.0.0.1",
                       description="Serve the national interface. Without --apps, the demo "
                       f"app {DEMO_APP_ID!r} (jurisdiction 3502) is the only app.")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8750)
    s.add_argument("--apps", type=Path, help="TOML file of [[apps]] id, secret, jurisdiction; "
                   "a secret may be ${ENV_NAME}")
    s.add_argument("--db", type=Path, help="SQLite file (default: a temporary one, removed "
                   "at exit); a sandbox restarted on the same file keeps everything")
    s.add_argument("--rate-per-s", type=float, default=20.0,
                   help="per-app requests/s of the token bucket; 0 turns it off (default 20)")
    s.add_argument("--burst", type=int, default=40, help="token bucket size (default 40)")
    s.add_argument("--no-rate-limit", action="store_true", help="same as --rate-per-s 0")
    s.add_argument("--latency-ms", type=float, default=0.0,
                   help="added processing latency of each faulted request")
    s.add_argument("--fault-seed", type=int, default=0, help="seed of the fault generator")
    s.add_argument("--pre-error-rate", type=float, default=0.0,
                   help="share answered 500/502/503 before applying")
    s.add_argument("--post-error-rate", type=float, default=0.0,
                   help="share answered 502 after committing")
    s.add_argument("--drop-rate", type=float, default=0.0,
                   help="share whose connection drops after committing")
    s.add_argument("--slow-rate", type=float, default=0.0,
                   help="share delayed by --slow-ms after committing")
    s.add_argument("--slow-ms", type=float, default=0.0)
    s.add_argument("--fault-reads", action="store_true",
                   help="faults apply to reads too (default: batch and revoke POSTs only)")
    s.add_argument("--control", action="store_true",
                   help="serve the /_sandbox control endpoints (stats, faults, every record "
                        "with full ID numbers: for tests), guarded by the token in "
                        f"${CONTROL_TOKEN_ENV}")
    s.add_argument("--no-control", action="store_true",
                   help="no /_sandbox control endpoints (the default; overrides --control)")
    s.add_argument("--log-level", choices=LOG_LEVELS, default="warning")
    return p


def settings_of(args: argparse.Namespace) -> FaultSettings:
    changes = {"seed": args.fault_seed, "latency_ms": args.latency_ms,
               "pre_error_rate": args.pre_error_rate, "post_error_rate": args.post_error_rate,
               "drop_rate": args.drop_rate, "slow_rate": args.slow_rate,
               "slow_ms": args.slow_ms, "reads": args.fault_reads,
               "rate_per_s": 0.0 if args.no_rate_limit else args.rate_per_s,
               "burst": args.burst}
    try:
        return FaultSettings().merged(changes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    previous = os.umask(0o077)
    os.umask(previous | 0o077)  # its database, WAL and logs: 0600
    try:
        return serve(args)
    except ConfigError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    finally:
        os.umask(previous)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bridge.sandbox import control, server
    from bridge.sandbox.auth import load_apps
    from bridge.sandbox.db import Store
    from bridge.sandbox.state import Sandbox

    settings = settings_of(args)
    apps = load_apps(args.apps, os.environ)
    token = _control_token(args)
    db_path, temporary = _db_path(args.db)
    # uvicorn hands a SIGTERM/SIGINT back to the handler it found once it has stopped:
    # ours raises, so that the finally below runs and a temporary database goes too
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    store = Store(db_path)
    try:
        sandbox = Sandbox(store, apps, settings, control=token is not None)
        extra = [] if token is None else control.routes(sandbox, token)
        asgi = control.CountRequests(server.build(sandbox, extra), sandbox)
        config = uvicorn.Config(asgi, host=args.host, port=args.port, lifespan="off",
                                log_level=args.log_level, access_log=args.log_level == "debug",
                                timeout_graceful_shutdown=2)
        logging.getLogger("uvicorn.error").addFilter(control.QuietDrops())
        print(f"sandbox: http://{args.host}:{args.port}{BASE_PATH} db={db_path} "
              f"apps={','.join(sorted(apps))}", file=sys.stderr, flush=True)
        uvicorn.Server(config).run()
    except (_Stopped, KeyboardInterrupt):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        store.close()
        if temporary:
            _remove(db_path)
    return 0


def _control_token(args: argparse.Namespace) -> str | None:
    """The control endpoints' token, or None when they are off."""
    if not args.control or args.no_control:
        return None
    token = os.environ.get(CONTROL_TOKEN_ENV, "")
    if len(token) < 16:
        raise ConfigError(f"--control needs a token of at least 16 characters in "
                          f"${CONTROL_TOKEN_ENV}")
    return token


def _db_path(given: Path | None) -> tuple[Path, bool]:
    if given is not None:
        given.parent.mkdir(parents=True, exist_ok=True)
        return given, False
    fd, name = tempfile.mkstemp(prefix="zy-sandbox-", suffix=".db")
    os.close(fd)
    return Path(name), True


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
