"""The rows of the sample 志愿云 store: the fixed rows (every quirk of local-sources.md §A
at least once, by hand) and the bulk rows (random, deterministic by seed), each with the
outcome the spec expects (bridge/testing/sample.py puts them together)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from bridge.testing.samplebase import (
    ACT_STATUS,
    CATEGORIES,
    COUNTIES,
    DATE_STYLES,
    GMT_TIMES,
    RECORDERS,
    SPANS,
    USCC_CHARS,
    Builder,
    fmt_date,
    fmt_time,
    fullwidth,
    make_uscc,
)


def _spaced(number: str) -> str:
    return f"{number[:6]} {number[6:14]} {number[14:]}"


def _bad_check(number: str) -> str:
    chars = "0123456789X" if number[:17].isdigit() else USCC_CHARS
    return number[:-1] + chars[(chars.index(number[-1]) + 1) % len(chars)]


def fixed_teams(b: Builder) -> None:
    t = b.team
    t(1, team_name="海沧区志愿者协会", team_kind="志愿服务组织", service_types="社区服务、扶贫减贫",
      credit_code=make_uscc("51", "350205", 1), note="type 2 with a credit code")
    t(2, team_name="海沧街道志愿服务队", parent_team_id=1, area_code="350205001",
      service_types="环保,助老,义诊", found_date="2016/8/8", note="9-digit area, synonyms, ','")
    t(3, team_name="新阳街道青年志愿服务队", parent_team_id=1, area_code="350205002000",
      service_types="支教、普法、交通劝导、禁毒、文明实践", found_date="2016年8月8日",
      note="12-digit area, more than four categories")
    t(4, team_name="嵩屿街道巾帼志愿服务队", credit_code=make_uscc("52", "350205", 4),
      area_code="350205003", service_types="社区服务、广场舞、关爱特殊群体", found_date="20160808",
      note="type 1 with a credit code, an unknown category")
    t(5, team_name="海沧港务有限公司志愿服务队", team_kind="其他", found_date="2018-03-01 10:00:00",
      credit_code=make_uscc("91", "350205", 5), service_types="大型活动,两岸交流",
      link_phone="13859230005", note="type 3, a date with a time")
    t(6, team_name="海沧区两岸志工服务队", parent_team_id=1, service_types="两岸交流、文化艺术",
      found_date="", note="empty string for NULL")
    t(7, team_name="东孚街道银发志愿服务队", state=3, address="", note="dissolved")
    t(8, team_name="海沧区慈善志愿服务中心", team_kind="志愿服务组织", credit_code="",
      bad=("REQUIRED",), note="type 2 without a credit code")
    t(9, team_name="海沧区应急救援志愿者协会", team_kind="志愿服务组织",
      credit_code=_bad_check(make_uscc("51", "350205", 9)), bad=("CHECKSUM_MISMATCH",),
      note="credit code with a wrong check digit")
    t(10, linkman=None, bad=("REQUIRED",), note="missing linkman")
    t(11, area_code="350102", bad=("FORBIDDEN_REGION",), note="outside the jurisdiction")
    t(12, service_types="广场舞、读书会", bad=(), note="no known category (code left open)")
    t(13, parent_team_id=8, note="its parent is quarantined: left out, not blocked")


def fixed_volunteers(b: Builder) -> None:
    v, nid = b.volunteer, b.new_id
    v(1, real_name="林志贵", nation="汉族", politics="中共党员", edu="本科", area_code="350205",
      reg_time="2016-08-08 09:30:00")
    v(2, cert_no=_spaced(nid()), nation="汉", politics="党员", edu="硕士",
      mobile="+86 138-5923-0002", area_code="350205001", reg_time="2016/8/8 10:00:00",
      note="ID number with spaces, +86 mobile, 9-digit area")
    v(3, cert_no=fullwidth(nid()), nation="畲族", politics="共青团员", edu="研究生",
      mobile="138 5923 0003", area_code="350205001000", reg_time="2016年8月8日 10:00:00",
      note="full-width ID number, spaced mobile, 12-digit area")
    v(4, cert_no=nid(want_x=True).lower(), nation="畲", politics="团员", edu="大专",
      mobile=fullwidth("13950001234"), reg_time="20160808",
      note="lower-case x, full-width mobile, a date without time")
    id15 = b.new_id15()
    v(5, cert_no=id15, sex="男" if int(id15[-1]) % 2 else "女", nation="汉族", politics="群众",
      birthday=f"19{id15[6:8]}/{int(id15[8:10])}/{int(id15[10:12])}", edu="初中",
      note="15-digit ID number")
    v(6, cert_no=nid(male=True), sex="女", birthday="1985-01-01", politics="无党派", edu="博士",
      note="sex and birthday disagree with the number: the number wins")
    v(7, cert_type="居住证", cert_no=nid("810000"), nation="", mobile="+852 9123 4567",
      note="居住证 of a Hong Kong resident")
    v(8, cert_type="居住证", cert_no=nid("820000"), nation="", edu="中专",
      note="居住证 of a Macau resident")
    v(9, cert_type="居住证", cert_no=nid("830000"), nation="", mobile="0912-345-678",
      vol_kind="志工", note="居住证 of a Taiwan resident, Taiwan mobile")
    v(10, cert_type="台胞证", cert_no=b.other_no(""), sex="女", birthday="1988/3/5", nation="",
      mobile="0935-123-456", vol_kind="志工", note="台胞证")
    v(11, cert_type="港澳通行证", cert_no=b.other_no("H"), sex="男", birthday="19900101",
      nation="", edu="技校", note="港澳通行证 H…")
    v(12, cert_type="港澳通行证", cert_no=b.other_no("M"), sex="女", birthday="1992年2月2日",
      nation="", vol_kind="社工", note="港澳通行证 M…")
    v(13, cert_type="港澳通行证", cert_no=b.other_no("C"), sex="男", birthday="1991-01-01",
      nation="", bad=("REQUIRED",), note="港澳通行证 neither H nor M: nationality unknown")
    v(14, cert_type="护照", cert_no=b.other_no("E"), sex="男", birthday="1980-05-05", nation="",
      bad=("REQUIRED",), note="护照: nationality unknown")
    v(15, real_name="John Smith", cert_type="外国人永久居留证", cert_no="USA350290010102",
      sex="男", birthday="1975-07-07", nation="", bad=("REQUIRED",),
      note="外国人永久居留证: nationality unknown")
    v(16, real_name="林 志 贵", note="spaces between the characters of a name")
    v(17, real_name="阿依古丽•买买提", nation="维吾尔族", note="a name with •")
    v(18, real_name="娜仁・其木格", nation="蒙古", note="a name with ・, nation without 族")
    v(19, politics="民革党员", edu="大学",
      email="a.very.long.mailbox.name.for.testing@volunteers.example.org",
      skills="急救,摄影、翻译,驾驶、手语,法律咨询,闽南语,心理疏导,电脑维修,烹饪,书法,绘画",
      note="unknown politics and edu, long email, eleven skills: dropped")
    v(20, is_cancel=1, note="cancelled: pushed as inactive")
    v(21, skills="急救,摄影", note="memberships in every state")
    v(22, mobile="138 5923 0022", skills="", email="", note="empty strings for NULL")
    v(30, cert_no=_bad_check(nid()), bad=("CHECKSUM_MISMATCH",), note="wrong check digit")
    v(31, cert_type="军官证", cert_no="军字第2016001号", sex="男", birthday="1980-01-01",
      bad=(), note="unknown cert type")
    v(32, area_code="350102", bad=("FORBIDDEN_REGION",), note="outside the jurisdiction")
    v(33, mobile="", bad=("REQUIRED",), note="no mobile")
    v(34, nation="", bad=("REQUIRED",), note="no nation for a mainland resident")
    v(35, cert_type="台胞证", cert_no=b.other_no(""), sex="", birthday="1990-01-01", nation="",
      mobile="0911-222-333", bad=("REQUIRED",), note="台胞证 without sex")
    v(36, cert_type="台胞证", cert_no=b.other_no(""), sex="男", birthday=None, nation="",
      mobile="0911-222-444", bad=("REQUIRED",), note="台胞证 without birthday")
    for tid, vid, state, joined in ((1, 1, 1, "2016-08-08"), (2, 1, 1, "2016/8/8"),
                                    (3, 2, 1, "2017年5月4日"), (2, 4, 1, "20170504"),
                                    (6, 9, 1, "2019-01-01 10:00:00"), (6, 10, 1, ""),
                                    (1, 21, 1, "2018-01-01"), (2, 21, 2, "2018-01-01"),
                                    (3, 21, 3, "2018-01-01"), (4, 21, 4, "2018-01-01"),
                                    (8, 21, 1, "2018-01-01"), (7, 21, 1, "2018-01-01"),
                                    (13, 22, 1, "2020-06-01"), (1, 30, 1, "2020-06-01")):
        b.member(tid, vid, state, joined)


def fixed_activities(b: Builder) -> None:
    a, at = b.activity, b.at
    a(1, 1, title="海沧湾公园环保行", service_type="环保")
    a(2, 2, title="夜间平安巡逻", service_type="平安综治")
    a(3, 3, title="路口文明交通劝导", service_type="交通劝导", status=4,
      end_time=fmt_time(at(-30, "18:00:00")), note="running")
    a(4, 4, title="关爱空巢老人", service_type="助老", status=3, note="recruiting",
      begin_time=fmt_time(at(-10)), end_time=fmt_time(at(-12, "17:00:00")))
    a(5, 5, title="补录：海沧半程马拉松赛会服务", service_type="大型活动", status=6, note="补录",
      begin_time=fmt_time(at(300, "06:00:00")), end_time=fmt_time(at(300, "14:00:00")))
    a(6, 6, title="两岸青年交流营", service_type="两岸交流", status=7, note="cancelled",
      begin_time=fmt_time(at(100)), end_time=fmt_time(at(99, "17:00:00")))
    a(7, 7, title="银发课堂助学", service_type="支教", note="its team is dissolved")
    a(8, 13, title="慈善义卖", service_type="社区服务", note="its team's parent is quarantined")
    a(9, 1, title="社区义诊", service_type="义诊",
      begin_time=fmt_time(at(400, "08:00:00"), "slash"),
      end_time=fmt_time(at(1, "20:00:00"), "cn"), note="times in local date forms")
    a(10, 1, title=None, bad=("REQUIRED",), note="no title")
    a(11, 1, intro="", bad=("REQUIRED",), note="empty intro")
    a(12, 1, plan_num=None, bad=("REQUIRED",), note="no plan_num")
    a(13, 1, begin_time=fmt_time(at(5)), end_time=fmt_time(at(6)), bad=(),
      note="end before start")
    a(14, 1, area_code="350102", bad=("FORBIDDEN_REGION",), note="outside the jurisdiction")
    a(15, 1, service_type="广场舞", bad=(), note="unknown category (code left open)")
    a(16, 8, note="its team is quarantined: blocked")
    a(17, 10, intro=None, bad=("REQUIRED",), note="own errors win over the parent's state")
    a(18, 1, linkman="", bad=("REQUIRED",), note="empty linkman")


def fixed_records(b: Builder) -> None:
    at, shared = b.at, f"{b.days[1]} 03:00:00"

    def r(rid: int, vid: int, aid: int, day: int, begin: str = "09:00:00",
          end: tuple[int, str] | str = "11:00:00", **cols: Any) -> None:
        stop = at(*end) if isinstance(end, tuple) else at(day, end)
        b.record(rid, vid, aid, at(day, begin), stop, gmt_modified=shared, **cols)

    r(1, 1, 1, 10)
    r(2, 1, 2, 12, "22:00:00", (11, "02:00:00"), note="overnight 22:00-02:00")
    r(3, 2, 2, 15, "22:00:00", (13, "02:00:00"), service_minutes=1500,
      note="spans two midnights")
    r(4, 2, 1, 20, "09:00:00", "09:50:00", note="50 minutes: 0.83 h")
    r(5, 3, 1, 20, "14:00:00", "14:10:00", record_way=2, note="10 minutes: 0.16 h")
    r(6, 3, 1, 21, audit_state=0, note="awaiting audit")
    r(7, 4, 1, 21, audit_state=2, note="rejected by audit")
    r(8, 4, 1, 22, is_del=1, note="soft-deleted")
    r(9, 5, 3, -2, "09:00:00", "12:00:00", note="ends in the future")
    r(10, 6, 2, 25, "20:00:00", (24, "00:00:00"), note="ends exactly at midnight")
    r(11, 7, 2, 30, "23:59:30", (29, "03:00:00"), service_minutes=180,
      note="its first part rounds to 0.00 h")
    r(12, 8, 1, 32, end="10:00:00", service_minutes=90, bad=(), note="minutes > span")
    r(13, 9, 1, 33, "11:00:00", "09:00:00", service_minutes=60, bad=(),
      note="end before start")
    r(14, 10, 1, 34, content=None, bad=("REQUIRED",), note="no content")
    r(15, 11, 1, 35, recorder="", bad=("REQUIRED",), note="empty recorder")
    r(16, 12, 1, 36, record_time=None, bad=("REQUIRED",), note="no record_time")
    r(17, 30, 1, 37, note="its volunteer is quarantined: blocked")
    r(18, 1, 16, 40, note="its project is blocked: blocked")
    r(19, 2, 10, 41, note="its project is quarantined: blocked")
    r(20, 30, 1, 38, content="", bad=("REQUIRED",), note="own errors win")
    r(21, 30, 1, 39, audit_state=0, note="skipped whatever its volunteer")
    r(22, 13, 1, 42, note="its volunteer is quarantined: blocked")
    r(23, 16, 1, 43, service_minutes=0, bad=(), note="zero minutes")
    r(24, 10, 5, 300, "07:00:00", "11:30:00", record_way=2,
      record_time=fmt_time(at(5, "16:00:00")), note="补录 long after the service")
    r(25, 11, 1, 44, "08:00:00", "10:00:00", style="slash", record_way=4, note="slash dates")
    r(26, 12, 1, 45, style="cn", note="年月日 dates")
    r(27, 17, 7, 46, note="project of a dissolved team")
    r(28, 18, 8, 47, note="project of a team whose parent is quarantined")
    r(29, 9, 9, 48, note="project with local date forms")
    r(30, 19, 1, 49, service_minutes=100, note="fewer minutes than the span")
    r(31, 20, 1, 50, note="a cancelled volunteer's past service")


KNOWN = tuple(c for c in CATEGORIES if c != "读书会")


def _area(rng: random.Random) -> str:
    county = rng.choice(COUNTIES)
    return rng.choice((county, f"{county}{rng.randint(1, 9):03d}",
                       f"{county}{rng.randint(1, 9):03d}{rng.randint(0, 20):03d}"))


def _categories(rng: random.Random) -> str:
    names = [rng.choice(KNOWN), *rng.sample(CATEGORIES, rng.randint(0, 4))]
    return rng.choice("、,").join(names)


def bulk_team(b: Builder, tid: int, first: int, share: float) -> None:
    rng = b.rng
    kind = rng.choice(("志愿服务队",) * 7 + ("志愿服务组织",) * 2 + ("其他",))
    cols: dict[str, Any] = {
        "team_kind": kind, "area_code": _area(rng), "service_types": _categories(rng),
        "found_date": fmt_date(b.at(rng.randint(400, 4000)), rng.choice(DATE_STYLES)),
        "parent_team_id": rng.choice((None, 1, tid - 1)) if tid > first else None,
        "state": 3 if rng.random() < 0.05 else 1,
        "credit_code": None if kind == "志愿服务队" else
        make_uscc("51" if kind == "志愿服务组织" else "91", "350205", tid)}
    bad: tuple[str, ...] | None = None
    if rng.random() < share:
        flaw = rng.randrange(3)
        bad = ("REQUIRED",) if flaw < 2 else ("CHECKSUM_MISMATCH",)
        fixes: list[dict[str, Any]] = [
            {"linkman": None}, {"team_kind": "志愿服务组织", "credit_code": ""},
            {"team_kind": "志愿服务组织",
             "credit_code": _bad_check(make_uscc("51", "350205", tid))}]
        cols.update(fixes[flaw])
    b.team(tid, bad, **cols)


def bulk_activity(b: Builder, aid: int, index: int, teams: range, share: float) -> int:
    rng, at = b.rng, b.at
    status = ACT_STATUS[index % len(ACT_STATUS)]
    span = {4: (400, -90), 3: (-20, -22), 7: (100, 99)}.get(status, (400, 1))
    cols: dict[str, Any] = {
        "title": f"{rng.choice(('海沧', '新阳', '嵩屿', '东孚'))}{rng.choice(KNOWN)}志愿服务",
        "service_type": rng.choice(KNOWN), "area_code": _area(rng), "status": status,
        "begin_time": fmt_time(at(span[0], "00:00:00")),
        "end_time": fmt_time(at(span[1], "23:00:00")), "plan_num": rng.randint(0, 200)}
    bad: tuple[str, ...] | None = None
    if rng.random() < share:
        flaw = rng.randrange(3)
        bad = ("FORBIDDEN_REGION",) if flaw == 2 else ("REQUIRED",)
        fixes: list[dict[str, Any]] = [{"intro": ""}, {"plan_num": None},
                                       {"area_code": "350102"}]
        cols.update(fixes[flaw])
    b.activity(aid, teams[rng.randrange(len(teams))], bad, **cols)
    return status


def bulk_volunteer(b: Builder, vid: int, share: float) -> None:
    rng = b.rng
    x, number = rng.random(), ""
    cols: dict[str, Any] = {}
    if x < 0.02:
        cols = {"cert_type": "居住证", "nation": "",
                "cert_no": b.new_id(rng.choice(("810000", "820000", "830000")))}
    elif x < 0.08:
        kind = "台胞证" if x < 0.05 else "港澳通行证"
        cols = {"cert_type": kind, "cert_no": b.other_no("" if x < 0.05 else rng.choice("HM")),
                "sex": rng.choice("男女"), "nation": "", "birthday": fmt_date(
                    date(1960, 1, 1) + timedelta(days=rng.randrange(15000)),
                    rng.choice(DATE_STYLES))}
        if kind == "台胞证":
            cols["mobile"] = f"09{rng.randrange(100):02d}-{rng.randrange(1000):03d}-" \
                             f"{rng.randrange(1000):03d}"
    else:
        number = b.new_id()
        form = rng.random()
        cols["cert_no"] = _spaced(number) if form < 0.02 else fullwidth(number) \
            if form < 0.03 else number.lower() if form < 0.5 else number
    if rng.random() < 0.02:
        name = b.name()
        cols["real_name"] = f"{name[0]} {name[1:]}"
    if rng.random() < 0.05:
        m = b.mobile()
        cols["mobile"] = f"+86 {m[:3]}-{m[3:7]}-{m[7:]}" if vid % 2 else f"{m[:3]} {m[3:7]} {m[7:]}"
    cols["is_cancel"] = int(rng.random() < 0.02)
    bad: tuple[str, ...] | None = None
    if "cert_type" not in cols and rng.random() < share:
        flaw = rng.randrange(4)
        bad = (("CHECKSUM_MISMATCH",), ("REQUIRED",), ("FORBIDDEN_REGION",), ("REQUIRED",))[flaw]
        cols.update([{"cert_no": _bad_check(number)}, {"mobile": ""},
                     {"area_code": "350102"}, {"nation": ""}][flaw])
    b.volunteer(vid, bad, **cols)


def bulk_members(b: Builder, vid: int, teams: range) -> None:
    rng = b.rng
    for tid in sorted(rng.sample(teams, min(len(teams), rng.choice((0, 1, 1, 2))))):
        b.member(tid, vid, rng.choice((1, 1, 1, 1, 2, 3, 4)),
                 fmt_date(b.at(rng.randint(30, 2000)), rng.choice(DATE_STYLES)))


def bulk_records(b: Builder, vid: int, first_rid: int, acts: Sequence[int],
                  share: float) -> None:
    """Five records on days far apart, so that no two of one volunteer overlap. (Indexing
    with random() instead of choice() halves the time of a large build.)"""
    rand, days, base = b.rng.random, b.days, 4 + vid % 7
    for j in range(5):
        n = base + 70 * j + int(rand() * 60)
        flaw = int(rand() * 5) if rand() < share else -1
        if rand() < 0.02 and flaw != 3:
            begin, end, span = f"{days[n]} 22:00:00", f"{days[n - 1]} 02:00:00", 240
        else:
            start, span = (16 + int(rand() * 22)) * 30, SPANS[int(rand() * len(SPANS))]
            begin = f"{days[n]} {start // 60:02d}:{start % 60:02d}:00"
            end = f"{days[n]} {(start + span) // 60:02d}:{(start + span) % 60:02d}:00"
        r = n - 1 - (rand() < 0.5)
        audit = rand()
        row: dict[str, Any] = {
            "rec_id": first_rid + j, "act_id": acts[int(rand() * len(acts))], "vol_id": vid,
            "begin_time": begin, "end_time": end,
            "service_minutes": span - 5 if span > 5 and rand() < 0.25 else span,
            "content": "参与社区志愿服务", "recorder": RECORDERS[int(rand() * 3)],
            "record_time": f"{days[r]} 20:30:00", "record_way": (1, 1, 2, 4)[int(rand() * 4)],
            "audit_state": 1 if audit < 0.91 else 0 if audit < 0.96 else 2,
            "is_del": int(rand() < 0.03),
            "gmt_modified": f"{days[1 + int(rand() * (r - 1))]} {GMT_TIMES[int(rand() * 6)]}"}
        bad: tuple[str, ...] | None = None
        if flaw >= 0:
            bad = ("REQUIRED",) if flaw < 2 else ()
            fixes: list[dict[str, Any]] = [
                {"content": ""}, {"recorder": None}, {"service_minutes": span + 30},
                {"begin_time": end, "end_time": begin}, {"service_minutes": 0}]
            row.update(fixes[flaw])
        b.add("zyy_service_time", row,
              b.outcome(row, vid, row["act_id"], False, bad), bad or ())
