"""Test-only control endpoints and the request counter. Served only with `serve
--control`, and then each call must carry `Authorization: Bearer <token>` (the token of
$ZYBRIDGE_SANDBOX_CONTROL_TOKEN): the records endpoint answers full ID numbers.

GET  /_sandbox/stats            request and item counts
POST /_sandbox/stats/reset      zero them
GET  /_sandbox/faults           the fault and rate settings
POST /_sandbox/faults           change them: missing keys keep their value; "reset": true
                                clears every fault first
GET  /_sandbox/records/{entity} every record of every app: the tests' oracle
GET  /_sandbox/counts           how many records of each entity (cheap at any size)
POST /_sandbox/reset            empty it: records, idempotency keys, nonces, stats; faults
                                and rate back to the command line's (tests reuse one sandbox)
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.sandbox import reads
from bridge.sandbox.schema import BY_PATH
from bridge.sandbox.state import Sandbox
from bridge.sandbox.wire import dumps, parse_json

PREFIX = "/_sandbox"
Endpoint = Callable[[Request], Awaitable[Response]]


def _json(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status, media_type="application/json")


def _guarded(token: str, handler: Endpoint) -> Endpoint:
    expected = f"Bearer {token}".encode()

    async def guarded(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return _json({"error": "the control endpoints need their bearer token"}, 401)
        return await handler(request)

    return guarded


def routes(sandbox: Sandbox, token: str) -> list[Route]:
    async def stats(request: Request) -> Response:
        return _json(sandbox.stats.as_dict())

    async def reset_stats(request: Request) -> Response:
        sandbox.stats.reset()
        return _json(sandbox.stats.as_dict())

    async def get_faults(request: Request) -> Response:
        return _json({**sandbox.faults.settings.as_dict(),
                      "burst_429_left": sandbox.faults.burst_left})

    async def set_faults(request: Request) -> Response:
        try:
            changes = parse_json(await request.body())
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            settings = sandbox.configure(changes)
        except (ValueError, UnicodeDecodeError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({**settings.as_dict(), "burst_429_left": sandbox.faults.burst_left})

    async def records(request: Request) -> Response:
        entity = BY_PATH.get(request.path_params["entity"])
        if entity is None:
            return _json({"error": "unknown entity"}, 404)
        return _json(reads.oracle(sandbox.store, entity))

    async def counts(request: Request) -> Response:
        return _json(sandbox.store.counts())

    async def reset(request: Request) -> Response:
        sandbox.reset()
        return _json({"counts": sandbox.store.counts(), "stats": sandbox.stats.as_dict()})

    table: list[tuple[str, Endpoint, str]] = [
        ("/stats", stats, "GET"), ("/stats/reset", reset_stats, "POST"),
        ("/faults", get_faults, "GET"), ("/faults", set_faults, "POST"),
        ("/records/{entity}", records, "GET"), ("/counts", counts, "GET"),
        ("/reset", reset, "POST")]
    return [Route(PREFIX + path, _guarded(token, handler), methods=[method])
            for path, handler, method in table]


class CountRequests:
    """Outermost ASGI layer: counts each request by route template and status as its
    response starts ("dropped" for an injected dropped connection)."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                path = getattr(route, "path", None) or "(unknown path)"
                status = "dropped" if scope.get("sandbox.dropped") else str(message["status"])
                self.sandbox.stats.count_request(f"{scope['method']} {path}", status)
            await send(message)

        await self.app(scope, receive, counted)


class QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for each injected dropped connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ != "ConnectionDropped"
