"""The multi-source oracle (test_federation_machine.py, and the helpers the agency and
sheets tests of test_hostile.py and test_safety.py share). What every row of every source
must end as is judged from the sources themselves — the agency server's own table, the
sheet files as written (`SheetFile`: the cells a spreadsheet shows), the 志愿云 store —
mapped with the real mappings (as oracle.py does for 志愿云); then checked against the
state file and the sandbox's records: each row's status, its platform record, one
national volunteer per person, and each person's hours the sum of every source's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.base import SourceRow
from adapters.sql import open_sql_source
from bridge import config as config_mod
from bridge.national import NationalClient
from bridge.refs import REF_FIELDS, compose
from bridge.sandbox import DEMO_APP_ID
from bridge.testing.agency import AgencyServer, wire
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import id_check
from mappings import get as get_mapping
from mappings import taiwan_sheets
from mappings.mask import mask_id
from mappings.result import Deferred, MapContext, Mapped, MapResult, Quarantined, Skipped
from tests.fixtures import sheets as fx
from tests.system.helpers import ENV
from tests.system.oracle import SKIP_FIELDS, same_value

TOKEN = "shegong-fed-token"
REF_KEY = "taibao-fed-ref-key"
CST = timezone(timedelta(hours=8))
Key = tuple[str, str]                       # (entity, local id)
Person = tuple[str, str]                    # (id_type, id_number)
AGENCY_KINDS = {"workers": ("volunteer", "workerId"),
                "service-logs": ("service_record", "logId")}
LIVE = ("synced", "alias")
ENDED = ("skipped", "revoked", "quarantined", "blocked", "dead_lettered")


# --- the three sources ----------------------------------------------------------------

def three_sources(base: Path, sandbox: SandboxProcess, store: Path, agency: AgencyServer,
                  inbox: Path, **national: Any) -> config_mod.Config:
    """志愿云 (sql), the agency (http, 4 rows a page) and a sheets folder (files), both
    naming 志愿云's projects, into one sandbox; `national` overrides client settings."""
    raw: dict[str, Any] = {
        "state": {"path": str(base / "state.db")},
        "log": {"path": str(base / "bridge.jsonl"), "level": "debug"},
        "national": {"base_url": sandbox.base_url, "app_id": DEMO_APP_ID,
                     "app_secret": "${ZYBRIDGE_APP_SECRET}", "jurisdiction": "3502",
                     "rate_per_s": 500.0, "retry_base_s": 0.05, "retry_cap_s": 0.5,
                     "timeout_s": 5.0, **national},
        "sources": [
            {"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}",
             "mapping": "zhiyuanyun", "every": "5m", "page_size": 50},
            {"name": "shegong", "kind": "http", "url": agency.url, "token": "${SHEGONG_TOKEN}",
             "mapping": "shegong", "projects_from": "haicang", "every": "10m",
             "lookback_s": 600, "page_size": 4},
            {"name": "taibao", "kind": "files", "path": str(inbox), "mapping": "taiwan_sheets",
             "projects_from": "haicang", "ref_key": "${TAIBAO_REF_KEY}", "every": "1h",
             "page_size": 3}],
    }
    return config_mod.parse(raw, base, {**ENV, "SHEGONG_TOKEN": TOKEN,
                                        "TAIBAO_REF_KEY": REF_KEY})


def utc(moment: datetime) -> str:
    """A local (UTC+08:00) wall time as the agency writes it: UTC, `Z`."""
    return wire(moment.replace(tzinfo=CST))


def worker(wid: str, number: str, **over: Any) -> dict[str, Any]:
    """A valid agency worker holding this mainland (or 830000 residence) ID number."""
    return {"workerId": wid, "fullName": "陈晓云", "idCard": number,
            "gender": "M" if int(number[16]) % 2 else "F", "birthDate": number[6:14],
            "nation": "" if number.startswith("830000") else "汉族", "phone": "13959230001",
            "districtCode": "350205", "certificateNo": f"S-{wid}",
            "registeredAt": "2020-05-01T02:00:00Z", "active": True, **over}


def service_log(lid: str, wid: str, span: tuple[datetime, datetime], **over: Any
                ) -> dict[str, Any]:
    """A valid, approved log of the whole span (local wall times) on joint project 1."""
    start, end = span
    hours = (end - start).total_seconds() / 3600
    return {"logId": lid, "workerId": wid, "activityCode": "1", "startTime": utc(start),
            "endTime": utc(end), "durationHours": f"{hours:.2f}", "summary": "社工入户探访",
            "approvedBy": "陈社工", "approvedAt": utc(end + timedelta(hours=1)),
            "voided": False, **over}


def mainland_id(n: int, area: str = "350212") -> str:
    """The n-th of a run of valid 18-digit numbers (no sample volunteer is born in
    350212); `area` 830000 makes Taiwan residents' 居住证 numbers."""
    body = f"{area}{date(1975, 1, 1) + timedelta(days=97 * n):%Y%m%d}{100 + n % 900:03d}"
    return body + id_check(body)


@dataclass(frozen=True)
class SheetFile:
    """One whole sheet file as the machine wrote it: each data row's cells as the sheet
    shows them, the sheet row number of the first data row, the worksheet (XLSX)."""

    name: str
    mtime: float
    rows: tuple[Mapping[str, Any], ...]
    first_row: int
    sheet: str | None = None


class Slots:
    """Service times that never overlap: one day each (3-398 days ago, inside joint
    project 1), 04:00-06:00 local (no sample 志愿云 record but volunteer 2's runs then) or
    23:30-01:00 across midnight."""

    def __init__(self) -> None:
        self.today = datetime.now(CST).replace(tzinfo=None, hour=0, minute=0, second=0,
                                               microsecond=0)
        self.used = 0

    def take(self, overnight: bool = False) -> tuple[datetime, datetime]:
        self.used += 1
        assert self.used < 396, "out of service days"
        start = self.today - timedelta(days=2 + self.used) + \
            (timedelta(hours=23, minutes=30) if overnight else timedelta(hours=4))
        return start, start + timedelta(minutes=90 if overnight else 120)


def sheet_person(number: str) -> dict[str, Any]:
    """A sheet row's person cells: a 台胞证 holder (8 digits) or a 居住证 holder (01)."""
    if len(number) == 8:
        return {"姓名": "陈美玲", "性别": "女", "证件类型": "台胞证", "证件号码": number,
                "出生日期": "1990-03-05"}
    return {"姓名": "张雅婷", "性别": "", "证件类型": "居住证", "证件号码": number,
            "出生日期": f"{number[6:10]}-{number[10:12]}-{number[12:14]}"}


def sheet_record(person: Mapping[str, Any], span: tuple[datetime, datetime], *,
                 hours: str | None = None, **over: Any) -> dict[str, Any]:
    """A valid row of `person` serving the whole span on joint project 1 (or `hours`)."""
    start, end = span
    return fx.sheet_row(start, end, **{**person, "活动编号": "1", "服务时长(小时)": hours or
                                    f"{(end - start).total_seconds() / 3600:g}", **over})


class Folder:
    """A sheets inbox and the model of its whole files: every file gets a modification
    time later than the last one (files are read oldest first)."""

    def __init__(self, path: Path) -> None:
        self.path, self.files, self.ticks = path, list[SheetFile](), 0

    def tick(self) -> float:
        self.ticks += 1
        return datetime.now().timestamp() - 86_400 + 60 * self.ticks

    def csv(self, name: str, rows: Sequence[Mapping[str, Any]], *, title: str | None = None,
            encoding: str = "utf-8-sig") -> None:
        mtime = self.tick()
        fx.write_csv(self.path / name, rows, encoding=encoding, title=title, mtime=mtime)
        self.files.append(SheetFile(name, mtime, tuple(rows), 2 + (title is not None)))

    def xlsx(self, name: str, rows: Sequence[Mapping[str, Any]], *, tricks: bool) -> None:
        """Real dates and a number for the area; with `tricks`, 活动编号 and 记录人 merged
        down the rows, formula hours whose cached value is 1.9999999999999998 (2 h
        spans), and a notes sheet without a header."""
        shown = [_as_xlsx(r) for r in rows]
        cached: dict[str, tuple[str, float]] = {}
        merge: list[str] = []
        if tricks:
            first, last = (fx.cell("活动编号", n, title=True)[1:] for n in (1, len(rows)))
            merge = [f"{fx.column(h)}{first}:{fx.column(h)}{last}" for h in ("活动编号", "记录人")]
            for n, row in enumerate(shown, start=1):
                row.update({"服务时长(小时)": 1.9999999999999998, "活动编号": "1",
                            "记录人": "王老师"})
                cached[fx.cell("服务时长(小时)", n, title=True)] = ("=2*1", 1.9999999999999998)
        mtime = self.tick()
        fx.write_xlsx(self.path / name, shown, mtime=mtime, title="台胞志工队月报", merge=merge,
                   formulas=cached, extra_sheet=tricks)
        self.files.append(SheetFile(name, mtime, tuple(shown), 3, "服务记录"))

    def half(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """A file caught half-written: an XLSX cut short, or a CSV whose last row stops
        after three cells; not a whole file until written again."""
        if name.endswith(".xlsx"):
            fx.half_written_xlsx(self.path / name, [_as_xlsx(r) for r in rows])
        else:
            fx.half_written_csv(self.path / name, rows[:-1])


def _as_xlsx(row: Mapping[str, Any]) -> dict[str, Any]:
    moments = {h: datetime.strptime(row[h], "%Y-%m-%d %H:%M:%S")
               for h in ("服务开始时间", "服务结束时间", "记录时间")}
    return {**row, **moments, "服务区域": int(row["服务区域"])}


# --- the source rows, from the sources ------------------------------------------------

def agency_rows(agency: AgencyServer) -> list[SourceRow]:
    """Every worker and service log the agency holds, as the adapter hands them on."""
    out: list[SourceRow] = []
    for kind, (entity, key) in AGENCY_KINDS.items():
        out += [SourceRow(entity, str(doc[key]), str(doc["updatedAt"]), doc)
                for doc in agency.docs(kind)]
    return out


def sheet_rows(files: Iterable[SheetFile], key: bytes) -> list[SourceRow]:
    """The rows of whole files, oldest file first (modification time, then name), each
    local id once in its last version (local-sources.md §C)."""
    out: dict[Key, SourceRow] = {}
    for f in sorted(files, key=lambda f: (f.mtime, f.name)):
        for n, cells in enumerate(f.rows):
            where = taiwan_sheets.Where(f.name, f.first_row + n, f.sheet)
            for row in taiwan_sheets.source_rows(cells, where, "", key):
                out[(row.entity, row.local_id)] = row
    return list(out.values())


def zyy_rows(store: Path, entities: Sequence[str] = ("volunteer", "service_record")
             ) -> list[SourceRow]:
    """The 志愿云 store's rows of these entities, by primary key."""
    adapter = open_sql_source(f"sqlite:///{store}", store.parent, mapping="zhiyuanyun")
    try:
        return [row for entity in entities for page in adapter.scan(entity, 500)
                for row in page.rows]
    finally:
        adapter.close()


# --- what each row must end as --------------------------------------------------------

@dataclass(frozen=True)
class Expect:
    source: str
    row: SourceRow
    result: MapResult
    statuses: frozenset[str]

    @property
    def synced(self) -> bool:
        return self.statuses == {"synced"} and isinstance(self.result, Mapped)


def context(cfg: config_mod.Config, source: str) -> MapContext:
    src = cfg.source(source)
    key = src.ref_key.get_secret_value().encode("utf-8") if src.ref_key else None
    return MapContext(source=source, now=datetime.now(UTC),
                      jurisdiction=cfg.national.jurisdiction,
                      projects_from=src.projects_from, ref_key=key)


def expectations(cfg: config_mod.Config, source: str, rows: Iterable[SourceRow],
                 parent_ok: Callable[[str], bool],
                 known: Mapping[Key, str] | None = None) -> dict[Key, Expect]:
    """Each row's expected statuses. `parent_ok(ref)` says whether a parent of another
    source (a project) is synced; `known` gives outcomes fixed in advance (a sample
    manifest: synced, quarantined, skipped, deferred, blocked)."""
    ctx = context(cfg, source)
    mapping = get_mapping(cfg.source(source).mapping)
    ordered = sorted(rows, key=lambda r: r.entity != "volunteer")   # parents first
    out: dict[Key, Expect] = {}
    for row in ordered:
        result = mapping.map_row(row, ctx)
        fixed = (known or {}).get((row.entity, row.local_id))
        if fixed is not None:
            statuses = frozenset({"skipped" if fixed == "deferred" else fixed})
        else:
            statuses = _statuses(result, out, source, parent_ok)
        out[(row.entity, row.local_id)] = Expect(source, row, result, statuses)
    return out


def _statuses(result: MapResult, done: Mapping[Key, Expect], source: str,
              parent_ok: Callable[[str], bool]) -> frozenset[str]:
    if isinstance(result, Quarantined):
        return frozenset({"quarantined"})
    if isinstance(result, Skipped):
        return frozenset({"skipped", "revoked"})
    if isinstance(result, Deferred):
        return frozenset({"skipped"})
    for field, required in REF_FIELDS[result.entity]:
        parent = result.parts[0].payload.get(field) if result.parts else None
        if not required or not isinstance(parent, str):
            continue
        _, entity, local = parent.split(":", 2)
        mine = parent.startswith(f"{source}:")
        ok = done[(entity, local)].synced if mine and (entity, local) in done \
            else (not mine and parent_ok(parent))
        if not ok:
            return frozenset({"blocked"})
    return frozenset({"synced"})


# --- the checks -----------------------------------------------------------------------

def check_source(expected: Mapping[Key, Expect], state: Sequence[Mapping[str, Any]],
                 held: Mapping[str, Mapping[str, Any]], book: Mapping[str, Mapping[str, Any]],
                 *, strict_roles: bool = True) -> None:
    """Every source row has exactly one status, the one its mapping gives; a synced row's
    parts are live on the platform as the mapping makes them now (an owner's fields; an
    alias has none of its own), and nothing else of it is live; an ended row holds no live
    service record. `strict_roles`: the ledger's synced/alias is the platform's
    owner/alias."""
    entities = {key[0] for key in expected}
    mine = {(r["entity"], r["local_id"]): r for r in state if r["entity"] in entities}
    missing = sorted(k for k in expected if k not in mine)
    assert not missing, f"source rows without a status: {missing[:5]}"
    extra = sorted(k for k in mine if k not in expected)
    assert not extra, f"statuses of rows the source does not hold: {extra[:5]}"
    for key, want in expected.items():
        row = mine[key]
        base = want.result.base_ref
        assert row["status"] in want.statuses, \
            f"{base} is {row['status']}, expected {sorted(want.statuses)}"
        live = sorted(ref for ref in _refs_of(base, held, "service_record")
                      if not held[ref].get("revoked"))
        if row["status"] == "synced" and isinstance(want.result, Mapped):
            refs = [compose(base, int(row["generation"]), p.suffix) for p in want.result.parts]
            for part, ref in zip(want.result.parts, refs, strict=True):
                _check_part(ref, want.result.entity, dict(part.payload), held, book,
                            strict_roles)
            if want.result.entity == "service_record":
                assert live == sorted(refs), f"{base}: live on the platform {live}, " \
                    f"the mapping makes {sorted(refs)}"
        elif row["status"] in ENDED:
            assert not live, f"{base} is {row['status']} but live on the platform: {live}"


def _refs_of(base: str, held: Mapping[str, Mapping[str, Any]], entity: str) -> list[str]:
    return [ref for ref, rec in held.items()
            if rec["_entity"] == entity and ref.split(".", 1)[0] == base]


def _check_part(ref: str, entity: str, payload: dict[str, Any],
                held: Mapping[str, Mapping[str, Any]],
                book: Mapping[str, Mapping[str, Any]], strict_roles: bool) -> None:
    entry = book.get(ref)
    assert entry is not None and entry["status"] in LIVE, \
        f"{ref} is synced but the ledger holds {entry and entry['status']}"
    record = held.get(ref)
    assert record is not None and not record.get("revoked"), f"{ref} is not live on the platform"
    assert record["national_id"] == entry["national_id"], f"{ref}: two national ids"
    role = {r["external_ref"]: r["role"] for r in record.get("refs", [])}.get(ref)
    if strict_roles:
        assert role == ("owner" if entry["status"] == "synced" else "alias"), \
            f"{ref}: the ledger says {entry['status']}, the platform {role}"
    if role == "alias":
        return      # the owner's fields are the person's
    refs = dict(REF_FIELDS[entity])
    for field, value in payload.items():
        if field in SKIP_FIELDS or field in refs:
            continue
        assert same_value(record.get(field), value), f"{ref}.{field}: the platform holds " \
            "another value than the mapping makes of the source row now"
    for field, required in refs.items():
        parent = payload.get(field)
        if required and isinstance(parent, str):
            have = record.get(field.replace("_external_ref", "_national_id"))
            assert have == book[parent]["national_id"], f"{ref}.{field}: another parent"


def people(expected: Iterable[Mapping[Key, Expect]]) -> dict[Person, list[Expect]]:
    """Every mapped volunteer row of every source, by person."""
    out: dict[Person, list[Expect]] = defaultdict(list)
    for rows in expected:
        for e in rows.values():
            if e.row.entity == "volunteer" and isinstance(e.result, Mapped):
                payload = e.result.parts[0].payload
                out[(str(payload["id_type"]), str(payload["id_number"]))].append(e)
    return dict(out)


def check_people(persons: Mapping[Person, list[Expect]], book: Mapping[str, Mapping[str, Any]],
                 volunteers: Sequence[Mapping[str, Any]], *, converged: bool) -> dict[Person, str]:
    """One national volunteer per person, whatever the number of sources: every ref of a
    person the ledger holds live is bound to one national id, the platform's record of
    that person, which holds every such ref. Returns each settled person's national id."""
    by_nid = {v["national_id"]: v for v in volunteers}
    out: dict[Person, str] = {}
    for person, rows in persons.items():
        refs = [e.result.base_ref for e in rows]
        bound = {ref: book[ref]["national_id"] for ref in refs
                 if ref in book and book[ref]["status"] in LIVE}
        nids = set(bound.values())
        who = f"{mask_id(person[1])} ({', '.join(refs)})"
        assert len(nids) <= 1, f"{who} is bound to {len(nids)} national volunteers"
        if converged and any(e.synced for e in rows):
            assert len(bound) == len(refs), f"{who}: refs not bound {set(refs) - set(bound)}"
        if nids:
            nid = nids.pop()
            record = by_nid.get(nid)
            assert record is not None and (record["id_type"], record["id_number"]) == person, \
                f"{who}: the platform holds another person under {nid}"
            assert set(bound) <= set(record["external_refs"]), f"{who}: refs not on the platform"
            out[person] = nid
    return out


def expected_hours(persons: Mapping[Person, list[Expect]],
                   expected: Iterable[Mapping[Key, Expect]]) -> dict[Person, Decimal]:
    """Per person, the hours of every source's valid records (their parts' hours)."""
    owner = {e.result.base_ref: person for person, rows in persons.items() for e in rows}
    out: dict[Person, Decimal] = defaultdict(Decimal)
    for rows in expected:
        for e in rows.values():
            if e.row.entity != "service_record" or not e.synced:
                continue
            assert isinstance(e.result, Mapped)
            for part in e.result.parts:
                person = owner.get(str(part.payload["volunteer_external_ref"]))
                if person is not None:
                    out[person] += Decimal(str(part.payload["hours"]))
    return dict(out)


def check_hours(persons: Mapping[Person, list[Expect]], nids: Mapping[Person, str],
                want: Mapping[Person, Decimal], records: Sequence[Mapping[str, Any]],
                client: NationalClient | None = None) -> int:
    """Each settled person's live hours on the platform equal `want`; for people found in
    two sources or more, also as the platform's own `GET /volunteers/{id}/hours` says.
    Returns how many such people were asked."""
    live: dict[str, Decimal] = defaultdict(Decimal)
    for rec in records:
        if not rec.get("revoked"):
            live[str(rec["volunteer_national_id"])] += Decimal(str(rec["hours"]))
    asked = 0
    for person, nid in nids.items():
        refs = ", ".join(e.result.base_ref for e in persons[person])
        expect = want.get(person, Decimal(0))
        assert live[nid] == expect, f"{refs}: the platform holds {live[nid]} h, the " \
            f"sources' valid records {expect} h"
        if client is not None and len({e.source for e in persons[person]}) > 1:
            hours = client.get(f"/volunteers/{nid}/hours")
            assert hours is not None and Decimal(str(hours["total_hours"])) == expect, \
                f"{refs}: GET hours says {hours}, the sources' valid records {expect} h"
            asked += 1
    return asked
