"""One agency response read within its budget (local-sources.md §B): an overall deadline
however slowly the bytes arrive, and a size cap counted as the body streams.

httpx's timeouts are per read, so a server that drips a byte every few seconds would
never time out: the body is streamed, the deadline checked between chunks, and a
watchdog shuts the socket when the deadline passes while a read waits (a shutdown wakes
a blocked `recv`; the read then fails and is reported as late).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bridge.errors import TransientError

MB = 1 << 20


@dataclass(frozen=True)
class Budget:
    """What one request may take: seconds in all, bytes of body."""

    timeout_s: float = 30.0
    max_bytes: int = 16 * MB

    def late(self, path: str) -> TransientError:
        return TransientError(f"agency source: {path} took longer than its deadline of "
                              f"{self.timeout_s:g} s (timeout_s)")

    def big(self, path: str) -> TransientError:
        return TransientError(f"agency source: {path} answered more than "
                              f"{self.max_bytes / MB:g} MB (max_page_mb)")


def read_body(response: httpx.Response, path: str, budget: Budget, deadline: float) -> bytes:
    """The body as it streams, within the deadline and the size cap (TransientError)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > budget.max_bytes:
        raise budget.big(path)
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _shut, (response,))
    watchdog.daemon = True
    watchdog.start()
    try:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > budget.max_bytes:
                raise budget.big(path)
            if time.monotonic() >= deadline:
                raise budget.late(path)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        watchdog.cancel()


def _shut(response: httpx.Response) -> None:
    """Wake a read blocked on the response's socket: the deadline has passed."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class NotJson(ValueError):
    """The body is not JSON (worth another try: a server restarting mid-page)."""


def parse_json(data: bytes, path: str) -> Any:
    """The body as JSON; JSON nested too deep for the parser is a failed read (not
    retried), other bad JSON is NotJson."""
    try:
        return json.loads(data)
    except RecursionError:
        raise TransientError(f"agency source: {path} answered JSON nested too deep to "
                             "read") from None
    except ValueError:
        raise NotJson("a body that is not JSON") from None
