"""What the admin commands print for a large selection (issue 17): a full resync is a
summary of counts per status, one line per row only for a few rows or with --verbose; a
dry resync shows each item's field-level diff, masked."""

from __future__ import annotations

import re
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
