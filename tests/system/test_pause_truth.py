"""Issue 17: pause state that tells the truth. A source paused by a daemon's safety stop
is unpaused by a manual `sync --force`, and by a plain `sync` of the whole source that
passes its safety checks; a plain sync that trips them again leaves the pause
(operator-interface.md "Also"). Real command line, sandbox and state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge import cli
from bridge.sandbox import DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, soft_delete
from state.store import StateStore
from tests.system import helpers

WHY = "this cycle would revoke or deactivate 80 of 120 live records"


class Bridge:
    def __init__(self, tmp: Path, sandbox: SandboxProcess, store: Path,
                 capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp, self.store, self.capsys = tmp, store, capsys
        self.config = helpers.write_config(
            tmp / "zybridge.toml",
            {"base_url": sandbox.base_url, "app_id": "haicang-demo",
             "app_secret": "${ZYBRIDGE_APP_SECRET}", "jurisdiction": "3502",
             "rate_per_s": 500.0, "retry_base_s": 0.05, "retry_cap_s": 0.5},
            [{"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}",
              "mapping": "zhiyuanyun", "every": "5m"}],
            log={"path": "bridge.jsonl", "level": "info"})

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli.main(["--config", str(self.config), *argv])
        out, err = self.capsys.readouterr()
        return code, out, err

    def pause(self) -> None:
        """What the daemon records when a cycle of the source trips a safety stop."""
        store = StateStore.open(self.tmp / "state.db")
        try:
            store.pause("haicang", WHY)
        finally:
            store.close()

    def paused(self) -> str | None:
        code, out, err = self.run("status", "--json")
        assert code == 0, err
        value = json.loads(out)["sources"]["haicang"]["paused"]
        return None if value is None else str(value)


@pytest.fixture
def bridge(tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Bridge:
    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
    b = Bridge(tmp_path, sandbox, sample[0], capsys)
    code, _, err = b.run("sync")
    assert code == 0, err
    b.pause()
    assert b.paused() == WHY
    return b


def _records(manifest: SampleManifest) -> list[str]:
    return [lid for (e, lid), out in manifest.expected.items()
            if e == "service_record" and out == "synced"]


def test_a_plain_sync_that_passes_the_safety_checks_lifts_the_pause(bridge: Bridge) -> None:
    code, _, err = bridge.run("sync")
    assert code == 0, err
    assert bridge.paused() is None
    _, out, _ = bridge.run("status")
    assert "PAUSED" not in out


def test_a_plain_sync_that_trips_the_safety_checks_again_keeps_the_pause(
        bridge: Bridge, sample: tuple[Path, SampleManifest]) -> None:
    soft_delete(bridge.store, "service_record", _records(sample[1])[:80])
    code, _, err = bridge.run("sync")
    assert code == 3, err
    assert bridge.paused() == WHY


def test_a_forced_sync_lifts_the_pause_and_status_says_so(
        bridge: Bridge, sample: tuple[Path, SampleManifest]) -> None:
    soft_delete(bridge.store, "service_record", _records(sample[1])[:80])
    code, _, err = bridge.run("sync", "--force")
    assert code == 0, err
    assert bridge.paused() is None
    _, out, _ = bridge.run("status")
    assert "PAUSED" not in out


def test_a_sync_of_one_entity_leaves_the_pause_to_a_whole_cycle(bridge: Bridge) -> None:
    code, _, err = bridge.run("sync", "--entity", "volunteer")
    assert code == 0, err
    assert bridge.paused() == WHY
