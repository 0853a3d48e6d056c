"""The command line's small manners (operator-interface.md "Also"; issue 17): --version,
--no-wait on either side of the command, times that carry their zone, the run table."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge import cli
from bridge.commands.render import local_time
from bridge.commands.status import print_runs, print_status, run_counts
from bridge.config import find_config_path
from bridge.ops.status import STATUSES

HANDED = (["resync", "--source", "haicang"], ["quarantine", "retry", "--all"],
          ["dead-letters", "retry", "--all"], ["dead-letters", "drop", "x:volunteer:1"],
          ["quarantine", "drop", "x:volunteer:1"])


def test_version_prints_the_installed_package_version(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.build_parser().parse_args(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"zybridge {metadata.version('zhiyuan-bridge')}"


@pytest.mark.parametrize("argv", HANDED, ids=lambda a: " ".join(a[:2]))
def test_no_wait_is_accepted_after_a_handed_over_command(argv: list[str]) -> None:
    assert cli.build_parser().parse_args([*argv, "--no-wait"]).no_wait is True


@pytest.mark.parametrize("argv", HANDED, ids=lambda a: " ".join(a[:2]))
def test_no_wait_before_the_command_is_kept_by_the_subcommand(argv: list[str]) -> None:
    assert cli.build_parser().parse_args(["--no-wait", *argv]).no_wait is True


@pytest.mark.parametrize("argv", HANDED, ids=lambda a: " ".join(a[:2]))
def test_without_no_wait_a_handed_over_command_waits(argv: list[str]) -> None:
    assert cli.build_parser().parse_args(argv).no_wait is False


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 1, 1),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)),
                                               timezone(timedelta(hours=8))])))
def test_a_time_shown_to_people_is_the_same_instant_in_plus_eight(moment: datetime) -> None:
    shown = local_time(moment.isoformat())
    assert shown.endswith("+08:00") and " " in shown
    assert datetime.fromisoformat(shown) == moment.replace(microsecond=0)


def test_no_time_is_shown_as_a_dash() -> None:
    assert local_time(None) == "-" and local_time("") == "-"


def test_run_counts_of_a_sync_add_up_pulled_rows_and_answered_items() -> None:
    stats = {"pulled": {"volunteer": 5, "project": 2},
             "outcomes": {"mapped": 6, "quarantined": 1},
             "push": {"items": {"created": 4, "matched": 1, "rejected": 1}}}
    assert run_counts(stats) == (7, 6, 1, 1)


def test_run_counts_of_a_resync_use_its_rows_read() -> None:
    stats = {"action": "resync", "rows": 3, "outcomes": {"mapped": 3},
             "push": {"items": {"updated": 3}}}
    assert run_counts(stats) == (3, 3, 0, 0)


def test_run_counts_of_a_run_without_statistics_are_zero() -> None:
    assert run_counts(None) == (0, 0, 0, 0)


def _run(run_id: int, seconds: float, pulled: int) -> dict[str, object]:
    start = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    return {"id": run_id, "kind": "sync" if run_id % 2 else "resync", "status": "ok",
            "sources": ["haicang"], "started_at": start.isoformat(),
            "finished_at": (start + timedelta(seconds=seconds)).isoformat(),
            "stats": {"pulled": {"volunteer": pulled}, "push": {"items": {"created": 1}}}}


def test_the_run_table_aligns_every_column(capsys: pytest.CaptureFixture[str]) -> None:
    print_runs([_run(1234, 0.4, 7), _run(9, 3725, 120000), _run(77, 65, 0)])
    header, *lines = capsys.readouterr().out.splitlines()
    right = {"id", "took", "pulled", "sent", "rejected", "quarantined"}
    for m in re.finditer(r"\S+", header):  # each cell starts (or ends) where its header does
        edge = m.end() if m.group() in right else m.start()
        for line in lines:
            if m.group() in right:
                assert line[edge - 1] != " " and line[edge:edge + 1] in ("", " "), line
            else:
                assert line[edge] != " " and (edge == 0 or line[edge - 1] == " "), line


def test_the_run_table_shows_duration_and_local_start(
        capsys: pytest.CaptureFixture[str]) -> None:
    print_runs([_run(1, 0.4, 7), _run(2, 125, 3), _run(3, 3725, 1)])
    out = capsys.readouterr().out
    assert "2026-03-01 09:00:00+08:00" in out
    assert "0.4s" in out and "2m05s" in out and "1h02m" in out


def test_a_running_run_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    run = {**_run(1, 1, 1), "finished_at": None, "status": "running", "stats": None}
    print_runs([run])
    assert "running" in capsys.readouterr().out.splitlines()[1].split("+08:00")[1]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_config_path_with_a_tilde_is_in_the_home(how: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ZYBRIDGE_CONFIG", "~/county/zybridge.toml")
    found = find_config_path("~/county/zybridge.toml" if how == "flag" else None)
    assert found == tmp_path / "county" / "zybridge.toml"


def test_status_counts_stay_in_their_columns_with_a_long_source_name(
        capsys: pytest.CaptureFixture[str]) -> None:
    counts = {s: 0 for s in STATUSES}
    doc = {"sources": {"xiamen_haicang_district_office": {"entities": {
               "volunteer": {**counts, "synced": 1234567}}},
           "hc": {"entities": {"service_record": {**counts, "dead_lettered": 3}}}},
           "outbox": {"pending_items": 0, "pending_batches": 0}, "last_run": None,
           "daemon": None, "lock": {"held": False, "pid": None}}
    print_status(doc)
    header, *lines = capsys.readouterr().out.splitlines()[:3]
    for name in STATUSES:  # each number ends where its header ends
        end = header.index(name) + len(name)
        for line in lines:
            assert line[end - 1] != " " and line[end:end + 1] in ("", " "), (header, line)
