"""Admin commands while a daemon runs (operator-interface.md): `resync`, `quarantine
retry|drop` and `dead-letters retry|drop` are handed to the daemon as a typed request (its
kind and its arguments, JSON) in a request row of the state file; the daemon runs them
between its scheduled cycles, in its own runtime, and the command waits for the result
and prints it (`--no-wait` returns at once)."""

from __future__ import annotations

import contextlib
import getpass
import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

from bridge.config import Config
from bridge.errors import BridgeError, LockHeld
from bridge.runtime import Runtime, open_runtime
from state.store import StateStore

log = structlog.get_logger("bridge.handoff")
KINDS = frozenset({"resync", "quarantine retry", "quarantine drop", "dead-letters retry",
                   "dead-letters drop"})


@dataclass(frozen=True)
class Request:
    """An admin command handed to the daemon: its kind and its arguments as the command
    line parsed them (JSON values only)."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"not a request the daemon runs: {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "args": self.args}

    @classmethod
    def from_json(cls, data: Any) -> Request:
        if not isinstance(data, dict) or not isinstance(data.get("args", {}), dict):
            raise ValueError("not a request of this zybridge (queued by an older one?)")
        return cls(str(data.get("kind")), dict(data.get("args") or {}))


Runner = Callable[[Request, Runtime], int]   # runs one request in the daemon's runtime


@contextmanager
def admin_runtime(cfg: Config, daemon: Runtime | None) -> Iterator[Runtime]:
    """The daemon's runtime when the daemon runs the command, else a fresh one (locked)."""
    if daemon is not None:
        yield daemon
        return
    with open_runtime(cfg) as fresh:
        yield fresh


def submit(cfg: Config, request: Request, err: LockHeld, *, wait: bool,
           timeout_s: float = 3600.0) -> int:
    """Queue the request for the running daemon; wait for its answer unless told not to."""
    store = StateStore.open(cfg.state.path)
    try:
        daemon = store.daemon()
        if daemon is None or daemon["pid"] != err.pid or daemon["stopped_at"] is not None:
            raise err
        request_id = store.queue_request(request.to_json(), getpass.getuser())
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


def serve(rt: Runtime, run: Runner) -> int:
    """Run every queued request (the daemon calls this between cycles, in its runtime);
    returns how many."""
    store = rt.store
    queued = store.queued_requests()
    for request_id, data in queued:
        store.start_request(request_id)
        code, output = _run(data, rt, run)
        store.finish_request(request_id, "done" if code in (0, 3) else "failed", code, output)
        log.info("admin request done", request=request_id, exit_code=code)
    return len(queued)


def _run(data: Any, rt: Runtime, run: Runner) -> tuple[int, str]:
    buffer = io.StringIO()
    try:
        request = Request.from_json(data)
        with contextlib.redirect_stdout(buffer):
            code = int(run(request, rt))
    except ValueError as exc:
        buffer.write(f"zybridge: error: {exc}; run the command again\n")
        code = 2
    except BridgeError as exc:
        buffer.write(f"zybridge: error: {exc}\n")
        code = exc.exit_code
    except Exception as exc:
        log.exception("admin request crashed")
        buffer.write(f"zybridge: unexpected error in the daemon: {type(exc).__name__}\n")
        code = 1
    return code, buffer.getvalue()
