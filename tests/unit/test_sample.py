"""The sample 志愿云 store: deterministic, every quirk of local-sources.md §A present, check
digits right where meant to be, and a manifest that agrees with the rows."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.testing.sample import (
    CST,
    OUTCOMES,
    USCC_CHARS,
    SampleManifest,
    build_sample_store,
    id_check,
    org_code_check,
    revive,
    set_membership,
    soft_delete,
    touch_rows,
    update_rows,
    uscc_check,
)

NOW = datetime(2026, 6, 20, 15, 30, tzinfo=CST)
TABLE = {"organization": "zyy_team", "volunteer": "zyy_volunteer", "project": "zyy_activity",
         "service_record": "zyy_service_time"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleManifest]:
    path = tmp_path_factory.mktemp("sample") / "zyy.db"
    return path, build_sample_store(path, now=NOW)


@pytest.fixture(scope="module")
def db(store: tuple[Path, SampleManifest]) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{store[0]}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


def rows(db: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    return [dict(r) for r in db.execute(f"SELECT * FROM {table}")]


def column(db: sqlite3.Connection, table: str, name: str) -> list[Any]:
    return [r[0] for r in db.execute(f"SELECT {name} FROM {table}")]


def plain(number: str) -> str:
    return unicodedata.normalize("NFKC", number).replace(" ", "").upper()


def valid_id(number: str) -> bool:
    return bool(re.fullmatch(r"\d{17}[\dX]", number)) and id_check(number[:17]) == number[17]


def parse_local(text: str) -> datetime:
    m = re.fullmatch(r"(\d{4})\D(\d{1,2})\D(\d{1,2})\D? (\d\d):(\d\d):(\d\d)", text)
    assert m, text
    year, month, day, hour, minute, second = (int(g) for g in m.groups())
    return datetime(year, month, day, hour, minute, second)


def dump(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    out = [row for table in TABLE.values() for row in conn.execute(f"SELECT * FROM {table}")]
    out += list(conn.execute("SELECT * FROM zyy_team_member ORDER BY team_id, vol_id"))
    conn.close()
    return out


# checksums ---------------------------------------------------------------------------------
def test_the_id_check_digit_matches_the_standards_example() -> None:
    assert id_check("11010519491231002") == "X"


def test_the_credit_code_check_digits_match_the_standards_example() -> None:
    assert org_code_check("M000100Y") == "4" and uscc_check("91350100M000100Y4") == "3"


@given(st.text("0123456789", min_size=17, max_size=17), st.integers(0, 16), st.integers(1, 9))
def test_changing_one_digit_of_an_id_breaks_its_check(body: str, pos: int, delta: int) -> None:
    changed = body[:pos] + str((int(body[pos]) + delta) % 10) + body[pos + 1:]
    assert id_check(changed) != id_check(body)


@given(st.text(USCC_CHARS, min_size=17, max_size=17), st.integers(0, 16), st.integers(1, 30))
def test_changing_one_char_of_a_credit_code_breaks_its_check(body: str, pos: int,
                                                             delta: int) -> None:
    moved = USCC_CHARS[(USCC_CHARS.index(body[pos]) + delta) % 31]
    assert uscc_check(body[:pos] + moved + body[pos + 1:]) != uscc_check(body)


# determinism and manifest -------------------------------------------------------------------
def test_the_same_seed_and_time_build_the_same_store(tmp_path: Path) -> None:
    a = build_sample_store(tmp_path / "a.db", seed=3, now=NOW)
    b = build_sample_store(tmp_path / "b.db", seed=3, now=NOW)
    assert dump(tmp_path / "a.db") == dump(tmp_path / "b.db")
    assert a.expected == b.expected and a.quarantine_codes == b.quarantine_codes


def test_another_seed_builds_another_store(tmp_path: Path) -> None:
    build_sample_store(tmp_path / "a.db", seed=3, now=NOW)
    build_sample_store(tmp_path / "b.db", seed=4, now=NOW)
    assert dump(tmp_path / "a.db") != dump(tmp_path / "b.db")


def test_building_again_replaces_the_file(tmp_path: Path) -> None:
    build_sample_store(tmp_path / "a.db", volunteers=10, now=NOW)
    manifest = build_sample_store(tmp_path / "a.db", volunteers=20, now=NOW)
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("SELECT COUNT(*) FROM zyy_volunteer").fetchone()[0] == \
        manifest.counts["volunteer"]
    conn.close()


def test_the_manifest_names_every_row_and_only_rows(store: tuple[Path, SampleManifest],
                                                    db: sqlite3.Connection) -> None:
    _, manifest = store
    for entity, table in TABLE.items():
        key = {"organization": "team_id", "volunteer": "vol_id", "project": "act_id",
               "service_record": "rec_id"}[entity]
        in_db = {str(v) for v in column(db, table, key)}
        assert in_db == {lid for e, lid in manifest.expected if e == entity}
        assert manifest.counts[entity] == len(in_db)
    assert manifest.memberships == len(rows(db, "zyy_team_member"))
    assert set(manifest.expected.values()) == set(OUTCOMES)


def test_quarantine_codes_belong_to_quarantined_rows(store: tuple[Path, SampleManifest]) -> None:
    _, manifest = store
    assert manifest.quarantine_codes
    for key, codes in manifest.quarantine_codes.items():
        assert manifest.expected[key] == "quarantined" and codes


def test_the_first_volunteer_and_every_blocking_cause_are_present(
        store: tuple[Path, SampleManifest]) -> None:
    expected = store[1].expected
    assert expected[("volunteer", "1")] == "synced"
    assert expected[("project", "16")] == "blocked"
    assert {expected[("service_record", r)] for r in ("17", "18", "19", "22")} == {"blocked"}
    assert expected[("service_record", "20")] == "quarantined"
    assert expected[("service_record", "9")] == "deferred"


# the quirks of §A ----------------------------------------------------------------------------
DATE_FORMS = {"iso": r"\d{4}-\d\d-\d\d", "slash": r"\d{4}/\d{1,2}/\d{1,2}",
              "cn": r"\d{4}年\d{1,2}月\d{1,2}日", "compact": r"\d{8}"}


@pytest.mark.parametrize("form", DATE_FORMS)
def test_dates_come_in_every_local_form_with_and_without_a_time(db: sqlite3.Connection,
                                                                form: str) -> None:
    texts = [t for t in column(db, "zyy_volunteer", "birthday") + column(db, "zyy_volunteer",
             "reg_time") + column(db, "zyy_team", "found_date") if t]
    assert any(re.fullmatch(DATE_FORMS[form], t) for t in texts)
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", t) for t in texts)
    assert "" in column(db, "zyy_team", "found_date")


def test_id_numbers_come_in_every_messy_form(db: sqlite3.Connection) -> None:
    numbers = column(db, "zyy_volunteer", "cert_no")
    assert any(" " in n for n in numbers)
    assert any(re.search("[０-９]", n) for n in numbers)
    assert any(n.endswith("x") for n in numbers)
    assert any(re.fullmatch(r"\d{15}", n) for n in numbers)


@pytest.mark.parametrize("prefix", ["810000", "820000", "830000"])
def test_residence_permits_carry_a_valid_check_digit(db: sqlite3.Connection,
                                                     prefix: str) -> None:
    permits = [r["cert_no"] for r in db.execute(
        "SELECT cert_no FROM zyy_volunteer WHERE cert_type = '居住证'")]
    assert any(n.startswith(prefix) and valid_id(n) for n in permits)


def test_every_cert_type_appears(db: sqlite3.Connection) -> None:
    pairs = {(r["cert_type"], r["cert_no"][:1]) for r in rows(db, "zyy_volunteer")}
    kinds = {k for k, _ in pairs}
    assert {"身份证", "居住证", "台胞证", "港澳通行证", "护照", "外国人永久居留证"} <= kinds
    firsts = {f for k, f in pairs if k == "港澳通行证"}
    assert {"H", "M"} <= firsts and firsts - {"H", "M"}


def test_mobiles_come_in_every_messy_form(db: sqlite3.Connection) -> None:
    mobiles = [m for m in column(db, "zyy_volunteer", "mobile") if m]
    assert any(re.fullmatch(r"\+86 1\d\d-\d{4}-\d{4}", m) for m in mobiles)
    assert any(re.fullmatch(r"1\d\d \d{4} \d{4}", m) for m in mobiles)
    assert any(re.fullmatch("[０-９]{11}", m) for m in mobiles)
    assert any(re.fullmatch(r"09\d\d-\d{3}-\d{3}", m) for m in mobiles)


@pytest.mark.parametrize("digits", [6, 9, 12])
def test_area_codes_come_in_every_length(db: sqlite3.Connection, digits: int) -> None:
    codes = column(db, "zyy_volunteer", "area_code") + column(db, "zyy_team", "area_code")
    assert any(re.fullmatch(rf"\d{{{digits}}}", c or "") for c in codes)


def test_local_names_for_nation_politics_and_education(db: sqlite3.Connection) -> None:
    vols = rows(db, "zyy_volunteer")
    assert {"汉", "汉族", "畲族", "畲", "蒙古"} <= {v["nation"] for v in vols}
    politics = {v["politics"] for v in vols}
    assert {"中共党员", "党员", "团员", "群众", "无党派", "民革党员"} <= politics
    assert {"研究生", "硕士", "技校", "大学"} <= {v["edu"] for v in vols}


def test_service_types_are_joined_both_ways_with_synonyms_unknowns_and_more_than_four(
        db: sqlite3.Connection) -> None:
    types = column(db, "zyy_team", "service_types")
    assert any("、" in t for t in types) and any("," in t for t in types)
    assert any("环保" in t for t in types) and any("广场舞" in t for t in types)
    assert any(len(re.split("[、,]", t)) > 4 for t in types)


def test_names_with_spaces_and_middle_dots(db: sqlite3.Connection) -> None:
    names = column(db, "zyy_volunteer", "real_name")
    assert any(re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", n) for n in names)
    assert any("•" in n for n in names) and any("・" in n for n in names)


def test_teams_of_every_kind_state_and_parentage(db: sqlite3.Connection) -> None:
    teams = rows(db, "zyy_team")
    kinds = {(t["team_kind"], bool(t["credit_code"])) for t in teams}
    assert {("志愿服务组织", True), ("志愿服务组织", False), ("志愿服务队", True),
            ("志愿服务队", False), ("其他", True)} <= kinds
    assert {t["state"] for t in teams} == {1, 3}
    assert any(t["parent_team_id"] for t in teams)


def test_memberships_in_every_state_and_cancelled_volunteers(db: sqlite3.Connection) -> None:
    assert set(column(db, "zyy_team_member", "state")) == {1, 2, 3, 4}
    assert 1 in column(db, "zyy_volunteer", "is_cancel")


def test_activities_in_every_status(db: sqlite3.Connection) -> None:
    assert set(column(db, "zyy_activity", "status")) == {3, 4, 5, 6, 7}


def test_service_records_cover_every_case(db: sqlite3.Connection) -> None:
    recs = rows(db, "zyy_service_time")
    spans = [(parse_local(r["begin_time"]), parse_local(r["end_time"])) for r in recs]
    assert any(b.hour == 22 and e.hour == 2 and (e.date() - b.date()).days == 1
               for b, e in spans)
    assert any((e.date() - b.date()).days == 2 for b, e in spans)
    assert {50, 10} <= {r["service_minutes"] for r in recs}
    assert {r["audit_state"] for r in recs} == {0, 1, 2} and 1 in {r["is_del"] for r in recs}
    assert any(e > NOW.replace(tzinfo=None) for _, e in spans)
    shared = max(column(db, "zyy_service_time", "gmt_modified").count(g)
                 for g in set(column(db, "zyy_service_time", "gmt_modified")))
    assert shared >= 20


# validity where meant to be ------------------------------------------------------------------
def test_synced_mainland_ids_and_credit_codes_carry_valid_check_digits(
        store: tuple[Path, SampleManifest], db: sqlite3.Connection) -> None:
    expected = store[1].expected
    for v in rows(db, "zyy_volunteer"):
        number = plain(v["cert_no"] or "")
        if v["cert_type"] in ("身份证", "居住证") and len(number) == 18 and \
                expected[("volunteer", str(v["vol_id"]))] == "synced":
            assert valid_id(number), v["vol_id"]
    for t in rows(db, "zyy_team"):
        code = t["credit_code"]
        if code and expected[("organization", str(t["team_id"]))] == "synced":
            assert uscc_check(code[:17]) == code[17] and org_code_check(code[8:16]) == code[16]


def test_checksum_rows_really_carry_a_wrong_check_digit(
        store: tuple[Path, SampleManifest], db: sqlite3.Connection) -> None:
    wrong = [k for k, codes in store[1].quarantine_codes.items() if "CHECKSUM_MISMATCH" in codes]
    assert wrong
    for entity, lid in wrong:
        table, key, col = (("zyy_team", "team_id", "credit_code") if entity == "organization"
                           else ("zyy_volunteer", "vol_id", "cert_no"))
        (value,) = db.execute(f"SELECT {col} FROM {table} WHERE {key} = ?", (int(lid),)).fetchone()
        check = uscc_check if entity == "organization" else id_check
        assert check(plain(value)[:17]) != plain(value)[17]


def test_live_records_lie_in_the_past_within_their_activity_and_never_overlap(
        store: tuple[Path, SampleManifest], db: sqlite3.Connection) -> None:
    expected, now = store[1].expected, NOW.replace(tzinfo=None)
    acts = {a["act_id"]: (parse_local(a["begin_time"]), parse_local(a["end_time"]))
            for a in rows(db, "zyy_activity")}
    by_volunteer: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for r in rows(db, "zyy_service_time"):
        outcome = expected[("service_record", str(r["rec_id"]))]
        if outcome not in ("synced", "deferred"):
            continue
        begin, end = parse_local(r["begin_time"]), parse_local(r["end_time"])
        lo, hi = acts[r["act_id"]]
        assert lo <= begin < end <= hi, r["rec_id"]
        assert (end <= now) == (outcome == "synced"), r["rec_id"]
        if outcome == "synced":
            assert parse_local(r["record_time"]) >= end
            assert r["service_minutes"] * 60 <= (end - begin).total_seconds()
        by_volunteer[r["vol_id"]].append((begin, end))
    for spans in by_volunteer.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in pairwise(spans))


def test_every_gmt_modified_is_before_now(db: sqlite3.Connection) -> None:
    now = NOW.strftime("%Y-%m-%d %H:%M:%S")
    for table in (*TABLE.values(), "zyy_team_member"):
        assert max(column(db, table, "gmt_modified")) < now


def test_the_store_has_the_keyset_indexes(db: sqlite3.Connection) -> None:
    names = set(column(db, "sqlite_master WHERE type = 'index'", "name"))
    assert {"ix_team_mod", "ix_volunteer_mod", "ix_member_mod", "ix_activity_mod",
            "ix_service_mod"} <= names


# scale and invalid share ----------------------------------------------------------------------
def test_invalid_share_applies_to_the_bulk_rows(tmp_path: Path) -> None:
    manifest = build_sample_store(tmp_path / "z.db", volunteers=4000, now=NOW,
                                  invalid_share=0.05)
    bulk = [o for (e, lid), o in manifest.expected.items() if e == "volunteer" and int(lid) >= 1000]
    assert 0.025 < bulk.count("quarantined") / len(bulk) < 0.08


def test_no_invalid_share_leaves_only_the_hand_written_invalid_rows(tmp_path: Path) -> None:
    manifest = build_sample_store(tmp_path / "z.db", volunteers=500, now=NOW, invalid_share=0)
    assert all(int(lid) < 1000 for (_, lid), o in manifest.expected.items()
               if o in ("quarantined", "blocked"))


def test_fifty_thousand_volunteers_build_with_their_records_and_bad_rows(
        tmp_path: Path) -> None:
    """(Its time, about 20 s, is not asserted: a wall-time budget failed a parallel run.)"""
    manifest = build_sample_store(tmp_path / "big.db", volunteers=50_000, now=NOW)
    assert manifest.counts["service_record"] >= 250_000
    share = manifest.tally()["volunteer"]["quarantined"] / manifest.counts["volunteer"]
    assert 0.005 < share < 0.02


# helpers that change a store ------------------------------------------------------------------
@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    build_sample_store(path, volunteers=5, now=NOW)
    return path


def one(path: Path, sql: str, *params: Any) -> Any:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchone()
    finally:
        conn.close()


def test_touch_rows_sets_gmt_modified_back_or_forward(small: Path) -> None:
    touch_rows(small, "volunteer", [1, "2"], modified="2020-01-01 00:00:00")
    assert one(small, "SELECT COUNT(*) FROM zyy_volunteer WHERE gmt_modified = "
                      "'2020-01-01 00:00:00'")[0] == 2


def test_touch_rows_defaults_to_the_current_local_time(small: Path) -> None:
    before = datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")
    touch_rows(small, "project", [1])
    assert one(small, "SELECT gmt_modified FROM zyy_activity WHERE act_id = 1")[0] >= before


def test_soft_delete_and_revive_flip_the_right_column(small: Path) -> None:
    soft_delete(small, "service_record", [1], modified="2026-06-20 15:00:00")
    assert one(small, "SELECT is_del, gmt_modified FROM zyy_service_time WHERE rec_id = 1") \
        == (1, "2026-06-20 15:00:00")
    revive(small, "service_record", [1])
    assert one(small, "SELECT is_del FROM zyy_service_time WHERE rec_id = 1")[0] == 0
    soft_delete(small, "organization", [1])
    assert one(small, "SELECT state FROM zyy_team WHERE team_id = 1")[0] == 3


def test_update_rows_refuses_an_unknown_column(small: Path) -> None:
    with pytest.raises(ValueError):
        update_rows(small, "volunteer", [1], {"email; DROP TABLE zyy_team": "x"})
    update_rows(small, "volunteer", [1], {"email": "new@example.org"})
    assert one(small, "SELECT email FROM zyy_volunteer WHERE vol_id = 1")[0] == "new@example.org"


def test_set_membership_inserts_then_updates(small: Path) -> None:
    set_membership(small, 5, 1, 2, modified="2026-06-20 15:00:00")
    set_membership(small, 5, 1, 1, modified="2026-06-20 15:01:00")
    assert one(small, "SELECT state, gmt_modified FROM zyy_team_member WHERE team_id = 5 AND "
                      "vol_id = 1") == (1, "2026-06-20 15:01:00")


def test_the_default_now_is_the_current_time(tmp_path: Path) -> None:
    manifest = build_sample_store(tmp_path / "z.db", volunteers=2)
    assert abs(manifest.now - datetime.now(CST)) < timedelta(minutes=1)
