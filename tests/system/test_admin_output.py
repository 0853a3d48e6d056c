"""What the admin commands print for a large selection (issue 17): a full resync is a
summary of counts per status, one line per row only for a few rows or with --verbose; a
dry resync shows each item's field-level diff, masked."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from bridge.sandbox import DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, update_rows
from tests.system.helpers import cycle, make_config
from tests.system.test_admin import OLD, Bridge, write_config


@pytest.fixture
def bridge(tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Bridge:
    store, manifest = sample
    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
    cycle(make_config(tmp_path, sandbox, store))
    sandbox.reset_stats()
    return Bridge(tmp_path, write_config(tmp_path, sandbox, store), store, manifest, sandbox,
                  capsys)


def _volunteer_refs(out: str) -> list[str]:
    return re.findall(r"^haicang:volunteer:\d+\b", out, re.M)


def test_a_full_resync_prints_counts_per_status_not_a_line_per_row(bridge: Bridge) -> None:
    code, out, err = bridge.run("resync", "--source", "haicang", "--entity", "volunteer",
                                "--yes")
    assert code == 0, err
    rows = int(re.search(r"resynced (\d+) row", out).group(1))  # type: ignore[union-attr]
    assert rows > 20 and _volunteer_refs(out) == []
    counts = dict(re.findall(r"^(synced|quarantined|dead_lettered|blocked|skipped)\s+(\d+)$",
                             out, re.M))
    assert sum(map(int, counts.values())) == rows
    assert int(counts["synced"]) > 0


def test_a_full_resync_with_verbose_prints_each_row(bridge: Bridge) -> None:
    code, out, err = bridge.run("resync", "--source", "haicang", "--entity", "volunteer",
                                "--yes", "--verbose")
    assert code == 0, err
    rows = int(re.search(r"resynced (\d+) row", out).group(1))  # type: ignore[union-attr]
    assert len(_volunteer_refs(out)) == rows > 20


def test_a_small_resync_still_prints_its_rows(bridge: Bridge) -> None:
    code, out, err = bridge.run("resync", "--source", "haicang", "--entity", "volunteer",
                                "--id", "1", "--id", "2")
    assert code == 0, err
    assert _volunteer_refs(out) == ["haicang:volunteer:1", "haicang:volunteer:2"]


def test_a_dry_resync_diffs_each_field_against_what_the_platform_holds(
        bridge: Bridge) -> None:
    update_rows(bridge.store, "volunteer", [3], {"email": "new3@example.org",
                                                 "mobile": "13700001111"}, modified=OLD)
    code, out, err = bridge.run("resync", "--source", "haicang", "--entity", "volunteer",
                                "--id", "3", "--dry-run")
    assert code == 0, err
    changes = re.findall(r"^ {10}(\w+): (.*) → (.*)$", out, re.M)
    assert {field for field, _, _ in changes} == {"email", "mobile"}
    assert ("mobile", "137****1111") in {(f, new) for f, _, new in changes}
    assert "13700001111" not in out and bridge.sent() == 0


def test_a_dry_resync_of_an_unchanged_row_says_nothing_differs(bridge: Bridge) -> None:
    code, out, err = bridge.run("resync", "--source", "haicang", "--entity", "volunteer",
                                "--id", "4", "--dry-run")
    assert code == 0, err
    assert re.search(r"^update\s+haicang:volunteer:4\n {10}\(no field differs", out, re.M)


TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?")


@pytest.mark.parametrize("argv", [("status",), ("runs",), ("quarantine", "list"),
                                  ("quarantine", "show", "haicang:volunteer:{q}"),
                                  ("audit", "log", "--ref", "haicang:volunteer:1")],
                         ids=lambda a: " ".join(a[:2]))
def test_every_time_shown_to_people_carries_plus_eight(bridge: Bridge,
                                                      argv: tuple[str, ...]) -> None:
    doc = bridge.json("quarantine", "list", "--entity", "volunteer")
    q = doc[0]["local_id"]
    code, out, err = bridge.run(*(a.format(q=q) for a in argv))
    assert code == 0, err
    data = r"\n(?:source row|mapped payload)[^\n]*:\n(?:  [^\n]*\n)*"  # the records' own values
    shown = TIME.findall(re.sub(data, "\n", out))
    assert shown, out
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+08:00", t) for t in shown), shown


# --json on sync, audit verify and state check (operator-interface.md "Also") --------------
def test_sync_json_prints_the_runs_report(bridge: Bridge) -> None:
    update_rows(bridge.store, "volunteer", [5], {"email": "five@example.org"})
    doc = bridge.json("sync")
    assert doc["ok"] is True and doc["push"]["items"] == {"updated": 1}
    assert bridge.json("runs", "--limit", "1")[0]["id"] == doc["run_id"]


def test_sync_dry_run_json_lists_the_items_with_their_changes(bridge: Bridge) -> None:
    update_rows(bridge.store, "volunteer", [5], {"email": "five@example.org"})
    doc = bridge.json("sync", "--dry-run")
    assert doc["dry_run"] is True and bridge.sent() == 0
    (item,) = doc["items"]
    assert item["external_ref"] == "haicang:volunteer:5" and item["action"] == "update"
    assert [c.split(":")[0] for c in item["changes"]] == ["email"]


def test_audit_verify_json_says_intact(bridge: Bridge) -> None:
    doc = bridge.json("audit", "verify")
    assert doc["ok"] is True and doc["entries"] > 0 and doc["broken_at"] is None


def test_audit_verify_json_names_the_broken_entry_and_exits_4(bridge: Bridge) -> None:
    conn = sqlite3.connect(bridge.tmp / "state.db")
    with conn:  # an attacker with write access drops the append-only triggers first
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET data = '{}' WHERE seq = 2")
    conn.close()
    code, out, _ = bridge.run("audit", "verify", "--json")
    doc = json.loads(out)
    assert code == 4 and doc["ok"] is False and doc["broken_at"] == 2 and doc["problem"]


def test_state_check_json_reports_a_healthy_file(bridge: Bridge) -> None:
    doc = bridge.json("state", "check")
    assert doc["ok"] is True and doc["problems"] == [] and doc["what_to_do"] is None
    assert isinstance(doc["schema_version"], int) and doc["audit_entries"] > 0
