"""The rows the golden mapping test maps, and the digest of what the mappings make of them.

Deterministic: a sample 志愿云 store built with a fixed seed and clock, read through the
SQL adapter as the engine reads it; then the same rows and the demo sheet and agency rows
with one to three columns replaced by messy values (odd date forms, full-width digits,
bytes, floats, Decimals, booleans, datetime objects, control characters, …) drawn from a
seeded `random.Random`, so the corpus is the same on every run and every machine; and
the store's rows with their date-times as datetimes, as a MySQL driver reads them.

Run as a script to write every canonical result line of a group to a file (for a diff
when the digest changes): `python -m tests.unit.golden_rows OUT_DIR`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.base import SourceRow
from adapters.sql import open_sql_source
from bridge.testing.sample import build_sample_store, id_check
from mappings import get as get_mapping
from mappings.result import MapContext, MapResult
from mappings.taiwan_sheets import Where, source_rows
from tests.fixtures.sheets import sheet_row

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 6, 20, 12, 0, 0, tzinfo=CST)
SEED = 20
VOLUNTEERS = 300
ORDER = ("organization", "volunteer", "project", "service_record")
CONTEXTS = {
    "zhiyuanyun": MapContext(source="haicang", now=NOW, jurisdiction="3502"),
    "shegong": MapContext(source="shegong", now=NOW, jurisdiction="3502",
                          projects_from="haicang"),
    "taiwan_sheets": MapContext(source="taibao", now=NOW, jurisdiction="3502",
                                projects_from="haicang", ref_key=b"golden-ref-key"),
}

_STAMP_FORMS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d",
                "%Y%m%d", "%Y%m%dT%H%M%S", "%Y年%m月%d日 %H时%M分", "%Y.%m.%d %H:%M:%S",
                "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S+05:30", "%Y-%m-%d %H:%M:%S.123456",
                "%Y-%m-%d  %H:%M:%S", "%Y-%m-%d %H:%M:%S-0130", "%Y年%m月%d日")
_ODD_STAMPS = (
    "２０２４-０５-０６ ０９:３０:００", " 2024-05-06 09:30:00\u3000", "\ufeff2024-05-06 09:30:00",
    "2024-13-01 00:00:00", "2024-02-30 10:00:00", "2024-05-06 24:00:00", "2024-05-06 24:00:01",
    "2024-05-06 23:59:60", "2024-05-06 23:60:00", "1899-12-31 23:59:59", "1900-01-01 00:00:00",
    "9999-12-31 23:59:59", "0001-01-01 00:00:00", "2024-5-6 9:30", "2024-05-06 9点",
    "2024-05-06 09:30:00+24:00", "2024-05-06T09:30:00z", "2024-05-06 09:30:00 +08:00",
    "2024-05-06 093000", "20240506 0930", "2024 - 05 - 06", "2024-05-06 09:30:00.5Z",
    "2024-05-06x", "2024-05-06 09:30:00\n", "2026-06-20 12:00:00", "2026-06-20 12:00:01",
    "2026-06-20 04:00:01Z", "x" * 80, "2024-05-06 " + "0" * 70)
_NUMBERS: tuple[object, ...] = (
    0, 1, -1, 2, 3, 4, 5, 7, 30, 59, 60, 61, 90, 150, 600, 1439, 1440, 100_000, 10**19,
    1.0, 1.5, -0.0, float("nan"), float("inf"), Decimal("3"), Decimal("2.50"), True, False,
    "1", " 2 ", "３", "+4", "-5", "1e3", "0x10", "60.0", "１２０", "", "  ")
_TEXTS: tuple[object, ...] = (
    None, "", " ", "\u3000", "\ufeff", "志愿服务", "  两岸  交流 ", "a\x00b", "line1\r\nline2",
    "tab\there", "\x85edge", "长" * 60, "x" * 501, "环保、助老,义诊；支教;普法，广场舞",
    b"\xe5\xbf\x97\xe6\x84\xbf", b"\xff\xfe", "ＡＢＣ１２３", "林 志 贵", "Anna  Maria",
    "王•小明", "  13800138000 ", "+86 138-0013-8000", "0592-1234567", "(0592)1234567",
    "0912-345-678", "+852 91234567", "350205", "350205101", "350205101001", "3502050000",
    "350205999", "110101", "男", "女性", " F ", "汉", "汉族", "维族", "阿美族", "党员", "群众",
    "本科", "研究生", "身份证", "台胞证", "港澳通行证", "护照", "外国人永久居留证", "居住证",
    "志愿服务组织", "志愿服务队", "其他", "a@b.cn", "not-an-email", "H12345678", "M1234567",
    "E12345678", "12345678", "A123456789", "91350200MA2Y0UXX0X", "x" * 30)
_ODD: tuple[object, ...] = (
    None, [], {}, ["a"], {"k": 1}, (1, 2), 3 + 0j,
    datetime(2024, 5, 6, 9, 30), datetime(2024, 5, 6, 9, 30, 15, 999_999),
    datetime(2024, 5, 5, 23, 0, tzinfo=UTC), datetime(2026, 6, 20, 12, 0, 1, tzinfo=CST),
    datetime(1899, 12, 31, 23, 59, tzinfo=CST), date(2024, 5, 6), date(1800, 1, 1),
    datetime(2024, 5, 6, 9, 30, tzinfo=timezone(timedelta(hours=-11))))


def random_stamp(rng: random.Random) -> object:
    """A date and time near the clock, in one of many written forms (or a datetime)."""
    moment = NOW.replace(tzinfo=None) - timedelta(seconds=rng.randrange(-86_400, 10**9))
    form = rng.choice(_STAMP_FORMS)
    if rng.random() < 0.1:
        return moment if rng.random() < 0.5 else moment.replace(tzinfo=UTC)
    return moment.strftime(form)


def messy(rng: random.Random) -> object:
    """One value a local system might hold in any column."""
    pool = rng.random()
    if pool < 0.3:
        return random_stamp(rng) if rng.random() < 0.5 else rng.choice(_ODD_STAMPS)
    if pool < 0.5:
        return rng.choice(_NUMBERS)
    if pool < 0.85:
        return rng.choice(_TEXTS)
    return rng.choice(_ODD)


def mutate(rng: random.Random, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with one to three of its columns replaced by messy values."""
    out = dict(data)
    columns = sorted(out)
    for column in rng.sample(columns, min(len(columns), rng.randint(1, 3))):
        out[column] = messy(rng)
    return out


def span_record(rng: random.Random, data: Mapping[str, Any]) -> dict[str, Any]:
    """A service record over a random span (within a day, across midnights, over 31
    days) with a random share of its minutes, in a random written form."""
    start = NOW.replace(tzinfo=None) - timedelta(days=rng.randint(40, 900),
                                                 seconds=rng.randrange(86_400))
    length = rng.choice((rng.randint(1, 600), rng.randint(600, 3 * 86_400 // 60),
                         rng.randint(1, 40 * 1440)))
    end = start + timedelta(minutes=length, seconds=rng.choice((0, 0, 0, 17)))
    share = rng.choice((0.0, 0.001, 0.5, 0.99, 1.0, 1.01))
    form = rng.choice(_STAMP_FORMS[:3])
    return {**data, "begin_time": start.strftime(form), "end_time": end.strftime(form),
            "service_minutes": max(1, int(length * share)),
            "record_time": (end + timedelta(minutes=rng.randint(-5, 90))).strftime(form)}


_DB_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}", re.ASCII)


def as_mysql(row: SourceRow) -> SourceRow:
    """The row as a MySQL driver gives it: DATETIME columns as naive datetimes."""
    data = {k: datetime.fromisoformat(v) if isinstance(v, str) and _DB_STAMP.fullmatch(v)
            else v for k, v in row.data.items()}
    return SourceRow(row.entity, row.local_id, row.modified, data)


# --- the corpus -----------------------------------------------------------------------

Group = tuple[str, str, list[SourceRow]]   # (mapping, group name, rows)


def store_rows(folder: Path) -> dict[str, list[SourceRow]]:
    """Every row of a fixed sample store, per entity, as the SQL adapter reads them."""
    path = folder / "golden.db"
    build_sample_store(path, volunteers=VOLUNTEERS, seed=SEED, now=NOW)
    source = open_sql_source(f"sqlite:///{path.resolve()}", folder)
    try:
        return {e: [r for page in source.scan(e, 500) for r in page.rows] for e in ORDER}
    finally:
        source.close()


def _worker(rng: random.Random, i: int) -> dict[str, Any]:
    body = f"3502051990{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(100, 999)}"
    return {"workerId": f"W{i}", "fullName": "林志贵", "idCard": body + id_check(body),
            "gender": rng.choice(("M", "F", "")), "birthDate": "19900101", "nation": "汉族",
            "phone": "13800138000", "districtCode": "350205", "certificateNo": "S2019-1",
            "registeredAt": "2024-03-01T01:00:00Z", "active": rng.random() < 0.9,
            "updatedAt": "2026-06-01T00:00:00Z"}


def _log(rng: random.Random, i: int) -> dict[str, Any]:
    start = datetime(2026, 5, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(40 * 1440))
    end = start + timedelta(minutes=rng.randint(1, 3 * 1440))
    hours = (end - start).total_seconds() / 3600 * rng.choice((0.3, 1.0, 1.2))
    return {"logId": f"L{i}", "workerId": f"W{i % 50}", "activityCode": str(i % 9),
            "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"), "durationHours": f"{hours:.2f}",
            "summary": "入户探访独居老人", "approvedBy": "陈社工",
            "approvedAt": (end + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "voided": rng.random() < 0.05, "updatedAt": "2026-06-10T08:00:00Z"}


def _sheet_rows(rng: random.Random, count: int) -> list[SourceRow]:
    rows: list[SourceRow] = []
    key = CONTEXTS["taiwan_sheets"].ref_key or b""
    for i in range(count):
        start = datetime(2026, 5, 1) + timedelta(minutes=rng.randrange(40 * 1440))
        end = start + timedelta(minutes=rng.randint(1, 2 * 1440))
        cells = sheet_row(start, end, **{"服务时长(小时)": f"{rng.randint(1, 30) / 10}"})
        if rng.random() < 0.7:
            cells = mutate(rng, cells)
        rows.extend(source_rows(cells, Where("golden.csv", i + 2), "m", key))
    return rows


def groups(folder: Path) -> Iterator[Group]:
    """Every group of rows the golden file has a digest for."""
    rng = random.Random(SEED)
    by_entity = store_rows(folder)
    for entity in ORDER:
        yield "zhiyuanyun", f"store/{entity}", by_entity[entity]
    for entity in ORDER:
        rows = by_entity[entity]
        mutated = [SourceRow(r.entity, r.local_id, r.modified, mutate(rng, r.data))
                   for r in rows for _ in range(2 if entity == "service_record" else 4)]
        yield "zhiyuanyun", f"messy/{entity}", mutated
    for entity in ORDER:
        yield "zhiyuanyun", f"mysql/{entity}", [as_mysql(r) for r in by_entity[entity]]
    spans = [SourceRow(r.entity, r.local_id, r.modified, span_record(rng, r.data))
             for r in by_entity["service_record"] for _ in range(2)]
    yield "zhiyuanyun", "spans/service_record", spans
    workers = [_worker(rng, i) for i in range(400)]
    yield "shegong", "messy/volunteer", [
        SourceRow("volunteer", w["workerId"], "m", mutate(rng, w) if i % 3 else w)
        for i, w in enumerate(workers)]
    logs = [_log(rng, i) for i in range(800)]
    yield "shegong", "messy/service_record", [
        SourceRow("service_record", g["logId"], "m", mutate(rng, g) if i % 3 else g)
        for i, g in enumerate(logs)]
    yield "taiwan_sheets", "messy/rows", _sheet_rows(rng, 500)


# --- canonical results ----------------------------------------------------------------

def plain(value: object) -> object:
    """A JSON-able form of a result that keeps every distinction a payload can carry
    (dict order, int vs float vs bool, the class of each result and reason)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"": type(value).__name__,
                **{f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return f"datetime:{value.isoformat()}"
    if isinstance(value, float) and value != value:
        return "float:nan"
    if value is None or isinstance(value, str | int | float):
        return value
    return f"{type(value).__name__}:{value!r}"


def outcome(fn: Callable[[SourceRow, MapContext], MapResult], row: SourceRow,
            ctx: MapContext) -> str:
    """The canonical JSON line of one row's result (or of the exception it raised)."""
    try:
        result: object = plain(fn(row, ctx))
    except Exception as exc:  # an exception is an outcome to pin too
        result = {"raised": type(exc).__name__, "message": str(exc)}
    return json.dumps(result, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def lines(mapping: str, rows: list[SourceRow]) -> list[str]:
    fn = get_mapping(mapping).map_row
    return [outcome(fn, row, CONTEXTS[mapping]) for row in rows]


def digest(mapping: str, rows: list[SourceRow]) -> dict[str, Any]:
    """Count, sha256 of the result lines, and how many rows had each kind of result."""
    out = lines(mapping, rows)
    kinds = Counter(str(json.loads(line).get("", "raised")) for line in out)
    return {"count": len(out), "kinds": dict(sorted(kinds.items())),
            "sha256": hashlib.sha256("\n".join(out).encode("utf-8")).hexdigest()}


def digests(folder: Path) -> dict[str, dict[str, Any]]:
    return {f"{mapping}/{name}": digest(mapping, rows) for mapping, name, rows in groups(folder)}


def dump(folder: Path) -> None:
    """Write each group's result lines to `folder` (one file a group)."""
    folder.mkdir(parents=True, exist_ok=True)
    for mapping, name, rows in groups(folder):
        target = folder / f"{mapping}-{name.replace('/', '-')}.jsonl"
        target.write_text("\n".join(lines(mapping, rows)) + "\n", "utf-8")


if __name__ == "__main__":
    dump(Path(sys.argv[1]))
