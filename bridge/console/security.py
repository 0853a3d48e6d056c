"""Sessions, roles, CSRF tokens and security headers for the console."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

IDLE_S = 8 * 3600
CSP = ("default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'; img-src 'self' data:; style-src 'self'")
HEADERS = [(b"content-security-policy", CSP.encode()),
           (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"no-referrer"),
           (b"cross-origin-opener-policy", b"same-origin"),
           (b"cache-control", b"no-store")]
Endpoint = Callable[[Request], Awaitable[Response]]


class SecurityHeaders:
    """Adds the headers to every response (pages, files, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, form: Any) -> bool:
    sent = form.get("csrf")
    known = request.session.get("csrf")
    return (isinstance(sent, str) and isinstance(known, str)
            and hmac.compare_digest(sent.encode(), known.encode()))


def current_user(request: Request, now: float | None = None) -> dict[str, str] | None:
    """The logged-in user, or None (also when the session sat idle for IDLE_S)."""
    user = request.session.get("user")
    seen = request.session.get("seen")
    now = time.time() if now is None else now
    if not isinstance(user, dict) or not isinstance(seen, int | float):
        return None
    if now - seen > IDLE_S:
        request.session.clear()
        return None
    request.session["seen"] = now
    return {"name": str(user.get("name")), "role": str(user.get("role"))}


def still_valid(request: Request, user: dict[str, str]) -> bool:
    """The account still exists with this role (a removed or changed account's session
    ends at its next request)."""
    from bridge.console import accounts

    found = accounts.load(request.app.state.users_file).get(user["name"])
    return found is not None and found.role == user["role"]
