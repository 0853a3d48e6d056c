"""A failing source never stops the others (local-sources.md §B): the 志愿云 sample store
and a hostile agency in one cycle against the sandbox; the run is partial, the healthy
source's rows reach the platform in the same run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.cli import main
from bridge.runtime import open_runtime
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.testing.agency import AgencyServer
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest
from tests.system.helpers import ENV, check_invariants, make_config, state_rows

TOKEN = "hostile-agency-token"


@pytest.fixture
def agency(tmp_path: Path) -> Iterator[AgencyServer]:
    with AgencyServer(tmp_path / "agency.db", token=TOKEN) as server:
        yield server


def two_sources(tmp_path: Path, sandbox: SandboxProcess, store: Path,
                agency: AgencyServer) -> config_mod.Config:
    base = make_config(tmp_path, sandbox, store)
    raw: dict[str, Any] = {
        "state": {"path": str(base.state.path)},
        "log": {"path": base.log.path, "level": "debug"},
        "national": {**base.national.model_dump(mode="json"),
                     "app_secret": "${ZYBRIDGE_APP_SECRET}"},
        "sources": [
            {**base.sources[0].model_dump(mode="json", exclude_none=True)},
            {"name": "shegong", "kind": "http", "url": agency.url, "token": "${SHEGONG_TOKEN}",
             "mapping": "shegong", "projects_from": "haicang", "timeout_s": 2,
             "max_page_mb": 1}],
    }
    return config_mod.parse(raw, tmp_path, {**ENV, "SHEGONG_TOKEN": TOKEN})


@pytest.mark.parametrize("mode", [{"nested": 100_000}, {"drip_s": 1.0}, {"huge_mb": 50}],
                         ids=["nested-json", "dripping", "oversized"])
def test_a_hostile_agency_fails_only_its_source_and_zhiyuanyun_syncs(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        agency: AgencyServer, mode: dict[str, float]) -> None:
    store, _ = sample
    agency.set_faults(hostile=mode)
    cfg = two_sources(tmp_path, sandbox, store, agency)
    started = time.monotonic()
    with open_runtime(cfg) as rt:
        report = rt.engine.cycle()
        (run,) = rt.store.runs(1)
    assert not report.ok and list(report.failed) == ["shegong"]
    assert run["status"] == "partial"
    assert time.monotonic() - started < 120
    assert [r for r in state_rows(cfg) if r["source"] == "haicang" and r["status"] == "synced"]
    check_invariants(cfg, sandbox, store)
    assert not [r for r in state_rows(cfg) if r["source"] == "shegong"]
    with open_runtime(cfg) as rt:
        assert rt.store.cursor("shegong", "volunteer") is None


def test_zybridge_sync_exits_1_naming_the_failed_source(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        agency: AgencyServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    store, _ = sample
    agency.set_faults(hostile={"nested": 100_000})
    path = tmp_path / "zybridge.toml"
    path.write_text(f"""
[state]
path = "state.db"
[log]
path = "bridge.jsonl"
[national]
base_url = "{sandbox.base_url}"
app_id = "{DEMO_APP_ID}"
app_secret = "${{ZYBRIDGE_APP_SECRET}}"
jurisdiction = "3502"
rate_per_s = 500.0
[[sources]]
name = "haicang"
kind = "sql"
url = "sqlite:///{store}"
mapping = "zhiyuanyun"
[[sources]]
name = "shegong"
kind = "http"
url = "{agency.url}"
token = "${{SHEGONG_TOKEN}}"
mapping = "shegong"
projects_from = "haicang"
timeout_s = 5
""", encoding="utf-8")
    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
    monkeypatch.setenv("SHEGONG_TOKEN", TOKEN)
    assert main(["--config", str(path), "sync"]) == 1
    err = capsys.readouterr().err
    assert "source shegong failed, the others synced: " in err and "nested too deep" in err
    assert main(["--config", str(path), "status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sources"]["haicang"]["entities"]["volunteer"]["synced"] > 0
    assert doc["last_run"]["status"] == "partial"
