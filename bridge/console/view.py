"""What every page shares: the templates (filters that mask), rendering in the person's
language, refusals, and the guard on every page (`requires`)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from bridge.console import messages
from bridge.console.security import csrf_ok, csrf_token, current_user, still_valid
from mappings.mask import mask_id, mask_name, mask_phone, redact

Endpoint = Callable[[Request], Awaitable[Response]]

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(m=lambda v: redact("" if v is None else str(v)),
                             mask_id=lambda v: mask_id(str(v or "")),
                             mask_phone=lambda v: mask_phone(str(v or "")),
                             mask_name=lambda v: mask_name(str(v or "")))
templates.env.globals["local_time"] = lambda at: _local(at)


def _local(at: str | None) -> str:
    from bridge.commands.render import local_time

    return local_time(at)


def lang_of(request: Request) -> str:
    return messages.pick(request.session.get("lang"))


def render(request: Request, name: str, context: dict[str, Any],
           status_code: int = 200) -> Response:
    lang = lang_of(request)
    user = getattr(request.state, "user", None) or current_user(request)
    ctx = {"t": lambda key, **kw: messages.t(key, lang).format(**kw),
           "reason": lambda code: messages.reason(code, lang), "lang": lang,
           "user": user, "csrf": csrf_token(request), "path": request.url.path, **context}
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def refuse(request: Request, key: str, status_code: int = 403) -> Response:
    return render(request, "error.html", {"message_key": key}, status_code)



def requires(role: str | None = None) -> Callable[[Endpoint], Endpoint]:
    """Not logged in: to the login page; the wrong role: 403; a POST without the
    session's CSRF token: 403."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            user = current_user(request)
            if user is None or not still_valid(request, user):
                request.session.pop("user", None)
                return RedirectResponse("/login", status_code=303)
            request.state.user = user
            if role is not None and user["role"] != role:
                return refuse(request, "forbidden")
            if request.method == "POST" and not csrf_ok(request, await request.form()):
                return refuse(request, "csrf")
            return await endpoint(request)

        return guarded

    return wrap
