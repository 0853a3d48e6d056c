"""The command line as a shell sees it (operator-interface.md "Also"; issue 17): a closed
pipe ends quietly, `runs` shows durations and counts from a real state file, `demo --dir`
never deletes a folder it did not make."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bridge import cli
from bridge.cli import PIPE_CLOSED
from bridge.commands.demo import MARK, prepare
from bridge.errors import ConfigError
from state.store import StateStore
from tests.system import helpers

ROOT = Path(__file__).resolve().parents[2]


def bridge_config(tmp_path: Path, runs: int = 3) -> Path:
    """A config (no secret set: every command here only reads) and a state file with
    `runs` finished syncs."""
    config = helpers.write_config(
        tmp_path / "zybridge.toml",
        {"base_url": "http://127.0.0.1:9/openapi/v1", "app_id": "haicang-demo",
         "app_secret": "${ZYBRIDGE_CLI17_UNSET}"},
        [{"name": "haicang", "kind": "sql", "url": "sqlite:///haicang.db",
          "mapping": "zhiyuanyun", "every": "5m"}])
    store = StateStore.open(tmp_path / "state.db")
    try:
        for n in range(runs):
            run_id = store.start_run("sync", ["haicang"])
            store.finish_run(run_id, "ok", {
                "pulled": {"volunteer": 10 + n}, "outcomes": {"mapped": 9, "quarantined": 1},
                "push": {"items": {"created": 8, "rejected": 1}}, "seconds": 0.2})
    finally:
        store.close()
    return config


def run_closed(config: Path, *argv: str) -> subprocess.CompletedProcess[bytes]:
    """`zybridge ARGV` whose stdout's reader has gone before it writes (`| head -0`)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "bridge", "--config", str(config), *argv],
                              cwd=ROOT, stdout=write, stderr=subprocess.PIPE, timeout=60,
                              check=False)
    finally:
        os.close(write)


@pytest.mark.parametrize("argv", [("runs", "--json"), ("runs",), ("quarantine", "list"),
                                  ("audit", "log")], ids=" ".join)
def test_a_closed_pipe_ends_quietly_with_141(tmp_path: Path, argv: tuple[str, ...]) -> None:
    done = run_closed(bridge_config(tmp_path), *argv)
    assert done.stderr.decode() == ""
    assert done.returncode == PIPE_CLOSED


def test_a_pipe_read_to_its_first_line_gets_that_line(tmp_path: Path) -> None:
    config = bridge_config(tmp_path, runs=400)
    shell = (f"{sys.executable} -m bridge --config {config} runs --limit 400 --json "
             "| head -1; exit ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", shell], cwd=ROOT, capture_output=True, timeout=60,
                          check=False)
    assert done.stdout == b"[\n" and done.stderr == b""
    assert done.returncode == PIPE_CLOSED


def test_runs_shows_duration_and_counts_of_each_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--config", str(bridge_config(tmp_path)), "runs"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["id", "kind", "status", "started", "took", "pulled", "sent",
                              "rejected", "quarantined", "sources"]
    assert [line.split()[0] for line in lines] == ["3", "2", "1"]
    assert all(re.fullmatch(r"\d+\.\ds", line.split()[5]) for line in lines)
    assert lines[-1].split()[6:] == ["10", "9", "1", "1", "haicang"]
    assert "+08:00" in lines[0]


def test_runs_json_keeps_its_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--config", str(bridge_config(tmp_path)), "runs", "--json"]) == 0
    (first, *_) = json.loads(capsys.readouterr().out)
    assert {"id", "kind", "sources", "started_at", "finished_at", "status",
            "stats"} <= set(first)


# demo --dir --------------------------------------------------------------------------------
def _foreign(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work", encoding="utf-8")
    return folder


def test_demo_refuses_to_delete_a_folder_it_did_not_make(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _foreign(tmp_path)
    assert cli.main(["demo", "--dir", str(folder)]) == 2
    assert "nothing was deleted" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.txt"]


def test_demo_asks_on_a_terminal_and_keeps_the_folder_on_no(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _foreign(tmp_path)
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    with pytest.raises(ConfigError):
        prepare(folder)
    assert asked and str(folder) in asked[0]
    assert (folder / "thesis.txt").is_file()


def test_demo_replaces_a_foreign_folder_after_a_yes_at_the_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _foreign(tmp_path)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    prepare(folder)
    assert [p.name for p in folder.iterdir()] == [MARK]


def test_demo_with_yes_replaces_a_foreign_folder(tmp_path: Path) -> None:
    folder = _foreign(tmp_path)
    prepare(folder, replace=True)
    assert [p.name for p in folder.iterdir()] == [MARK]


def test_demo_replaces_its_own_folder_unasked(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    prepare(folder)
    (folder / "zybridge.db").write_bytes(b"old state")
    prepare(folder)
    assert [p.name for p in folder.iterdir()] == [MARK]


def test_demo_uses_an_empty_folder_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    prepare(tmp_path / "empty")
    assert [p.name for p in (tmp_path / "empty").iterdir()] == [MARK]


def test_demo_refuses_a_dir_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a folder"):
        prepare(path, replace=True)
    assert path.read_text(encoding="utf-8") == "x"
