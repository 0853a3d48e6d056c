"""The revocation stop at its boundary, end to end: exactly the allowed revocations are
sent; one more stops the cycle before anything is sent (the sandbox counts no request)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bridge.config import Config
from bridge.errors import SafetyStop
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, soft_delete
from tests.system.helpers import cycle, ledger, make_config, platform_by_ref

LIMIT = 6


def limited(tmp_path: Path, sandbox: SandboxProcess, store: Path) -> Config:
    """Synced, then limited to LIMIT revocations a cycle whatever the live count."""
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    return cfg.model_copy(update={"safety": cfg.safety.model_copy(
        update={"max_revoke_min": LIMIT, "max_revoke_share": 0.0})})


def one_part_records(cfg: Config, manifest: SampleManifest, n: int) -> list[str]:
    """n synced service records that the platform holds as one record each (one revoke)."""
    parts = Counter(e["base_ref"] for e in ledger(cfg).values() if e["status"] == "synced")
    ids = [lid for lid in manifest.ids("service_record", "synced")
           if parts[f"haicang:service_record:{lid}"] == 1][:n]
    assert len(ids) == n
    return ids


def revoked(sandbox: SandboxProcess) -> int:
    return sum(1 for r in platform_by_ref(sandbox).values()
               if r["_entity"] == "service_record" and r.get("revoked"))


def test_exactly_the_allowed_revocations_are_sent(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = limited(tmp_path, sandbox, store)
    soft_delete(store, "service_record", one_part_records(cfg, manifest, LIMIT))
    assert cycle(cfg).ok
    assert revoked(sandbox) == LIMIT


def test_one_revocation_above_the_limit_stops_with_nothing_sent(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = limited(tmp_path, sandbox, store)
    soft_delete(store, "service_record", one_part_records(cfg, manifest, LIMIT + 1))
    sandbox.reset_stats()
    with pytest.raises(SafetyStop, match=rf"would revoke or deactivate {LIMIT + 1} of .*"
                                         rf"the limit is {LIMIT}"):
        cycle(cfg)
    assert sandbox.stats()["total"] == 0, "something was sent on a safety stop"
    assert revoked(sandbox) == 0
