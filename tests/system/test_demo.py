"""`zybridge demo`: the main job on the embedded default, three sources, one sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.cli import main


def test_the_demo_syncs_three_sources_and_then_sends_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "second cycle (nothing changed): 0 requests" in out
    assert "'matched': 2" in out  # a social worker and a Taiwan volunteer are 志愿云 people
    for source in ("haicang", "shegong", "taibao"):
        assert f"\n{source} " in out
    assert (tmp_path / "demo" / "zybridge.toml").exists()
