"""The benchmark suite's own helpers (bench/): the store it builds, what it measures of a
child process, the items its contenders send, the table it prints. No timing is
asserted here, and no sandbox is started: `make bench-smoke` runs the scenarios."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.backfill import chosen, parser
from bench.bridgerun import Sample, mismatches
from bench.measure import child_pid, proc_cpu_s, proc_peak_rss_mb, run_child
from bench.payloads import Resolver, Tally, base_of, batches, path_of, store_items
from bench.report import table
from bench.store import CHANGES, Expected, apply_changes, build
from mappings.result import Mapped, Part

PY = sys.executable


# the store -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Expected:
    return build(tmp_path_factory.mktemp("store") / "z.db", 150, change_share=0.05)


def test_the_store_counts_fold_deferred_rows_into_skipped(small: Expected) -> None:
    assert all("deferred" not in c for c in small.counts.values())
    assert small.counts["service_record"]["skipped"] > 0


def test_the_store_counts_cover_every_row(small: Expected) -> None:
    conn = sqlite3.connect(small.path)
    tables = {"organization": "zyy_team", "volunteer": "zyy_volunteer",
              "project": "zyy_activity", "service_record": "zyy_service_time"}
    for entity, table_name in tables.items():
        rows = conn.execute(f"SELECT COUNT(*) FROM {table_name}").fetchone()[0]
        assert sum(small.counts[entity].values()) == rows
    conn.close()


def test_changeable_records_stay_within_one_day(small: Expected) -> None:
    conn = sqlite3.connect(small.path)
    marks = ",".join("?" * len(small.changeable["service_record"]))
    spans = conn.execute(f"SELECT begin_time, end_time FROM zyy_service_time WHERE rec_id "
                         f"IN ({marks})", small.changeable["service_record"]).fetchall()
    conn.close()
    assert spans and all(b[:10] == e[:10] for b, e in spans)


def test_changeable_rows_are_a_share_of_each_entity(small: Expected) -> None:
    for entity, ids in small.changeable.items():
        assert len(ids) == round(0.05 * sum(small.counts[entity].values()))


def test_applying_the_changes_touches_exactly_the_chosen_rows(
        small: Expected, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    copy.write_bytes(small.path.read_bytes())
    changed = apply_changes(copy, small.changeable)
    conn = sqlite3.connect(copy)
    column, value = CHANGES["volunteer"]
    hit = [r[0] for r in conn.execute(f"SELECT vol_id FROM zyy_volunteer WHERE {column} = ? "
                                      "ORDER BY vol_id", (value,))]
    conn.close()
    assert changed == sum(len(ids) for ids in small.changeable.values())
    assert hit == small.changeable["volunteer"]


def test_store_items_send_exactly_the_rows_the_manifest_expects_synced(
        small: Expected) -> None:
    rows: dict[str, set[str]] = {}
    for entity, item in store_items(small.path):
        rows.setdefault(entity, set()).add(base_of(item["external_ref"]))
    assert {e: len(r) for e, r in rows.items()} == {e: small.synced(e) for e in small.counts}


# the reference rule ----------------------------------------------------------------------
def mapped(entity: str, ref: str, *payloads: dict[str, Any]) -> Mapped:
    suffixes = [""] if len(payloads) == 1 else [f".d{i + 1}" for i in range(len(payloads))]
    return Mapped(entity, ref.rsplit(":", 1)[1], ref,
                  tuple(Part(s, p) for s, p in zip(suffixes, payloads, strict=True)))


def test_an_optional_reference_to_an_unknown_record_is_left_out() -> None:
    items = Resolver().admit(mapped("organization", "h:organization:2",
                                    {"name": "x", "parent_external_ref": "h:organization:1"}))
    assert items == [{"external_ref": "h:organization:2", "name": "x"}]


def test_memberships_keep_only_known_teams() -> None:
    resolver = Resolver()
    resolver.admit(mapped("organization", "h:organization:1", {"name": "t"}))
    (item,) = resolver.admit(mapped("volunteer", "h:volunteer:5", {
        "organization_external_refs": ["h:organization:1", "h:organization:9"]}))
    assert item["organization_external_refs"] == ["h:organization:1"]


def test_a_missing_required_parent_blocks_the_whole_row() -> None:
    resolver = Resolver()
    items = resolver.admit(mapped("service_record", "h:service_record:1",
                                  {"volunteer_external_ref": "h:volunteer:1",
                                   "project_external_ref": "h:project:1"}))
    assert items == [] and resolver.blocked == 1
    assert "h:service_record:1" not in resolver.known


def test_the_parts_of_a_split_record_get_derived_refs() -> None:
    items = Resolver().admit(mapped("service_record", "h:service_record:3", {}, {}))
    assert [i["external_ref"] for i in items] == ["h:service_record:3.d1",
                                                  "h:service_record:3.d2"]


def test_a_split_record_counts_as_one_acknowledged_row() -> None:
    tally = Tally(track_rows=True)
    tally.count([{"external_ref": "h:service_record:3.d1", "status": "created"},
                 {"external_ref": "h:service_record:3.d2", "status": "created"},
                 {"external_ref": "h:service_record:4", "status": "rejected"}])
    assert tally.as_dict()["rows"] == {"service_record": 1}
    assert tally.items == 3 and tally.requests == 1


entities = st.sampled_from(["organization", "volunteer", "project", "service_record"])


@given(st.lists(entities, max_size=400), st.integers(1, 100))
def test_batches_keep_order_never_mix_entities_and_respect_the_size(
        kinds: list[str], size: int) -> None:
    items = [(e, {"external_ref": f"h:{e}:{i}"}) for i, e in enumerate(kinds)]
    refs = []
    for path, blob in batches(items, size):
        got = json.loads(blob)["items"]
        kinds_in = {r["external_ref"].split(":")[1] for r in got}
        assert 1 <= len(got) <= size and len(kinds_in) == 1
        assert path == path_of(kinds_in.pop())
        refs += [r["external_ref"] for r in got]
    assert refs == [i["external_ref"] for _, i in items]


# measuring a child process ---------------------------------------------------------------
def test_a_child_reports_its_own_peak_rss() -> None:
    usage = run_child([PY, "-c", "import time; b = bytearray(80 * 1024 * 1024); "
                                 "b[::4096] = b'x' * len(b[::4096]); print('ok'); "
                                 "time.sleep(0.3)"])
    assert usage.returncode == 0 and usage.stdout.strip() == "ok"
    assert 80 <= usage.peak_rss_mb < 200


def test_a_child_reports_its_own_cpu_time() -> None:
    usage = run_child([PY, "-c", "import time\nwhile time.process_time() < 0.3: pass"])
    assert usage.cpu_s >= 0.3


def test_a_failing_child_gives_its_exit_code_and_stderr() -> None:
    usage = run_child([PY, "-c", "import sys; sys.stderr.write('bad'); sys.exit(3)"])
    assert usage.returncode == 3 and usage.stderr == "bad"


def test_a_child_past_its_timeout_is_killed() -> None:
    with pytest.raises(TimeoutError):
        run_child([PY, "-c", "import time; time.sleep(30)"], timeout_s=0.3)


def test_proc_figures_of_a_live_process_are_positive() -> None:
    assert proc_peak_rss_mb(os.getpid()) > 0
    assert proc_cpu_s(os.getpid()) > 0


def test_proc_figures_of_a_process_that_is_gone_are_zero() -> None:
    gone = 2**22 + 12345  # above the largest pid_max Linux allows
    assert proc_cpu_s(gone) == 0.0 and proc_peak_rss_mb(gone) == 0.0


def test_child_pid_finds_a_child_by_its_command_line() -> None:
    proc = subprocess.Popen([PY, "-c", "import time; time.sleep(30)", "zyb-marker-42"])
    try:
        assert child_pid("zyb-marker-42") == proc.pid
        assert child_pid("zyb-marker-43") is None
    finally:
        proc.kill()
        proc.wait()


# checks and output -----------------------------------------------------------------------
def expected(counts: dict[str, dict[str, int]]) -> Expected:
    return Expected(Path("x.db"), 1, counts, {}, 0.0, 0.0)


def test_matching_status_counts_give_no_mismatch() -> None:
    exp = expected({"volunteer": {"synced": 3, "quarantined": 1}})
    status = {"volunteer": {"synced": 3, "quarantined": 1, "pending": 0, "dead_lettered": 0}}
    assert mismatches(status, exp) == []


def test_a_pending_row_is_a_mismatch() -> None:
    exp = expected({"organization": {"synced": 3}})
    status = {"organization": {"synced": 2, "pending": 1}}
    assert mismatches(status, exp) == ["organization pending 1 (expected 0)",
                                       "organization synced 2 (expected 3)"]


def test_the_table_is_markdown_with_one_line_per_sample() -> None:
    samples = [Sample("bridge", 50_000, 276_768, 2_775, 100.0, 80.0, 70.4, 30.0, "a"),
               Sample("raw limit", 50_000, 276_768, 2_768, 50.0, 20.0, 60.0, 40.0, "b")]
    lines = table(samples).splitlines()
    assert len(lines) == 4 and all(line.startswith("|") for line in lines)
    assert "| bridge | 50,000 | 276,768 | 2,775 | 100.0 | 2,768 | 27.8 | 70 |" in lines[2]


def test_the_rates_of_a_sample_are_per_wall_second() -> None:
    s = Sample("x", 1, 500, 5, 2.0, 1.0, 1.0)
    assert (s.items_per_s, s.requests_per_s) == (250.0, 2.5)


@pytest.mark.parametrize(("argv", "order"), [
    ([], ["1", "3", "4", "2"]),
    (["--scenario", "2", "--scenario", "1"], ["1", "2"]),
    (["--rss-growth"], []),
    (["--smoke", "--rss-growth"], ["1", "3", "4", "2"]),
])
def test_scenarios_run_in_the_suite_order(argv: list[str], order: list[str]) -> None:
    args: argparse.Namespace = parser().parse_args(argv)
    assert chosen(args) == order


def test_the_sample_counts_of_a_tally_add_up() -> None:
    tally = Tally()
    tally.count([{"external_ref": "h:volunteer:1", "status": "created"}])
    tally.count([{"external_ref": "h:volunteer:2", "status": "matched"}])
    assert tally.statuses == Counter({"created": 1, "matched": 1})
    assert tally.as_dict()["rows"] == {}
