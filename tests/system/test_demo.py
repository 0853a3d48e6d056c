"""`zybridge demo`: the main job on the embedded default, three sources, one sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli import main
from bridge.testing.agency import AgencyServer
from bridge.testing.harness import SandboxProcess


def test_the_demo_syncs_three_sources_and_then_sends_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "second cycle (nothing changed): 0 requests" in out
    assert "'matched': 2" in out  # a social worker and a Taiwan volunteer are 志愿云 people
    for source in ("haicang", "shegong", "taibao"):
        assert f"\n{source} " in out
    assert (tmp_path / "demo" / "zybridge.toml").exists()


def test_the_demo_servers_take_a_folder_relative_to_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make demo` runs in the repository with `var/demo`: a relative folder, while the
    servers' own processes run elsewhere."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel").mkdir()
    with SandboxProcess(db_path=Path("rel/sandbox.db")) as sandbox, \
            AgencyServer(Path("rel/agency.db"), token="t") as agency:
        assert sandbox.running and agency.running
    assert (tmp_path / "rel" / "sandbox.db").is_file()
    assert (tmp_path / "rel" / "agency.db").is_file()
