"""Admin commands while a daemon runs (operator-interface.md): `resync`, `quarantine
retry|drop` and `dead-letters retry|drop` are handed to the daemon through a request row
in the state file; the daemon runs them between its scheduled cycles and the command
waits for the result and prints it (`--no-wait` returns at once)."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import io
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

import structlog

from bridge.config import Config
from bridge.errors import BridgeError, LockHeld
from bridge.runtime import Runtime, load_config, open_runtime
from state.lock import StateLock
from state.store import StateStore

log = structlog.get_logger("bridge.handoff")
HANDED = {("resync", None), ("quarantine", "retry"), ("quarantine", "drop"),
          ("dead-letters", "retry"), ("dead-letters", "drop")}
_daemon_runtime: ContextVar[Runtime | None] = ContextVar("daemon_runtime", default=None)


@contextmanager
def admin_runtime(cfg: Config) -> Iterator[Runtime]:
    """The daemon's runtime when the daemon runs the command, else a fresh one (locked)."""
    rt = _daemon_runtime.get()
    if rt is not None:
        yield rt
        return
    with open_runtime(cfg) as fresh:
        yield fresh


def admin_config(config_path: str | None) -> Config:
    """The daemon's config when the daemon runs the command, else the one at config_path."""
    rt = _daemon_runtime.get()
    if rt is not None:
        return rt.cfg
    return load_config(config_path)


def admin_lock(cfg: Config) -> AbstractContextManager[Any]:
    """The state lock, unless the daemon (which holds it) runs the command."""
    return nullcontext() if _daemon_runtime.get() is not None else StateLock(cfg.state.path)


def handed(args: argparse.Namespace) -> bool:
    action = getattr(args, f"{str(args.command).replace('-', '_')}_command", None)
    return (args.command, action) in HANDED


def strip_globals(argv: Sequence[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--config":
            skip = True
        elif arg.startswith("--config=") or arg in ("--debug", "--no-wait"):
            continue
        else:
            out.append(arg)
    return out


def submit(cfg: Config, argv: Sequence[str], err: LockHeld, *, wait: bool,
           timeout_s: float = 3600.0) -> int:
    """Queue the command for the running daemon; wait for its answer unless told not to."""
    store = StateStore.open(cfg.state.path)
    try:
        daemon = store.daemon()
        if daemon is None or daemon["pid"] != err.pid or daemon["stopped_at"] is not None:
            raise err
        request_id = store.queue_request(strip_globals(argv), getpass.getuser())
        print(f"handed to the running daemon (pid {err.pid}) as request {request_id}")
        if not wait:
            return 0
        return _await(store, request_id, timeout_s)
    finally:
        store.close()


def _await(store: StateStore, request_id: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = store.request_outcome(request_id)
        if row and row[0] in ("done", "failed"):
            print(row[2] or "", end="")
            return int(row[1] if row[1] is not None else 1)
        time.sleep(0.25)
    print(f"request {request_id} is still queued or running; see `zybridge runs`")
    return 1


Command = Callable[[list[str]], int]   # runs one handed-over command line, prints its answer


def serve(rt: Runtime, run: Command) -> int:
    """Run every queued request (the daemon calls this between cycles, in its runtime);
    returns how many."""
    store = rt.store
    queued = store.queued_requests()
    for request_id, argv in queued:
        store.start_request(request_id)
        code, output = _run(argv, rt, run)
        store.finish_request(request_id, "done" if code in (0, 3) else "failed", code, output)
        log.info("admin request done", request=request_id, exit_code=code)
    return len(queued)


def _run(argv: list[str], rt: Runtime, run: Command) -> tuple[int, str]:
    buffer = io.StringIO()
    token = _daemon_runtime.set(rt)
    try:
        with contextlib.redirect_stdout(buffer):
            code = int(run(argv))
    except BridgeError as exc:
        buffer.write(f"zybridge: error: {exc}\n")
        code = exc.exit_code
    except SystemExit as exc:  # argparse refused the arguments
        code = int(exc.code or 2)
    except Exception as exc:
        log.exception("admin request crashed")
        buffer.write(f"zybridge: unexpected error in the daemon: {type(exc).__name__}\n")
        code = 1
    finally:
        _daemon_runtime.reset(token)
    return code, buffer.getvalue()
