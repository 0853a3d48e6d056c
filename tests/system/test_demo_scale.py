"""Issue 17: `zybridge demo --volunteers 20000` ended with ReadTimeout: its summary fetched
every record the platform holds (some 125,000 over one control request with a 10 s
timeout) only to count them. The sandbox now counts them itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.sandbox import DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest
from tests.system.helpers import cycle, make_config

ENTITIES = ("organization", "volunteer", "project", "service_record")


def test_the_sandbox_counts_what_it_holds_as_its_records_show(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
    assert sandbox.counts() == {}
    cycle(make_config(tmp_path, sandbox, sample[0]))
    counted = sandbox.counts()
    assert counted == {e: len(sandbox.records(e)) for e in ENTITIES}
    assert all(counted[e] > 0 for e in ENTITIES)
