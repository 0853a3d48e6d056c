"""The auditor pages (read-only): overview, runs, quarantine and dead letters, a
record's story, a person's story, charts, the audit chain and a period's export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bridge.commands.render import csv_cell
from bridge.config import Config
from bridge.console import charts, data, messages
from bridge.console.view import lang_of, refuse, render, requires
from mappings.normalize import id_number
from state import views

PAGE = 50
CHART_DAYS = 30
ENTITIES = ("organization", "volunteer", "project", "service_record")
STATUSES = ("synced", "revoked", "pending", "blocked", "skipped", "quarantined",
            "dead_lettered")
CST_OFFSET = timedelta(hours=8)


def _cfg(request: Request) -> Config:
    cfg: Config = request.app.state.cfg
    return cfg


def _page(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("page", "1")), 1_000_000))
    except ValueError:
        return 1


@requires()
async def overview(request: Request) -> Response:
    cfg = _cfg(request)
    doc, counted_at = data.status(cfg, request.app.state.cache)
    with data.reader(cfg) as conn:
        last_runs = views.runs(conn, 5, 0).rows
        chain = views.audit_state(conn)
    return render(request, "overview.html", {"doc": doc, "runs": last_runs, "chain": chain,
                                             "statuses": STATUSES,
                                             "counted_at": _iso(counted_at)})


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


@requires()
async def runs(request: Request) -> Response:
    page = _page(request)
    with data.reader(_cfg(request)) as conn:
        found = views.runs(conn, PAGE, (page - 1) * PAGE)
    return render(request, "runs.html", {"found": found, "page": page})


def _problems(kind: str) -> Any:
    @requires()
    async def listing(request: Request) -> Response:
        cfg = _cfg(request)
        q = request.query_params
        source, entity, code = q.get("source") or None, q.get("entity") or None, \
            q.get("code") or None
        page = _page(request)
        fetch = views.quarantined if kind == "quarantine" else views.dead_letters
        with data.reader(cfg) as conn:
            found = fetch(conn, source, entity, code, PAGE, (page - 1) * PAGE)
        return render(request, "problems.html", {
            "kind": kind, "found": found, "page": page, "entities": ENTITIES,
            "sources": [s.name for s in cfg.sources], "codes": sorted(messages.REASONS),
            "filters": {"source": source or "", "entity": entity or "", "code": code or ""},
            "daemon": data.daemon_running(cfg)})

    listing.__name__ = f"{kind}_listing"
    return listing


@requires()
async def record(request: Request) -> Response:
    cfg = _cfg(request)
    ref = (request.query_params.get("ref") or "").strip()[:200]
    with data.reader(cfg) as conn:
        row = views.row_of(conn, ref) if ref else None
        if row is None:
            return render(request, "record.html", {"ref": ref, "row": None}) if not ref \
                else refuse(request, "not_found", 404)
        ledger = views.ledger_of(conn, row["base_ref"])
        history = [(r, data.summary(r)) for r in views.story(conn, row["base_ref"])]
    return render(request, "record.html", {"ref": ref, "row": row, "ledger": ledger,
                                           "history": history,
                                           "daemon": data.daemon_running(cfg)})


@requires()
async def person_form(request: Request) -> Response:
    return render(request, "person.html", {"searched": False})


@requires()
async def person(request: Request) -> Response:
    cfg = _cfg(request)
    form = await request.form()
    number = id_number(str(form.get("id_number") or "")[:40]) or ""
    with data.reader(cfg) as conn:
        volunteers = views.person_volunteers(conn, number) if number else []
        records = views.records_of(conn, [v["ref"] for v in volunteers])
    data.record(cfg, request.state.user["name"], "person lookup",
                {"id_number": number, "found": len(volunteers)})
    return render(request, "person.html", {"searched": True, "number": number,
                                           "volunteers": volunteers, "records": records})


@requires()
async def chart_page(request: Request) -> Response:
    cfg = _cfg(request)
    lang = lang_of(request)
    try:
        days = max(1, min(int(request.query_params.get("days", CHART_DAYS)), 366))
    except ValueError:
        days = CHART_DAYS
    (synced, hours, reasons), counted_at = request.app.state.cache.get(
        f"charts:{days}", lambda: chart_data(cfg, days))
    empty = messages.t("no_data", lang)
    svgs = [charts.stacked_days(messages.t("synced_per_day", lang),
                                [(d, s, float(n)) for d, s, n in synced], empty),
            charts.stacked_days(messages.t("hours_per_day", lang), hours, empty),
            charts.bars(messages.t("quarantine_by_reason", lang),
                        [(f"{c} {messages.reason(c, lang)}", float(n)) for c, n in reasons],
                        empty)]
    return render(request, "charts.html", {"svgs": svgs, "days": days,
                                           "counted_at": _iso(counted_at)})


ChartData = tuple[list[tuple[str, str, int]], list[tuple[str, str, float]],
                  list[tuple[str, int]]]


def chart_data(cfg: Config, days: int) -> ChartData:
    since = datetime.now(UTC) - timedelta(days=days)
    with data.reader(cfg) as conn:
        return (views.synced_per_day(conn, since.isoformat()),
                views.hours_per_day(conn, (since + CST_OFFSET).strftime("%Y-%m-%d")),
                views.quarantine_by_reason(conn))


@requires()
async def chain(request: Request) -> Response:
    verdict = data.verify(_cfg(request))
    return render(request, "chain.html", {"verdict": verdict})


@requires()
async def export_form(request: Request) -> Response:
    today = (datetime.now(UTC) + CST_OFFSET).date()
    return render(request, "export.html", {"since": (today - timedelta(days=30)).isoformat(),
                                           "until": today.isoformat(), "error": False})


def _period(since: str, until: str) -> tuple[str, str] | None:
    """Local (+08:00) dates, both days included, as UTC instants [since, until+1d)."""
    try:
        lo, hi = date.fromisoformat(since), date.fromisoformat(until)
    except ValueError:
        return None
    if hi < lo:
        return None

    def instant(d: date) -> str:
        moment = datetime(d.year, d.month, d.day, tzinfo=UTC) - CST_OFFSET
        return moment.isoformat(timespec="microseconds")

    return instant(lo), instant(hi + timedelta(days=1))


@requires()
async def export_csv(request: Request) -> Response:
    cfg = _cfg(request)
    q = request.query_params
    since, until = q.get("since", ""), q.get("until", "")
    span = _period(since, until)
    if span is None:
        return render(request, "export.html", {"since": since[:10], "until": until[:10],
                                               "error": True}, 400)
    data.record(cfg, request.state.user["name"], "audit export",
                {"since": since, "until": until})
    return StreamingResponse(_csv_rows(cfg, span), media_type="text/csv; charset=utf-8",
                             headers={"content-disposition": "attachment; filename="
                                      f"zybridge-audit-{since}-{until}.csv"})


def _csv_rows(cfg: Config, span: tuple[str, str], chunk: int = 2000) -> Iterator[str]:
    """The CSV text in pieces of `chunk` entries (one thread hop per piece, not per row)."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    buffer.write("\ufeff")
    out.writerow(["seq", "at", "run_id", "kind", "ref", "summary", "data", "prev_hash",
                  "hash"])
    with data.reader(cfg) as conn:
        for n, r in enumerate(views.audit_period(conn, *span), 1):
            out.writerow([csv_cell(v) for v in (r.seq, r.at, r.run_id, r.kind, r.ref,
                                                   data.summary(r), r.data, r.prev_hash,
                                                   r.hash)])
            if n % chunk == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


@requires()
async def request_page(request: Request) -> Response:
    found = data.request(_cfg(request), int(request.path_params["id"]))
    if found is None:
        return refuse(request, "not_found", 404)
    return render(request, "request.html", {"req": found})


ROUTES = [Route("/", overview), Route("/runs", runs),
          Route("/quarantine", _problems("quarantine")),
          Route("/dead-letters", _problems("dead_letters")),
          Route("/record", record),
          Route("/person", person_form, methods=["GET"]),
          Route("/person", person, methods=["POST"]),
          Route("/charts", chart_page), Route("/chain", chain),
          Route("/export", export_form), Route("/export.csv", export_csv),
          Route("/requests/{id:int}", request_page)]
