"""Retention of sent bodies (issue 18, `[retention] sent_bodies_days`): after the
retention, a sent batch's body holds its hash and no ID number; the bridge goes on
syncing as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bridge import config as config_mod
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, update_rows
from tests.system.helpers import cycle, make_config, platform_by_ref
from tests.system.test_privacy import normalized, pii_of


def keeping(tmp_path: Path, sandbox: SandboxProcess, store: Path,
            days: int) -> config_mod.Config:
    cfg = make_config(tmp_path, sandbox, store)
    return cfg.model_copy(update={"retention": config_mod.RetentionConfig(
        sent_bodies_days=days)})


def bodies(cfg: config_mod.Config) -> list[tuple[str, bytes, str]]:
    conn = sqlite3.connect(cfg.state.path)
    try:
        return [(str(s), bytes(b), str(h)) for s, b, h in
                conn.execute("SELECT state, body, body_sha256 FROM batches")]
    finally:
        conn.close()


def leaked(store: Path, cfg: config_mod.Config) -> list[str]:
    flat = normalized(" ".join(b.decode("utf-8", "replace") for _, b, _ in bodies(cfg)))
    return [v for v in pii_of(store) if v in flat]


def test_a_sent_body_past_the_retention_holds_no_id_number(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = keeping(tmp_path, sandbox, store, 0)
    assert cycle(cfg).ok
    sent = bodies(cfg)
    assert sent and all(state == "done" for state, _, _ in sent)
    assert all(body == b"sha256:" + digest.encode() for _, body, digest in sent)
    assert not leaked(store, cfg)


def test_a_sent_body_within_the_retention_is_kept(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = keeping(tmp_path, sandbox, store, 30)
    assert cycle(cfg).ok
    assert leaked(store, cfg), "the bodies still hold what was sent"


def test_changes_after_bodies_were_stripped_still_reach_the_platform(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = keeping(tmp_path, sandbox, store, 0)
    assert cycle(cfg).ok
    update_rows(store, "volunteer", [1001], {"email": "kept@volunteers.example.org"})
    report = cycle(cfg)
    assert report.ok and report.push is not None and report.push.batches >= 1
    held = platform_by_ref(sandbox)["haicang:volunteer:1001"]
    assert "kept@volunteers.example.org" in str(held)
