"""The console's Starlette application: sessions, login and logout, the page routes
(bridge/console/pages.py) and the admin actions (bridge/console/actions.py)."""

from __future__ import annotations

import secrets
import time

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bridge.config import Config
from bridge.console import accounts, data, messages
from bridge.console.security import IDLE_S, SecurityHeaders, csrf_ok, current_user
from bridge.console.view import HERE, refuse, render
from bridge.errors import BridgeError
from mappings.mask import redact


async def login_page(request: Request) -> Response:
    if current_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html", {"error": None})


async def login(request: Request) -> Response:
    cfg: Config = request.app.state.cfg
    form = await request.form()
    if not csrf_ok(request, form):
        return refuse(request, "csrf")
    name, password = str(form.get("name") or "")[:64], str(form.get("password") or "")
    lockout: accounts.Lockout = request.app.state.lockout
    if lockout.locked(name):
        data.record(cfg, name, "login refused", {"why": "locked"})
        return render(request, "login.html", {"error": "locked"}, 403)
    users = accounts.load(request.app.state.users_file)
    user = accounts.authenticate(users, name, password)
    if user is None:
        locks = lockout.failed(name)
        data.record(cfg, name, "login failed", {"locked": locks})
        return render(request, "login.html", {"error": "locked" if locks else "bad_login"}, 401)
    lockout.cleared(name)
    lang = request.session.get("lang")
    request.session.clear()
    request.session.update(user={"name": user.name, "role": user.role}, seen=time.time(),
                           csrf=secrets.token_urlsafe(32), lang=messages.pick(lang))
    data.record(cfg, user.name, "login", {"role": user.role})
    return RedirectResponse("/", status_code=303)


async def logout(request: Request) -> Response:
    user = current_user(request)
    if user is not None and csrf_ok(request, await request.form()):
        data.record(request.app.state.cfg, user["name"], "logout", {})
    lang = request.session.get("lang")
    request.session.clear()
    request.session["lang"] = messages.pick(lang)
    return RedirectResponse("/login", status_code=303)


async def switch_lang(request: Request) -> Response:
    request.session["lang"] = messages.pick(request.query_params.get("to"))
    back = request.query_params.get("next") or "/"
    safe = back.startswith("/") and not back.startswith("//") and "\\" not in back
    return RedirectResponse(back if safe else "/", status_code=303)


async def on_bridge_error(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"message_key": None,
                                          "message": redact(str(exc))}, 400)


def create_app(cfg: Config, *, secret_key: str | None = None) -> Starlette:
    from bridge.console import actions, pages

    routes = [Route("/login", login_page, methods=["GET"]),
              Route("/login", login, methods=["POST"]),
              Route("/logout", logout, methods=["POST"]),
              Route("/lang", switch_lang, methods=["GET"]),
              *pages.ROUTES, *actions.ROUTES,
              Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")]
    https = bool(cfg.console and cfg.console.https)
    middleware = [Middleware(SecurityHeaders),
                  Middleware(SessionMiddleware, secret_key=secret_key or secrets.token_hex(32),
                             session_cookie="zybridge_console", max_age=IDLE_S,
                             same_site="strict", https_only=https)]
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={BridgeError: on_bridge_error})
    app.state.cfg = cfg
    app.state.users_file = (cfg.console.users_file if cfg.console
                            else cfg.base_dir / "console-users.toml")
    app.state.lockout = accounts.Lockout()
    app.state.cache = data.Cache()
    return app
