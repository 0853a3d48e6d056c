"""The admin commands end to end (issue #5): `zybridge resync`, `quarantine …`,
`dead-letters …`, `check` and `runs`, run through the real command line against the
sandbox platform, the sample 志愿云 store and real state files."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from bridge import cli
from bridge.sandbox import DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess, free_port
from bridge.testing.sample import SampleManifest, local_stamp, update_rows
from mappings import codes
from state.lock import StateLock
from tests.system import helpers
from tests.system.helpers import check_invariants, cycle, make_config, platform_by_ref

OLD = "2001-01-01 00:00:00"   # a gmt_modified no cursor will ever pass again


@dataclass
class Bridge:
    """A synced bridge: its config file, the sample store, the sandbox."""

    tmp: Path
    config: Path
    store: Path
    manifest: SampleManifest
    sandbox: SandboxProcess
    capsys: pytest.CaptureFixture[str]

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli.main(["--config", str(self.config), *argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str) -> Any:
        code, out, err = self.run(*argv, "--json")
        assert code == 0, err
        return json.loads(out)

    def state(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.tmp / 'state.db'}?mode=ro", uri=True)
        try:
            return list(conn.execute(sql, params))
        finally:
            conn.close()

    def status(self, entity: str, local_id: str) -> str:
        return str(self.state("SELECT status FROM rows WHERE entity = ? AND local_id = ?",
                              entity, local_id)[0][0])

    def sent(self) -> int:
        return int(self.sandbox.stats()["items"])


def write_config(tmp: Path, sandbox: SandboxProcess, store: Path,
                 base_url: str | None = None) -> Path:
    return helpers.write_config(
        tmp / "zybridge.toml",
        {"base_url": base_url or sandbox.base_url, "app_id": "haicang-demo",
         "app_secret": "${ZYBRIDGE_APP_SECRET}", "jurisdiction": "3502", "rate_per_s": 500.0,
         "retry_base_s": 0.05, "retry_cap_s": 0.5, "timeout_s": 5.0, "max_attempts": 2},
        [{"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}", "mapping": "zhiyuanyun",
          "every": "5m",
          "page_size": 50}],
        log={"path": "bridge.jsonl", "level": "debug"})


@pytest.fixture
def bridge(tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Bridge:
    store, manifest = sample
    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
    cycle(make_config(tmp_path, sandbox, store))
    sandbox.reset_stats()
    return Bridge(tmp_path, write_config(tmp_path, sandbox, store), store, manifest, sandbox,
                  capsys)


def held(b: Bridge, ref: str) -> dict[str, Any]:
    return platform_by_ref(b.sandbox)[ref]


def source_ids(b: Bridge) -> list[str]:
    conn = sqlite3.connect(b.store)
    try:
        return [str(x) for (x,) in conn.execute("SELECT cert_no FROM zyy_volunteer")]
    finally:
        conn.close()


def add_overlapping_record(b: Bridge, rec_id: int = 9001) -> str:
    """A copy of service record 1 shifted by an hour: the platform refuses the overlap."""
    conn = sqlite3.connect(b.store)
    try:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM zyy_service_time WHERE rec_id = 1").fetchone())
        row.update(rec_id=rec_id, gmt_modified=local_stamp())
        cols = ", ".join(row)
        conn.execute(f"INSERT INTO zyy_service_time ({cols}) VALUES "
                     f"({', '.join('?' * len(row))})", list(row.values()))
        conn.commit()
    finally:
        conn.close()
    return f"haicang:service_record:{rec_id}"


def dead_letter(b: Bridge) -> str:
    ref = add_overlapping_record(b)
    cycle(make_config(b.tmp, b.sandbox, b.store))
    b.sandbox.reset_stats()
    assert b.status("service_record", ref.rsplit(":", 1)[1]) == "dead_lettered"
    return ref


# resync ---------------------------------------------------------------------------------
def test_resync_of_one_volunteer_after_a_local_fix_reaches_the_platform_alone(
        bridge: Bridge) -> None:
    cursors = bridge.state("SELECT stream, cursor FROM cursors ORDER BY stream")
    update_rows(bridge.store, "volunteer", [1], {"email": "fixed@example.org"}, modified=OLD)
    code, out, err = bridge.run("resync", "--source", "haicang", "--entity", "volunteer",
                                "--id", "1")
    assert code == 0, err
    assert held(bridge, "haicang:volunteer:1")["email"] == "fixed@example.org"
    assert bridge.sent() == 1
    assert "haicang:volunteer:1" in out and "synced" in out
    assert bridge.state("SELECT stream, cursor FROM cursors ORDER BY stream") == cursors


def test_resync_re_pushes_a_record_whose_hash_did_not_change(bridge: Bridge) -> None:
    code, _, err = bridge.run("resync", "--source", "haicang", "--entity", "volunteer",
                              "--id", "1")
    assert code == 0, err
    assert bridge.sent() == 1


def test_resync_dry_run_sends_nothing_and_prints_the_masked_diff(bridge: Bridge) -> None:
    update_rows(bridge.store, "volunteer", [1], {"mobile": "13912345678"}, modified=OLD)
    code, out, err = bridge.run("resync", "--source", "haicang", "--entity", "volunteer",
                                "--id", "1", "--dry-run")
    assert code == 0, err
    assert bridge.sandbox.stats()["total"] == 0
    assert re.search(r"update\s+haicang:volunteer:1\n", out)
    assert "→ 139****5678" in out and "13912345678" not in out
    assert "nothing was sent" in out
    assert bridge.run("resync", "--source", "haicang", "--entity", "volunteer", "--id", "1",
                      "--dry-run")[1] == out, "the dry run changed the state file"


def test_resync_dry_run_json_lists_each_item_with_its_changes(bridge: Bridge) -> None:
    update_rows(bridge.store, "volunteer", [1], {"email": "x@example.org"}, modified=OLD)
    doc = bridge.json("resync", "--source", "haicang", "--entity", "volunteer", "--id", "1",
                      "--dry-run")
    assert doc["dry_run"] is True and bridge.sandbox.stats()["total"] == 0
    (item,) = doc["items"]
    assert item["external_ref"] == "haicang:volunteer:1" and item["action"] == "update"
    assert any(c.startswith("email:") for c in item["changes"])


def test_resync_with_children_sends_a_project_and_its_service_records(bridge: Bridge) -> None:
    doc = bridge.json("resync", "--source", "haicang", "--entity", "project", "--id", "2",
                      "--with-children")
    conn = sqlite3.connect(bridge.store)
    records = {str(r) for (r,) in conn.execute(
        "SELECT rec_id FROM zyy_service_time WHERE act_id = 2")}
    conn.close()
    got = {(r["entity"], r["local_id"]) for r in doc["records"]}
    assert ("project", "2") in got
    synced = {lid for (e, lid), o in bridge.manifest.expected.items()
              if e == "service_record" and o == "synced" and lid in records}
    assert synced and synced <= {lid for e, lid in got if e == "service_record"}
    assert bridge.sent() >= 1 + len(synced)


def test_resync_since_reads_only_rows_changed_after_the_date(bridge: Bridge) -> None:
    cursors = bridge.state("SELECT stream, cursor FROM cursors ORDER BY stream")
    update_rows(bridge.store, "volunteer", [2, 3], {}, modified="2099-01-01 08:00:00")
    doc = bridge.json("resync", "--source", "haicang", "--since", "2099-01-01")
    assert sorted(r["local_id"] for r in doc["records"]) == ["2", "3"]
    assert bridge.sent() == 2
    assert bridge.state("SELECT stream, cursor FROM cursors ORDER BY stream") == cursors


def test_a_large_resync_asks_for_yes_and_sends_nothing_without_it(bridge: Bridge) -> None:
    code, _, err = bridge.run("resync", "--source", "haicang")
    assert code == 2 and "--yes" in err and "Traceback" not in err
    assert bridge.sandbox.stats()["total"] == 0


def test_a_full_resync_converges_and_records_a_resync_run(bridge: Bridge) -> None:
    code, _, err = bridge.run("resync", "--source", "haicang", "--yes")
    assert code == 0, err
    check_invariants(make_config(bridge.tmp, bridge.sandbox, bridge.store), bridge.sandbox,
                     bridge.store)
    runs = bridge.json("runs", "--limit", "1")
    assert runs[0]["kind"] == "resync" and runs[0]["status"] == "ok"


def test_a_full_resync_of_a_shrunken_source_is_a_safety_stop(bridge: Bridge) -> None:
    conn = sqlite3.connect(bridge.store)
    conn.execute("DELETE FROM zyy_volunteer WHERE vol_id > 5")
    conn.commit()
    conn.close()
    code, _, err = bridge.run("resync", "--source", "haicang", "--entity", "volunteer",
                              "--yes")
    assert code == 3 and "--force" in err
    assert bridge.sandbox.stats()["total"] == 0


def test_resync_id_without_entity_is_a_usage_error(bridge: Bridge) -> None:
    code, _, err = bridge.run("resync", "--source", "haicang", "--id", "1")
    assert code == 2 and err.count("\n") == 1 and "--entity" in err


def test_resync_while_another_process_holds_the_lock_exits_2_with_its_pid(
        bridge: Bridge) -> None:
    import os

    with StateLock(bridge.tmp / "state.db"):
        code, _, err = bridge.run("resync", "--source", "haicang", "--entity", "volunteer",
                                  "--id", "1")
    assert code == 2 and f"pid {os.getpid()}" in err
    assert bridge.sandbox.stats()["total"] == 0


# quarantine -----------------------------------------------------------------------------
def test_quarantine_list_json_has_the_interface_shape_and_no_pii(bridge: Bridge) -> None:
    code, out, _ = bridge.run("quarantine", "list", "--json")
    assert code == 0
    doc = json.loads(out)
    expected = {f"haicang:{e}:{i}" for (e, i), o in bridge.manifest.expected.items()
                if o == "quarantined"}
    assert {p["external_ref"] for p in doc} == expected
    for p in doc:
        assert {"external_ref", "source", "entity", "local_id", "reasons", "first_seen",
                "last_seen"} <= set(p)
        assert all(set(r) == {"field", "code", "message"} for r in p["reasons"])
    assert not [x for x in source_ids(bridge) if x and len(x) >= 8 and x in out]


def test_quarantine_list_table_filters_by_entity_and_code(bridge: Bridge) -> None:
    code, out, _ = bridge.run("quarantine", "list", "--entity", "volunteer",
                              "--code", "CHECKSUM_MISMATCH")
    assert code == 0
    assert "haicang:volunteer:30" in out and "haicang:project:" not in out
    assert out.splitlines()[0].split() == ["external_ref", "status", "reasons", "last_seen"]


def test_quarantine_show_masks_the_source_row_and_gives_reasons_and_history(
        bridge: Bridge) -> None:
    code, out, err = bridge.run("quarantine", "show", "haicang:volunteer:30")
    assert code == 0, err
    assert "CHECKSUM_MISMATCH" in out and "source row (masked)" in out
    assert "history:" in out and "quarantine" in out
    conn = sqlite3.connect(bridge.store)
    cert, name, mobile = conn.execute("SELECT cert_no, real_name, mobile FROM zyy_volunteer "
                                      "WHERE vol_id = 30").fetchone()
    conn.close()
    assert cert not in out and name not in out and (not mobile or mobile not in out)


def test_quarantine_show_of_an_unknown_ref_is_one_line_exit_2(bridge: Bridge) -> None:
    code, _, err = bridge.run("quarantine", "show", "haicang:volunteer:99999")
    assert code == 2 and err.startswith("zybridge: error:") and err.count("\n") == 1


def test_quarantine_retry_after_a_mapping_fix_clears_what_the_fix_fixed(
        bridge: Bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p["external_ref"] for p in bridge.json("quarantine", "list")}
    monkeypatch.setattr(codes, "SERVICE_SYNONYMS",
                        MappingProxyType({**codes.SERVICE_SYNONYMS, "广场舞": "0010"}))
    code, _, err = bridge.run("quarantine", "retry", "--all")
    assert code == 0, err
    after = {p["external_ref"] for p in bridge.json("quarantine", "list")}
    assert before - after == {"haicang:organization:12", "haicang:project:15"}
    assert held(bridge, "haicang:project:15")["service_categories"] == ["0010"]
    assert bridge.status("organization", "12") == "synced"


def test_quarantine_retry_of_a_row_still_wrong_keeps_its_reasons(bridge: Bridge) -> None:
    doc = bridge.json("quarantine", "retry", "haicang:volunteer:30")
    (rec,) = doc["records"]
    assert rec["status"] == "quarantined"
    assert "CHECKSUM_MISMATCH" in {r["code"] for r in rec["reasons"]}
    assert bridge.sandbox.stats()["total"] == 0


def test_quarantine_retry_of_a_ref_not_quarantined_is_refused(bridge: Bridge) -> None:
    code, _, err = bridge.run("quarantine", "retry", "haicang:volunteer:1")
    assert code == 2 and "haicang:volunteer:1" in err


def test_quarantine_drop_is_recorded_in_the_audit_log(bridge: Bridge) -> None:
    assert bridge.run("quarantine", "drop", "haicang:volunteer:30")[0] == 2
    code, _, err = bridge.run("quarantine", "drop", "haicang:volunteer:30", "--yes")
    assert code == 0, err
    refs = {p["external_ref"] for p in bridge.json("quarantine", "list")}
    assert "haicang:volunteer:30" not in refs
    assert bridge.status("volunteer", "30") == "skipped"
    (data,) = [json.loads(d) for (d,) in bridge.state(
        "SELECT data FROM audit WHERE kind = 'admin'")]
    assert data["action"] == "quarantine drop" and data["user"]
    assert data["refs"] == ["haicang:volunteer:30"]
    assert bridge.run("audit", "verify")[0] == 0


# dead letters ---------------------------------------------------------------------------
def test_dead_letters_list_shows_the_platforms_code(bridge: Bridge) -> None:
    ref = dead_letter(bridge)
    (item,) = bridge.json("dead-letters", "list")
    assert item["external_ref"].startswith(ref) and item["entity"] == "service_record"
    assert "OVERLAPPING_RECORD" in {r["code"] for r in item["reasons"]}
    code, out, _ = bridge.run("dead-letters", "show", item["external_ref"])
    assert code == 0 and "refused by the platform" in out and "OVERLAPPING_RECORD" in out


def test_dead_letters_retry_after_a_local_fix_syncs_the_record(bridge: Bridge) -> None:
    ref = dead_letter(bridge)
    (item,) = bridge.json("dead-letters", "list")
    assert bridge.manifest.expected[("volunteer", "4")] == "synced"
    update_rows(bridge.store, "service_record", [9001], {"vol_id": 4}, modified=OLD)
    doc = bridge.json("dead-letters", "retry", item["external_ref"])
    assert [r["status"] for r in doc["records"]] == ["synced"], json.dumps(doc)
    assert bridge.json("dead-letters", "list") == []
    assert not held(bridge, ref).get("revoked")


def test_dead_letters_retry_unchanged_is_sent_again_and_refused_again(bridge: Bridge) -> None:
    dead_letter(bridge)
    (item,) = bridge.json("dead-letters", "list")
    doc = bridge.json("dead-letters", "retry", item["external_ref"])
    assert [r["status"] for r in doc["records"]] == ["dead_lettered"]
    assert bridge.sent() >= 1
    (again,) = bridge.json("dead-letters", "list")
    assert again["times"] == 2


def test_dead_letters_drop_is_recorded_in_the_audit_log(bridge: Bridge) -> None:
    dead_letter(bridge)
    (item,) = bridge.json("dead-letters", "list")
    code, _, err = bridge.run("dead-letters", "drop", item["external_ref"])
    assert code == 2 and "--yes" in err
    code, _, err = bridge.run("dead-letters", "drop", item["external_ref"], "--yes")
    assert code == 0, err
    assert bridge.json("dead-letters", "list") == []
    story = bridge.run("audit", "log", "--ref", item["external_ref"])[1]
    assert "admin" in story and "dead-letters drop" in story
    assert bridge.status("service_record", "9001") == "skipped"


# check ------------------------------------------------------------------------------------
def test_check_passes_against_the_sandbox(bridge: Bridge) -> None:
    code, out, _ = bridge.run("check")
    assert code == 0, out
    assert all(line.startswith("ok") for line in out.splitlines())
    assert "signed read" in out and "platform health" in out


def test_check_names_an_unreachable_platform_with_what_to_do(bridge: Bridge) -> None:
    write_config(bridge.tmp, bridge.sandbox, bridge.store,
                 base_url=f"http://127.0.0.1:{free_port()}/openapi/v1")
    code, out, _ = bridge.run("check")
    assert code == 1
    (line,) = [x for x in out.splitlines() if x.startswith("FAIL")]
    assert "platform health" in line and "what to do" in line and "base_url" in line


def test_check_reports_a_wrong_secret_on_the_signed_read(
        bridge: Bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", "not-the-secret")
    doc = json.loads(bridge.run("check", "--json")[1])
    assert doc["exit_code"] == 2 and not doc["ok"]
    (bad,) = [c for c in doc["checks"] if not c["ok"]]
    assert bad["check"] == "signed read" and "not-the-secret" not in json.dumps(doc)


def test_check_reports_each_config_problem_on_its_own_line(bridge: Bridge) -> None:
    text = bridge.config.read_text(encoding="utf-8").replace(
        'every = "5m"', 'every = "5m"\ncolour = 1').replace("timeout_s = 5.0", "timeout_s = -1")
    bridge.config.write_text(text, encoding="utf-8")
    code, out, _ = bridge.run("check")
    assert code == 2
    fails = [x for x in out.splitlines() if x.startswith("FAIL  config")]
    assert len(fails) == 2 and any("colour: unknown key" in x for x in fails)
    assert any("timeout_s" in x for x in fails)


def test_check_reports_an_unreadable_source(bridge: Bridge) -> None:
    bridge.store.unlink()
    code, out, _ = bridge.run("check")
    assert code == 2 and re.search(r"^FAIL  source haicang: .*what to do", out, re.M)


def test_a_large_resync_at_a_terminal_sends_nothing_when_the_answer_is_no(
        bridge: Bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return "n"

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", answer)
    code, _, err = bridge.run("resync", "--source", "haicang")
    assert code == 2 and asked and "nothing was sent" in err
    assert bridge.sandbox.stats()["total"] == 0
