"""The HTTP face of the sandbox (Starlette): routes, the order of checks of §4,
idempotency, faults, reads. `build(sandbox)` gives the ASGI app uvicorn serves."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bridge.sandbox import BASE_PATH, reads
from bridge.sandbox.apply import App
from bridge.sandbox.auth import AuthError
from bridge.sandbox.db import Stored
from bridge.sandbox.faults import Plan, fault_body
from bridge.sandbox.schema import ENTITIES, PATHS, Entity
from bridge.sandbox.state import Sandbox
from bridge.sandbox.wire import MAX_BODY, ShapeError, envelope, parse_items, request_id

log = logging.getLogger("bridge.sandbox")
JSON = "application/json"
HARD_CAP = 16 * MAX_BODY
_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)
_STORABLE = frozenset({200, 400, 413})
Handler = Callable[[Request, App], tuple[int, str, str, Any]]


class ConnectionDropped(Exception):
    """Raised after the response head to drop the connection mid-response."""


def reply(status: int, code: str, message: str, data: Any, rid: str,
          headers: dict[str, str] | None = None) -> Response:
    body = envelope(code, message, data, rid)
    return Response(body, status, headers={"X-Request-Id": rid, **(headers or {})},
                    media_type=JSON)


class DroppedResponse(Response):
    """Sends the head with the full Content-Length, half the body, then drops."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["sandbox.dropped"] = True
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2],
                    "more_body": True})
        raise ConnectionDropped("injected: connection dropped after commit")


class Api:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    # the pipeline -----------------------------------------------------------------------
    async def _gate(self, request: Request, plan: Plan, rid: str
                    ) -> tuple[App, bytes] | Response:
        """Gateway faults, body cap, authentication and rate: the app and body, or a reply."""
        if plan.burst_429:
            return reply(429, "RATE_LIMITED", "injected 429 burst", None, rid,
                         {"Retry-After": "1"})
        if plan.pre_status is not None:
            return _fault_reply(plan.pre_status, plan.shape, rid)
        body = await _read(request)
        if body is None:
            return reply(413, "PAYLOAD_TOO_LARGE", "the body is too large", None, rid)
        try:
            app = self.sb.auth.check(request.method, _raw_path(request.scope),
                                     request.query_params.multi_items(),
                                     request.headers, body)
        except AuthError as exc:
            return reply(401, exc.code, exc.message, None, rid)
        wait = self.sb.limiter.take(app.id)
        if wait is not None:
            return reply(429, "RATE_LIMITED", "over the app's rate", None, rid,
                         {"Retry-After": str(wait)})
        return app, body

    async def post(self, request: Request, kind: Entity | None) -> Response:
        rid = request_id()
        plan = self.sb.faults.plan()
        gated = await self._gate(request, plan, rid)
        if isinstance(gated, Response):
            return gated
        app, body = gated
        key = request.headers.get("idempotency-key", "")
        if not _KEY.fullmatch(key):
            return reply(400, "IDEMPOTENCY_KEY_INVALID",
                         "Idempotency-Key must be 1-64 characters of [A-Za-z0-9_.:-]", None, rid)
        if len(body) > MAX_BODY:
            return reply(413, "PAYLOAD_TOO_LARGE", "a batch body is at most 1 MiB", None, rid)
        sha = hashlib.sha256(body).hexdigest()
        early = self._idempotency(app, key, sha, rid)
        if early is not None:
            return early
        self.sb.inflight[(app.id, key)] = sha
        try:
            if self.sb.faults.settings.latency_ms:
                await asyncio.sleep(self.sb.faults.settings.latency_ms / 1000)
            status, payload = self._process(app, kind, body, key, sha, rid)
        except Exception:
            log.exception("batch failed")
            return reply(500, "INTERNAL", "internal error", None, rid)
        finally:
            self.sb.inflight.pop((app.id, key), None)
        return await _deliver(plan, status, payload, rid, self.sb.faults.settings.slow_ms)

    def _idempotency(self, app: App, key: str, sha: str, rid: str) -> Response | None:
        stored = self.sb.store.stored(app.id, key)
        if stored is not None:
            if stored.body_sha256 != sha:
                return reply(422, "IDEMPOTENCY_KEY_REUSED",
                             "this Idempotency-Key was used with another body", None, rid)
            return Response(stored.response, stored.status, media_type=JSON,
                            headers={"Idempotent-Replayed": "true", "X-Request-Id": rid})
        pending = self.sb.inflight.get((app.id, key))
        if pending is not None:
            if pending != sha:
                return reply(422, "IDEMPOTENCY_KEY_REUSED",
                             "this Idempotency-Key was used with another body", None, rid)
            return reply(409, "IDEMPOTENCY_IN_PROGRESS",
                         "a request with this key is being processed", None, rid)
        return None

    def _process(self, app: App, kind: Entity | None, body: bytes, key: str, sha: str,
                 rid: str) -> tuple[int, bytes]:
        """Shape, then the items, in one transaction with the idempotency record."""
        with self.sb.store.transaction():
            try:
                items = parse_items(kind, body)
            except ShapeError as exc:
                code = "INVALID_REQUEST" if exc.status == 400 else "PAYLOAD_TOO_LARGE"
                status, payload = exc.status, envelope(code, exc.message, None, rid)
            else:
                now = datetime.now(UTC)
                results = (self.sb.applier.revoke(app, items) if kind is None
                           else self.sb.applier.upsert(app, kind, items, now))
                self.sb.stats.count_items(len(items), [r.status for r in results])
                data = {"results": [r.as_dict() for r in results]}
                status, payload = 200, envelope("OK", "", data, rid)
            if status in _STORABLE:
                self.sb.store.store(app.id, key, Stored(sha, status, payload),
                                    datetime.now(UTC).timestamp())
        return status, payload

    async def get(self, request: Request, handler: Handler) -> Response:
        rid = request_id()
        settings = self.sb.faults.settings
        plan = self.sb.faults.plan() if settings.reads else Plan()
        gated = await self._gate(request, plan, rid)
        if isinstance(gated, Response):
            return gated
        app, _ = gated
        if settings.reads and settings.latency_ms:
            await asyncio.sleep(settings.latency_ms / 1000)
        try:
            status, code, message, data = handler(request, app)
        except reads.BadQuery as exc:
            return reply(400, "INVALID_REQUEST", str(exc), None, rid)
        return await _deliver(plan, status, envelope(code, message, data, rid), rid,
                              settings.slow_ms)

    # read handlers ----------------------------------------------------------------------
    def by_id(self, entity: Entity) -> Handler:
        def run(request: Request, app: App) -> tuple[int, str, str, Any]:
            found = reads.by_id(self.sb.store, entity, request.path_params["national_id"],
                                app.id)
            return _found(found)
        return run

    def collection(self, entity: Entity) -> Handler:
        def run(request: Request, app: App) -> tuple[int, str, str, Any]:
            return _found(reads.query(self.sb.store, entity,
                                      request.query_params.multi_items(), app.id))
        return run

    def hours(self, request: Request, app: App) -> tuple[int, str, str, Any]:
        return _found(reads.hours(self.sb.store, request.path_params["national_id"]))


def _found(data: Any) -> tuple[int, str, str, Any]:
    if data is None:
        return 404, "NOT_FOUND", "no such record", None
    return 200, "OK", "", data


def _raw_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else str(scope["path"])


async def _read(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > HARD_CAP:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > HARD_CAP:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _fault_reply(status: int, shape: int, rid: str) -> Response:
    body, media = fault_body(status, shape, rid)
    return Response(body, status, media_type=media)


async def _deliver(plan: Plan, status: int, payload: bytes, rid: str,
                   slow_ms: float) -> Response:
    if plan.post == "error":
        return _fault_reply(502, plan.shape, rid)
    if plan.post == "drop":
        return DroppedResponse(payload, status, media_type=JSON)
    if plan.post == "slow":
        await asyncio.sleep(slow_ms / 1000)
    return Response(payload, status, media_type=JSON, headers={"X-Request-Id": rid})


def routes(api: Api) -> list[Route]:
    out = [Route(f"{BASE_PATH}/health", _health, methods=["GET"])]
    for entity in ENTITIES:
        base = f"{BASE_PATH}/{PATHS[entity]}"
        out.append(Route(f"{base}/batch", _post_of(api, entity), methods=["POST"]))
        if entity == "service_record":
            out.append(Route(f"{base}/revoke", _post_of(api, None), methods=["POST"]))
        if entity == "volunteer":
            out.append(Route(f"{base}/{{national_id}}/hours", _get_of(api, api.hours),
                             methods=["GET"]))
        out.append(Route(base, _get_of(api, api.collection(entity)), methods=["GET"]))
        out.append(Route(f"{base}/{{national_id}}", _get_of(api, api.by_id(entity)),
                         methods=["GET"]))
    return out


def _post_of(api: Api, kind: Entity | None) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        return await api.post(request, kind)
    return run


def _get_of(api: Api, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        return await api.get(request, handler)
    return run


async def _health(request: Request) -> Response:
    return reply(200, "OK", "", {"status": "ok"}, request_id())


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    rid = request_id()
    if exc.status_code == 405:
        return reply(405, "METHOD_NOT_ALLOWED", "method not allowed", None, rid,
                     dict(exc.headers or {}))
    if exc.status_code == 404:
        return reply(404, "NOT_FOUND", "no such path", None, rid)
    return reply(exc.status_code, "INVALID_REQUEST", str(exc.detail), None, rid)


def build(sandbox: Sandbox, extra: list[Route] | None = None) -> Starlette:
    app = Starlette(routes=[*routes(Api(sandbox)), *(extra or [])],
                    exception_handlers={HTTPException: _http_error})
    app.router.redirect_slashes = False
    return app
