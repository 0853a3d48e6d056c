"""State file faults (issue #7, part 3): a corrupted, truncated or newer state file, a full
disk during a write, a read-only state folder — each a clear error and no half-written
state — and the recovery commands `zybridge state backup|restore|check`."""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge import cli
from bridge import config as config_mod
from bridge.commands import state as statecmd
from bridge.errors import BridgeError, ConfigError, StateError
from bridge.ops.state import check_state
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, build_sample_store, update_rows
from state.lock import StateLock
from tests.system import helpers
from tests.system.helpers import ENV, check_invariants, cycle, make_config, platform_by_ref

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, SampleManifest]:
    path = tmp_path / "haicang.db"
    return path, build_sample_store(path, volunteers=12, seed=9)


@pytest.fixture
def zybridge(tmp_path: Path, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> Run:
    """`zybridge --config <tmp>/zybridge.toml ARGS…` in process: (exit code, out, err)."""
    base = cli.build_parser

    def parser() -> argparse.ArgumentParser:
        p = base()
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        if "state" not in sub.choices:
            statecmd.register(sub)
        return p

    monkeypatch.setattr(cli, "build_parser", parser)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(["--config", str(tmp_path / "zybridge.toml"), *argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def write_config(cfg: config_mod.Config, sandbox: SandboxProcess, store: Path) -> None:
    helpers.write_config(
        cfg.base_dir / "zybridge.toml",
        {"base_url": sandbox.base_url, "app_id": "haicang-demo",
         "app_secret": "${ZYBRIDGE_APP_SECRET}", "jurisdiction": "3502", "rate_per_s": 500.0,
         "retry_base_s": 0.05, "retry_cap_s": 0.2},
        [{"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}", "mapping": "zhiyuanyun"}],
        state=str(cfg.state.path), log={"path": str(cfg.base_dir / "bridge.jsonl")})


@pytest.fixture
def synced(tmp_path: Path, sandbox: SandboxProcess,
           small: tuple[Path, SampleManifest]) -> config_mod.Config:
    store, _ = small
    cfg = make_config(tmp_path, sandbox, store)
    write_config(cfg, sandbox, store)
    assert cycle(cfg).ok
    return cfg


def checkpointed(path: Path) -> bytes:
    """The state file's bytes with its WAL folded in (what a crash would leave on disk)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.read_bytes()


def scribble(path: Path, offset: int, length: int) -> None:
    data = bytearray(checkpointed(path))
    data[offset:offset + length] = b"\x5a" * length
    path.write_bytes(bytes(data))


# state check ------------------------------------------------------------------------------
def test_check_passes_a_healthy_state_file(synced: config_mod.Config, zybridge: Run) -> None:
    code, out, _ = zybridge("state", "check")
    assert code == 0, out
    assert "healthy" in out and "audit chain intact" in out


def test_check_finds_a_corrupted_page(synced: config_mod.Config, zybridge: Run) -> None:
    scribble(synced.state.path, 4096 * 10 + 100, 500)
    code, out, _ = zybridge("state", "check")
    assert code == 2
    assert "integrity:" in out and "state restore" in out


def test_check_finds_a_truncated_file(synced: config_mod.Config, zybridge: Run) -> None:
    data = checkpointed(synced.state.path)
    synced.state.path.write_bytes(data[: len(data) // 2])
    code, out, _ = zybridge("state", "check")
    assert code == 2
    assert "malformed" in out or "integrity" in out


def test_check_finds_a_rewritten_audit_entry(synced: config_mod.Config, zybridge: Run) -> None:
    conn = sqlite3.connect(synced.state.path)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET data = '{}' WHERE seq = 3")
    conn.commit()
    conn.close()
    code, out, _ = zybridge("state", "check")
    assert code == 2
    assert "audit log broken at entry 3" in out


def test_check_finds_a_dangling_foreign_key(synced: config_mod.Config, zybridge: Run) -> None:
    conn = sqlite3.connect(synced.state.path)
    conn.execute("INSERT INTO outbox (ref, base_ref, source, entity, local_id, op, payload, "
                 "hash, batch_id, created_at) VALUES ('x:volunteer:1', 'x:volunteer:1', 'x', "
                 "'volunteer', '1', 'upsert', '{}', 'h', 999999, '2026-01-01')")
    conn.commit()
    conn.close()
    code, out, _ = zybridge("state", "check")
    assert code == 2
    assert "foreign key: outbox" in out


def test_check_names_a_state_file_from_a_newer_version(
        synced: config_mod.Config, zybridge: Run) -> None:
    conn = sqlite3.connect(synced.state.path)
    conn.execute("INSERT INTO migrations (version, applied_at) VALUES (99, '2030-01-01')")
    conn.commit()
    conn.close()
    code, out, _ = zybridge("state", "check")
    assert code == 2
    assert "schema version 99 is newer" in out


# sync on a damaged file -------------------------------------------------------------------
def test_sync_on_a_garbage_state_file_is_a_clear_error_that_changes_nothing(
        synced: config_mod.Config, zybridge: Run) -> None:
    synced.state.path.write_bytes(b"not a database " * 500)
    for extra in ("-wal", "-shm"):
        Path(f"{synced.state.path}{extra}").unlink(missing_ok=True)
    code, _, err = zybridge("sync")
    assert code == 2
    assert "unreadable" in err and "state check" in err and "Traceback" not in err
    assert synced.state.path.read_bytes() == b"not a database " * 500


def test_sync_on_a_truncated_state_file_is_a_clear_error(
        synced: config_mod.Config, zybridge: Run) -> None:
    data = checkpointed(synced.state.path)
    synced.state.path.write_bytes(data[:4096 * 3])
    code, _, err = zybridge("sync")
    assert code == 2, err
    assert "state" in err and "Traceback" not in err


def test_sync_refuses_a_state_file_from_a_newer_version_without_touching_it(
        synced: config_mod.Config, zybridge: Run) -> None:
    conn = sqlite3.connect(synced.state.path)
    conn.execute("INSERT INTO migrations (version, applied_at) VALUES (99, '2030-01-01')")
    conn.commit()
    conn.close()
    before = checkpointed(synced.state.path)
    code, _, err = zybridge("sync")
    assert code == 2
    assert "newer than this bridge knows" in err
    assert checkpointed(synced.state.path) == before


# backup and restore -----------------------------------------------------------------------
def test_backup_writes_a_healthy_private_copy(synced: config_mod.Config, zybridge: Run,
                                              tmp_path: Path) -> None:
    target = tmp_path / "backups" / "state-1.db"
    target.parent.mkdir()
    code, out, _ = zybridge("state", "backup", str(target))
    assert code == 0, out
    assert check_state(target).ok
    assert target.stat().st_mode & 0o777 == 0o600
    assert not Path(f"{target}.partial").exists()


def test_backup_works_while_a_daemon_holds_the_lock(synced: config_mod.Config, zybridge: Run,
                                                    tmp_path: Path) -> None:
    with StateLock(synced.state.path):
        code, out, _ = zybridge("state", "backup", str(tmp_path / "b.db"))
    assert code == 0, out


def test_backup_refuses_to_replace_a_file_without_force(
        synced: config_mod.Config, zybridge: Run, tmp_path: Path) -> None:
    target = tmp_path / "b.db"
    target.write_bytes(b"precious")
    code, _, err = zybridge("state", "backup", str(target))
    assert code == 2 and "--force" in err
    assert target.read_bytes() == b"precious"
    assert zybridge("state", "backup", "--force", str(target))[0] == 0


def test_backup_of_a_damaged_state_file_keeps_the_last_good_backup(
        synced: config_mod.Config, zybridge: Run, tmp_path: Path) -> None:
    target = tmp_path / "b.db"
    assert zybridge("state", "backup", str(target))[0] == 0
    good = target.read_bytes()
    scribble(synced.state.path, 4096 * 10 + 100, 500)
    code, _, err = zybridge("state", "backup", "--force", str(target))
    assert code == 2 and "damaged" in err
    assert target.read_bytes() == good


def test_restore_refuses_while_the_lock_is_held(synced: config_mod.Config, zybridge: Run,
                                                tmp_path: Path) -> None:
    assert zybridge("state", "backup", str(tmp_path / "b.db"))[0] == 0
    before = checkpointed(synced.state.path)
    with StateLock(synced.state.path):
        code, _, err = zybridge("state", "restore", str(tmp_path / "b.db"))
    assert code == 2 and "pid" in err
    assert checkpointed(synced.state.path) == before


def test_restore_refuses_a_broken_backup(synced: config_mod.Config, zybridge: Run,
                                         tmp_path: Path) -> None:
    target = tmp_path / "b.db"
    assert zybridge("state", "backup", str(target))[0] == 0
    target.write_bytes(target.read_bytes()[:8192])
    before = checkpointed(synced.state.path)
    code, out, _ = zybridge("state", "restore", str(target))
    assert code == 2 and "refused" in out
    assert checkpointed(synced.state.path) == before


def test_restore_replaces_a_corrupted_state_file_and_keeps_it_aside(
        synced: config_mod.Config, zybridge: Run, tmp_path: Path) -> None:
    assert zybridge("state", "backup", str(tmp_path / "b.db"))[0] == 0
    synced.state.path.write_bytes(b"garbage" * 3000)
    code, out, _ = zybridge("state", "restore", str(tmp_path / "b.db"))
    assert code == 0, out
    assert zybridge("state", "check")[0] == 0
    kept = [p for p in tmp_path.glob("state.db.before-restore-*") if p.name.endswith("Z")]
    assert kept and kept[0].read_bytes().startswith(b"garbage")


def test_restore_of_an_older_backup_then_sync_converges_without_duplicates(
        synced: config_mod.Config, zybridge: Run, sandbox: SandboxProcess,
        small: tuple[Path, SampleManifest], tmp_path: Path) -> None:
    store, _ = small
    assert zybridge("state", "backup", str(tmp_path / "b.db"))[0] == 0
    conn = sqlite3.connect(store)
    recs = [r for (r,) in conn.execute("SELECT rec_id FROM zyy_service_time LIMIT 12")]
    conn.close()
    update_rows(store, "service_record", recs, {"content": "备份之后的修改"})
    assert cycle(synced).ok
    assert zybridge("state", "restore", str(tmp_path / "b.db"))[0] == 0
    assert cycle(synced).ok
    check_invariants(synced, sandbox, store)
    held = platform_by_ref(sandbox)
    assert all(held[f"haicang:service_record:{r}"]["content"] == "备份之后的修改"
               for r in recs if f"haicang:service_record:{r}" in held)


# a full disk and a read-only folder ------------------------------------------------------
@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Callable[[str], None]]:
    """A small tmpfs at `path` (root only); yields a function to remount it with options."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                           str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root?): the max_page_count tests cover it")

    def remount(options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)
    try:
        yield remount
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


FULL = r"the disk holding the state file is full"
# a folder the state file cannot be written in is a config error (operator-interface.md
# "Configuration, checked once"), found before the cycle opens anything
READ_ONLY = r"state\.path: .* the folder .* is not writable"


def failing_cycle(cfg: config_mod.Config, match: str,
                  kind: type[BridgeError] = StateError) -> BridgeError:
    """A cycle that fails with the error `match` names (nothing else will do: a crash of
    another kind must not pass for the disk's refusal)."""
    with pytest.raises(kind, match=match) as failed:
        cycle(cfg)
    return failed.value


def test_a_full_disk_mid_cycle_leaves_a_healthy_file_that_converges_later(
        tmp_path: Path, sandbox: SandboxProcess, small: tuple[Path, SampleManifest]) -> None:
    store, _ = small
    with tmpfs(tmp_path / "disk", "400k") as remount:
        cfg = make_config(tmp_path / "disk", sandbox, store)
        failing_cycle(cfg, FULL)
        assert check_state(cfg.state.path).ok, "the state file was left half-written"
        remount("size=16m")
        assert cycle(cfg).ok
        check_invariants(cfg, sandbox, store)


def test_a_page_limit_mid_cycle_leaves_a_healthy_file_that_converges_later(
        tmp_path: Path, sandbox: SandboxProcess, small: tuple[Path, SampleManifest]) -> None:
    from bridge.runtime import open_runtime

    store, _ = small
    cfg = make_config(tmp_path, sandbox, store)
    with pytest.raises(StateError, match="full"), open_runtime(cfg) as rt:
        pages = rt.store.conn.execute("PRAGMA page_count").fetchone()[0]
        rt.store.conn.execute(f"PRAGMA max_page_count = {pages + 15}")
        rt.engine.cycle()
    assert check_state(cfg.state.path).ok
    assert cycle(cfg).ok
    check_invariants(cfg, sandbox, store)


def test_a_full_disk_is_reported_as_a_full_disk(
        tmp_path: Path, sandbox: SandboxProcess, small: tuple[Path, SampleManifest]) -> None:
    store, _ = small
    with tmpfs(tmp_path / "disk", "400k"):
        cfg = make_config(tmp_path / "disk", sandbox, store)
        error = failing_cycle(cfg, FULL)
    assert "nothing was" in str(error)


def test_a_read_only_state_folder_changes_nothing(
        tmp_path: Path, sandbox: SandboxProcess, small: tuple[Path, SampleManifest]) -> None:
    store, _ = small
    with tmpfs(tmp_path / "disk", "16m") as remount:
        cfg = make_config(tmp_path / "disk", sandbox, store)
        assert cycle(cfg).ok
        before = checkpointed(cfg.state.path)
        update_rows(store, "volunteer", [1000, 1001], {"email": "ro@example.org"})
        remount("ro")
        failing_cycle(cfg, READ_ONLY, ConfigError)
        assert cfg.state.path.read_bytes() == before
        remount("rw")
        assert cycle(cfg).ok
        check_invariants(cfg, sandbox, store)


def test_a_read_only_state_folder_is_a_config_error_naming_state_path(
        tmp_path: Path, sandbox: SandboxProcess, small: tuple[Path, SampleManifest]) -> None:
    store, _ = small
    with tmpfs(tmp_path / "disk", "16m") as remount:
        cfg = make_config(tmp_path / "disk", sandbox, store)
        assert cycle(cfg).ok
        remount("ro")
        error = failing_cycle(cfg, READ_ONLY, ConfigError)
    assert error.exit_code == 2


def test_a_read_only_state_connection_writes_nothing(
        tmp_path: Path, sandbox: SandboxProcess, small: tuple[Path, SampleManifest]) -> None:
    """Without root (no tmpfs): SQLite `mode=ro` stands in for the read-only folder."""
    from bridge.runtime import open_runtime

    store, _ = small
    cfg = make_config(tmp_path, sandbox, store)
    assert cycle(cfg).ok
    before = checkpointed(cfg.state.path)
    update_rows(store, "volunteer", [1000, 1001], {"email": "ro@example.org"})
    with pytest.raises(StateError, match="cannot be written"), \
            open_runtime(cfg) as rt:
        rt.store.conn.close()
        rt.store.conn = sqlite3.connect(f"file:{cfg.state.path}?mode=ro", uri=True,
                                        isolation_level=None)
        rt.engine.cycle()
    assert checkpointed(cfg.state.path) == before
