"""Admin actions (role admin, POST with the CSRF token): resync, quarantine retry and
dead-letter retry or drop, handed to the running daemon as the command line hands them,
with the command line's confirmation above 100 rows."""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bridge.commands.admin import CONFIRM_OVER
from bridge.config import Config
from bridge.console import data
from bridge.console.view import refuse, render, requires
from state import views

KINDS = {"quarantine": "quarantine", "dead_letters": "dead-letters"}
ENTITIES = ("organization", "volunteer", "project", "service_record")
MAX_REFS = 500
REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,199}")


def _cfg(request: Request) -> Config:
    cfg: Config = request.app.state.cfg
    return cfg


def _field(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()[:200]


async def _hand(request: Request, form: FormData, argv: list[str], rows: int) -> Response:
    """Confirm above CONFIRM_OVER rows, then queue for the daemon and show the request."""
    cfg = _cfg(request)
    if not data.daemon_running(cfg):
        return refuse(request, "no_daemon_actions", 409)
    if rows > CONFIRM_OVER and form.get("confirmed") != "yes":
        fields = [(k, str(v)) for k, v in form.multi_items() if k not in ("csrf", "confirmed")]
        return render(request, "confirm.html", {"rows": rows, "fields": fields,
                                                "action": request.url.path})
    user = request.state.user["name"]
    request_id = data.hand_off(cfg, argv, user)
    data.record(cfg, user, " ".join(argv[:2]) if argv[0] != "resync" else "resync",
                {"argv": argv, "request": request_id, "rows": rows,
                 "refs": [a for a in argv if ":" in a and not a.startswith("-")]})
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


def _kind(form: FormData) -> str | None:
    return KINDS.get(_field(form, "kind"))


@requires("admin")
async def retry(request: Request) -> Response:
    form = await request.form()
    kind = _kind(form)
    if kind is None:
        return refuse(request, "not_found", 404)
    if form.get("all") == "yes":
        source, entity = _field(form, "source") or None, _field(form, "entity") or None
        argv = [kind, "retry", "--all"]
        argv += ["--source", source] if source else []
        argv += ["--entity", entity] if entity in ENTITIES else []
        with data.reader(_cfg(request)) as conn:
            fetch = views.quarantined if kind == "quarantine" else views.dead_letters
            rows = fetch(conn, source, entity if entity in ENTITIES else None, None, 1, 0).total
        return await _hand(request, form, argv, rows)
    refs = _refs(form)
    if not refs:
        return refuse(request, "nothing_selected", 400)
    return await _hand(request, form, [kind, "retry", *refs], len(refs))


@requires("admin")
async def drop(request: Request) -> Response:
    form = await request.form()
    kind = _kind(form)
    refs = _refs(form)
    if kind is None or not refs:
        return refuse(request, "nothing_selected", 400)
    return await _hand(request, form, [kind, "drop", *refs, "--yes"], len(refs))


@requires("admin")
async def resync(request: Request) -> Response:
    form = await request.form()
    cfg = _cfg(request)
    source = _field(form, "source")
    entity = _field(form, "entity") or None
    ids = tuple(i for i in (_field(form, "id"),) if i)
    since = _field(form, "since") or None
    rows = data.resync_size(cfg, source, entity if entity in ENTITIES else None, ids, since)
    argv = ["resync", "--source", source]
    argv += ["--entity", entity] if entity in ENTITIES else []
    argv += [f"--id={i}" for i in ids]
    argv += [f"--since={since}"] if since else []
    return await _hand(request, form, argv, rows)


def _refs(form: FormData) -> list[str]:
    """The external_refs ticked; anything that is not one (an option) is left out."""
    refs: list[Any] = form.getlist("ref")
    found = (str(r).strip() for r in refs)
    return list(dict.fromkeys(r for r in found if REF.fullmatch(r)))[:MAX_REFS]


ROUTES = [Route("/actions/retry", retry, methods=["POST"]),
          Route("/actions/drop", drop, methods=["POST"]),
          Route("/actions/resync", resync, methods=["POST"])]
