"""The sample 志愿云 store's foundations (bridge/testing/sample.py builds the store): the
schema of local-sources.md §A, the check digits, the formats, the manifest of the outcome
the spec expects for every row, and the builder that collects rows and outcomes.

The manifest assumes the jurisdiction `3502` (the demo's): rows whose area lies outside
it are expected to be quarantined with FORBIDDEN_REGION. Check digits (GB 11643,
GB 32100, GB 11714) are computed here on purpose: this module helps to test mappings/,
so it must not import it.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from operator import itemgetter
from pathlib import Path
from typing import Any

CST = timezone(timedelta(hours=8))
STAMP = "%Y-%m-%d %H:%M:%S"
OUTCOMES = ("synced", "quarantined", "skipped", "deferred", "blocked")

SCHEMA = """
CREATE TABLE zyy_team (team_id INTEGER PRIMARY KEY, team_name TEXT NOT NULL, team_kind TEXT,
  credit_code TEXT, parent_team_id INTEGER, area_code TEXT, address TEXT, service_types TEXT,
  linkman TEXT, link_phone TEXT, found_date TEXT, state INTEGER, gmt_modified TEXT NOT NULL);
CREATE TABLE zyy_volunteer (vol_id INTEGER PRIMARY KEY, real_name TEXT, sex TEXT,
  cert_type TEXT, cert_no TEXT, birthday TEXT, nation TEXT, politics TEXT, edu TEXT,
  mobile TEXT, email TEXT, area_code TEXT, skills TEXT, vol_kind TEXT, reg_time TEXT,
  is_cancel INTEGER DEFAULT 0, gmt_modified TEXT NOT NULL);
CREATE TABLE zyy_team_member (team_id INTEGER NOT NULL, vol_id INTEGER NOT NULL,
  join_time TEXT, state INTEGER, gmt_modified TEXT NOT NULL, PRIMARY KEY (team_id, vol_id));
CREATE TABLE zyy_activity (act_id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL, title TEXT,
  service_type TEXT, area_code TEXT, address TEXT, begin_time TEXT, end_time TEXT,
  plan_num INTEGER, intro TEXT, linkman TEXT, link_phone TEXT, status INTEGER,
  gmt_modified TEXT NOT NULL);
CREATE TABLE zyy_service_time (rec_id INTEGER PRIMARY KEY, act_id INTEGER NOT NULL,
  vol_id INTEGER NOT NULL, begin_time TEXT, end_time TEXT, service_minutes INTEGER,
  content TEXT, recorder TEXT, record_time TEXT, record_way INTEGER, audit_state INTEGER,
  is_del INTEGER DEFAULT 0, gmt_modified TEXT NOT NULL);
"""
INDEXES = """
CREATE INDEX ix_team_mod ON zyy_team (gmt_modified, team_id);
CREATE INDEX ix_volunteer_mod ON zyy_volunteer (gmt_modified, vol_id);
CREATE INDEX ix_member_mod ON zyy_team_member (gmt_modified, team_id, vol_id);
CREATE INDEX ix_member_vol ON zyy_team_member (vol_id, team_id);
CREATE INDEX ix_activity_mod ON zyy_activity (gmt_modified, act_id);
CREATE INDEX ix_service_mod ON zyy_service_time (gmt_modified, rec_id);
"""
# table → its columns in order, read off SCHEMA so that the two never disagree
COLUMNS: dict[str, tuple[str, ...]] = {
    m[1]: tuple(re.findall(r"(\w+) (?:INTEGER|TEXT)", m[2]))
    for m in re.finditer(r"CREATE TABLE (\w+) \((.*?)\);", SCHEMA, re.DOTALL)}
GETTERS = {table: itemgetter(*cols) for table, cols in COLUMNS.items()}
TABLES: dict[str, tuple[str, str]] = {
    "organization": ("zyy_team", "team_id"), "volunteer": ("zyy_volunteer", "vol_id"),
    "project": ("zyy_activity", "act_id"), "service_record": ("zyy_service_time", "rec_id"),
}
TABLE_ENTITY = {table: entity for entity, (table, _) in TABLES.items()}
# soft delete / revival per entity: (column, deleted value, live value)
SOFT: dict[str, tuple[str, int, int]] = {
    "organization": ("state", 3, 1), "volunteer": ("is_cancel", 1, 0),
    "project": ("status", 7, 4), "service_record": ("is_del", 1, 0),
}

COUNTIES = ("350203", "350205", "350206", "350211", "350212", "350213")
BIRTH_AREAS = ("350205", "350203", "350102", "350583", "350681", "110101", "440300", "362201")
SURNAMES = "林陈黄王李张吴刘郑蔡杨许谢洪庄苏叶曾邱周"
GIVEN = "志明建国丽华伟芳秀英文军强敏静海燕宏杰婷慧晓云鹏辉玲琳佳颖俊"
CATEGORIES = ("社区服务", "扶贫减贫", "支教助学", "卫生健康", "法律服务", "环境保护", "文化艺术",
              "平安综治", "文明风尚", "大型活动", "环保", "助老", "助残", "义诊", "支教", "普法",
              "交通劝导", "禁毒", "文明实践", "两岸交流", "读书会")
NATIONS = ("汉族",) * 8 + ("汉", "畲族", "回族", "畲", "壮族", "满族")
POLITICS = ("群众",) * 4 + ("中共党员", "党员", "预备党员", "共青团员", "团员", "无党派")
EDU = ("本科", "大专", "高中", "硕士", "研究生", "博士", "中专", "技校", "初中", "小学", "其他")
SKILLS = ("急救", "心理疏导", "摄影", "翻译", "法律咨询", "驾驶", "电脑维修", "手语", "闽南语")
GMT_TIMES = ("02:00:00", "03:00:00", "09:15:00", "12:00:00", "18:30:00", "21:45:00")
DATE_STYLES = ("iso", "slash", "cn", "compact")
ACT_STATUS = (5, 4, 6, 5, 3, 5, 7, 4)
SPANS = (10, 50, 60, 90, 120, 180, 240)
RECORDERS = ("王老师", "陈社工", "系统")

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def id_check(body: str) -> str:
    """GB 11643 check character of the first 17 digits of a mainland ID number."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def uscc_check(body: str) -> str:
    """GB 32100 check character of the first 17 characters of a credit code."""
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def org_code_check(body: str) -> str:
    """GB 11714 check character of an 8-character organization code."""
    c = 11 - sum(int(ch, 36) * w for ch, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2),
                                                   strict=True)) % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def make_uscc(prefix: str, area: str, serial: int) -> str:
    org = f"MJ{serial:06d}"
    body = f"{prefix}{area}{org}{org_code_check(org)}"
    return body + uscc_check(body)


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def fmt_date(d: date, style: str) -> str:
    if style == "slash":
        return f"{d.year}/{d.month}/{d.day}"
    if style == "cn":
        return f"{d.year}年{d.month}月{d.day}日"
    return d.strftime("%Y%m%d" if style == "compact" else "%Y-%m-%d")


def fmt_time(t: datetime, style: str = "iso") -> str:
    return t.strftime(STAMP) if style == "iso" else f"{fmt_date(t, style)} {t:%H:%M:%S}"


def local_stamp(at: datetime | None = None) -> str:
    """A time (default: now) as 志愿云 writes gmt_modified: local UTC+08:00, no offset."""
    moment = at or datetime.now(CST)
    return (moment.astimezone(CST) if moment.tzinfo else moment).strftime(STAMP)


@dataclass(frozen=True)
class SampleManifest:
    """What the spec expects of every row of a sample store (jurisdiction 3502).

    `expected[(entity, local_id)]` is one of OUTCOMES; `quarantine_codes` holds the
    national error codes a quarantined row must at least carry (rows whose code the spec
    leaves open are absent); `notes` says why a hand-written row is special."""

    path: Path
    seed: int
    now: datetime
    expected: dict[tuple[str, str], str]
    quarantine_codes: dict[tuple[str, str], set[str]]
    counts: dict[str, int]
    memberships: int
    notes: dict[tuple[str, str], str] = field(default_factory=dict)

    def ids(self, entity: str, outcome: str) -> list[str]:
        return sorted((lid for (e, lid), o in self.expected.items()
                       if e == entity and o == outcome), key=int)

    def tally(self) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {e: Counter() for e in TABLES}
        for (entity, _), outcome in self.expected.items():
            out[entity][outcome] += 1
        return out


class Builder:
    """Accumulates rows and their expected outcomes; flushes rows in chunks."""

    def __init__(self, conn: sqlite3.Connection, seed: int, now: datetime) -> None:
        self.conn, self.rng, self.now = conn, random.Random(seed), now
        self.today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.days = [(self.today - timedelta(days=n)).strftime("%Y-%m-%d") for n in range(420)]
        self.pending: dict[str, list[tuple[Any, ...]]] = {t: [] for t in COLUMNS}
        self.expected: dict[tuple[str, str], str] = {}
        self.codes: dict[tuple[str, str], set[str]] = {}
        self.notes: dict[tuple[str, str], str] = {}
        self.used: set[str] = set()
        self.members = 0

    # time and identity helpers ---------------------------------------------------------
    def at(self, days_ago: int, hhmmss: str = "09:00:00") -> datetime:
        h, m, s = (int(x) for x in hhmmss.split(":"))
        return self.today - timedelta(days=days_ago) + timedelta(hours=h, minutes=m, seconds=s)

    def stamp(self) -> str:
        return f"{self.days[self.rng.randint(1, 30)]} {self.rng.choice(GMT_TIMES)}"

    def new_id(self, area: str | None = None, *, male: bool | None = None,
               want_x: bool = False) -> str:
        rng = self.rng
        while True:
            birth = date(1950, 1, 1) + timedelta(days=rng.randrange(20000))
            seq = rng.randrange(1000)
            if male is not None and seq % 2 != male:
                seq = seq + 1 if seq < 999 else 1
            body = f"{area or rng.choice(BIRTH_AREAS)}{birth:%Y%m%d}{seq:03d}"
            number = body + id_check(body)
            if number not in self.used and (not want_x or number.endswith("X")):
                self.used.add(number)
                return number

    def new_id15(self) -> str:
        """A pre-1999 15-digit number; its 18-digit upgrade is reserved in `used`."""
        while True:
            number = self.new_id("350205")
            if number[6:8] == "19":
                return number[:6] + number[8:17]

    def other_no(self, prefix: str) -> str:
        while (number := f"{prefix}{self.rng.randrange(10**8):08d}") in self.used:
            pass
        self.used.add(number)
        return number

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.sample(GIVEN, self.rng.choice((1, 2))))

    def mobile(self) -> str:
        return f"1{self.rng.choice('3589')}{self.rng.randrange(10**9):09d}"

    # rows ------------------------------------------------------------------------------
    def add(self, table: str, row: dict[str, Any], outcome: str,
            codes: Sequence[str] = (), note: str = "") -> None:
        self.pending[table].append(GETTERS[table](row))
        if table != "zyy_team_member":
            key = (TABLE_ENTITY[table], str(row[COLUMNS[table][0]]))
            self.expected[key] = outcome
            if codes and outcome == "quarantined":
                self.codes[key] = set(codes)
            if note:
                self.notes[key] = note
        if len(self.pending[table]) >= 5000:
            self.flush(table)

    def flush(self, table: str) -> None:
        cols = COLUMNS[table]
        self.conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                              f"({', '.join('?' * len(cols))})", self.pending[table])
        self.pending[table].clear()

    def ok(self, entity: str, local_id: int) -> bool:
        return self.expected.get((entity, str(local_id))) == "synced"

    def team(self, tid: int, bad: Sequence[str] | None = None, note: str = "",
             **cols: Any) -> None:
        rng = self.rng
        row = {"team_id": tid, "team_name": f"海沧区{rng.choice(GIVEN)}{rng.choice(GIVEN)}服务队",
               "team_kind": "志愿服务队", "credit_code": None, "parent_team_id": None,
               "area_code": "350205", "address": f"厦门市海沧区滨湖北路{tid}号",
               "service_types": "社区服务", "linkman": self.name(),
               "link_phone": "0592-6051234", "found_date": "2016-08-08", "state": 1,
               "gmt_modified": self.stamp(), **cols}
        self.add("zyy_team", row, "synced" if bad is None else "quarantined", bad or (), note)

    def volunteer(self, vid: int, bad: Sequence[str] | None = None, note: str = "",
                  **cols: Any) -> None:
        number = cols.get("cert_no") or self.new_id()
        plain = number.replace(" ", "").upper()
        male = int(plain[16]) % 2 == 1 if len(plain) == 18 and plain[:17].isdigit() else True
        birth = date(int(plain[6:10]), int(plain[10:12]), int(plain[12:14])) \
            if len(plain) == 18 and plain[:14].isdigit() else date(1990, 1, 1)
        row = {"vol_id": vid, "real_name": self.name(), "sex": "男" if male else "女",
               "cert_type": "身份证", "cert_no": number,
               "birthday": fmt_date(birth, self.rng.choice(DATE_STYLES)),
               "nation": self.rng.choice(NATIONS), "politics": self.rng.choice(POLITICS),
               "edu": self.rng.choice(EDU), "mobile": self.mobile(),
               "email": f"zyy{vid:05d}@example.com" if vid % 3 else "",
               "area_code": self.rng.choice(COUNTIES),
               "skills": "、".join(self.rng.sample(SKILLS, vid % 3)), "vol_kind": "义工",
               "reg_time": f"{self.days[self.rng.randint(100, 419)]} 10:{vid % 60:02d}:00",
               "is_cancel": 0, "gmt_modified": self.stamp(), **cols}
        self.add("zyy_volunteer", row, "synced" if bad is None else "quarantined", bad or (),
                 note)

    def member(self, tid: int, vid: int, state: int, join_time: str = "2018-03-05") -> None:
        self.members += 1
        self.add("zyy_team_member", {"team_id": tid, "vol_id": vid, "join_time": join_time,
                                     "state": state, "gmt_modified": self.stamp()}, "")

    def activity(self, aid: int, tid: int, bad: Sequence[str] | None = None, note: str = "",
                 **cols: Any) -> None:
        row = {"act_id": aid, "team_id": tid, "title": f"海沧社区志愿服务活动{aid}",
               "service_type": "社区服务", "area_code": "350205",
               "address": f"厦门市海沧区兴港路{aid}号",
               "begin_time": fmt_time(self.at(400, "00:00:00")),
               "end_time": fmt_time(self.at(1, "23:00:00")), "plan_num": 30,
               "intro": "组织志愿者开展社区志愿服务。", "linkman": self.name(),
               "link_phone": self.mobile(), "status": 5, "gmt_modified": self.stamp(), **cols}
        outcome = "quarantined" if bad is not None else (
            "synced" if self.ok("organization", tid) else "blocked")
        self.add("zyy_activity", row, outcome, bad or (), note)

    def record(self, rid: int, vid: int, aid: int, begin: datetime, end: datetime,
               bad: Sequence[str] | None = None, note: str = "", style: str = "iso",
               **cols: Any) -> None:
        minutes = int((end - begin).total_seconds() // 60)
        recorded = end + timedelta(minutes=30) if end + timedelta(minutes=30) < self.now else end
        row = {"rec_id": rid, "act_id": aid, "vol_id": vid, "begin_time": fmt_time(begin, style),
               "end_time": fmt_time(end, style), "service_minutes": minutes,
               "content": "参与社区志愿服务", "recorder": "王老师",
               "record_time": fmt_time(recorded), "record_way": 1, "audit_state": 1,
               "is_del": 0, "gmt_modified": self.stamp(), **cols}
        self.add("zyy_service_time", row, self.outcome(row, vid, aid, end > self.now, bad),
                 bad or (), note)

    def outcome(self, row: dict[str, Any], vid: int, aid: int, future: bool,
                bad: Sequence[str] | None) -> str:
        if row["is_del"] or row["audit_state"] != 1:
            return "skipped"
        if future:
            return "deferred"
        if bad is not None:
            return "quarantined"
        return "synced" if self.ok("volunteer", vid) and self.ok("project", aid) else "blocked"
