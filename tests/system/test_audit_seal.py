"""The audit trail against someone who can write the state file (issue 18), end to end:
the sample 志愿云 store, the real sandbox, two sync cycles with $ZYBRIDGE_AUDIT_KEY set
and an anchor file, then each attack on a copy of the state file and `zybridge audit
verify` (and `state check`) on it: exit 4, naming the break. The honest paths (a fresh
state, an archive, a backup restored) still verify."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest

from bridge import config as config_mod
from bridge.commands import audit as auditlog
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import build_sample_store, update_rows
from state import audit, db, keys
from state import files as state_files
from state.store import StateStore
from tests.system.helpers import ENV, cycle

KEY = "an-audit-seal-key-kept-elsewhere"
REJECT_FIRST_ANSWER = ("UPDATE audit SET data = replace(data, '\"created\"', '\"rejected\"') "
                       "WHERE seq = (SELECT MIN(seq) FROM audit WHERE kind = 'result' "
                       "AND data LIKE '%\"created\"%')")


@dataclass(frozen=True)
class Sealed:
    folder: Path
    between: str            # an instant between the two cycles
    first_seal: int         # the seal entry that ended the first cycle


def write_config(folder: Path, base_url: str, store: Path) -> Path:
    path = folder / "zybridge.toml"
    path.write_text(f"""
[state]
path = "state.db"
[log]
path = "bridge.jsonl"
[audit]
anchor_path = "anchor.jsonl"
[national]
base_url = "{base_url}"
app_id = "{DEMO_APP_ID}"
app_secret = "${{ZYBRIDGE_APP_SECRET}}"
jurisdiction = "3502"
rate_per_s = 500.0
retry_base_s = 0.02
retry_cap_s = 0.1
[[sources]]
name = "haicang"
kind = "sql"
url = "sqlite:///{store}"
mapping = "zhiyuanyun"
every = "5m"
page_size = 50
""", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sealed]:
    folder = tmp_path_factory.mktemp("sealed")
    store = folder / "haicang.db"
    build_sample_store(store)
    os.environ[keys.KEY_ENV] = KEY
    try:
        with SandboxProcess(db_path=folder / "sandbox.db") as sb:
            cfg = config_mod.load(write_config(folder, sb.base_url, store), ENV)
            assert cycle(cfg).ok
            between = db.utcnow()
            update_rows(store, "volunteer", list(range(1001, 1031)),
                        {"email": "changed@volunteers.example.org"})
            assert cycle(cfg).ok
    finally:
        del os.environ[keys.KEY_ENV]
    first_seal = json.loads((folder / "anchor.jsonl").read_text().splitlines()[0])["seq"]
    yield Sealed(folder, between, int(first_seal))


@pytest.fixture
def copy(sealed: Sealed, tmp_path: Path) -> Path:
    """A private copy of the sealed state file, its anchor and a config for them."""
    src = sqlite3.connect(sealed.folder / "state.db")
    dst = sqlite3.connect(tmp_path / "state.db")
    src.backup(dst)
    src.close()
    dst.close()
    for name in ("zybridge.toml", "anchor.jsonl"):
        shutil.copy(sealed.folder / name, tmp_path / name)
    return tmp_path


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
    monkeypatch.delenv(keys.KEY_ENV, raising=False)


def cli(folder: Path, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="zybridge")
    parser.add_argument("--config")
    parser.add_argument("--debug", action="store_true")
    auditlog.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["--config", str(folder / "zybridge.toml"), *argv])
    out = StringIO()
    with redirect_stdout(out):
        code = args.func(args)
    return int(code), out.getvalue()


def verify(folder: Path, monkeypatch: pytest.MonkeyPatch, *, key: bool,
           anchor: bool = False) -> tuple[int, str]:
    if key:
        monkeypatch.setenv(keys.KEY_ENV, KEY)
    else:
        monkeypatch.delenv(keys.KEY_ENV, raising=False)
    extra = ["--anchor", str(folder / "anchor.jsonl")] if anchor else []
    return cli(folder, "audit", "verify", *extra)


def tamper(folder: Path, *sql: str) -> sqlite3.Connection:
    conn = sqlite3.connect(folder / "state.db", isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for statement in sql:
        conn.execute(statement)
    return conn


def rehash(conn: sqlite3.Connection) -> None:
    """Every hash recomputed from the start, seals saying what they now seal, as an
    attacker without the key would: only the MACs cannot be redone."""
    prev = audit.GENESIS
    for r in list(audit.records(conn)):
        data = r.data
        if r.kind == "seal":
            data = audit.canonical({**r.payload(), "head_seq": r.seq - 1, "head_hash": prev})
        digest = audit.entry_hash(prev, r.seq, r.at, r.run_id, r.kind, r.ref, data)
        conn.execute("UPDATE audit SET prev_hash = ?, hash = ?, data = ? WHERE seq = ?",
                     (prev, digest, data, r.seq))
        prev = digest


def forge_checkpoint(conn: sqlite3.Connection, through: int) -> None:
    """Delete entries 1–`through` and append a checkpoint claiming they were archived."""
    last = next(audit.records(conn, "seq = ?", (through,)))
    conn.execute("DELETE FROM audit WHERE seq <= ?", (through,))
    audit.append(conn, db.utcnow(), None, [audit.Entry("checkpoint", {
        "from": 1, "through": through, "entries": through, "file": "a.jsonl.gz",
        "first_prev_hash": audit.GENESIS, "last_hash": last.hash})])


def broken(result: tuple[int, str], *words: str) -> bool:
    code, text = result
    return code == 4 and text.startswith("audit log broken at entry ") and all(
        w in text for w in words)


# the honest paths ---------------------------------------------------------------------------
def test_every_cycle_ends_with_a_seal_that_the_anchor_holds(copy: Path) -> None:
    conn = sqlite3.connect(copy / "state.db")
    last = next(audit.records(conn, "seq = (SELECT MAX(seq) FROM audit)"))
    conn.close()
    lines = [json.loads(x) for x in (copy / "anchor.jsonl").read_text().splitlines()]
    assert last.kind == "seal" and last.payload()["v"] == 2
    assert [x["kind"] for x in lines] == ["seal", "seal"] and lines[-1]["hash"] == last.hash


def test_the_anchor_file_is_readable_by_its_owner_only(copy: Path, sealed: Sealed) -> None:
    assert (sealed.folder / "anchor.jsonl").stat().st_mode & 0o777 == 0o600


def test_two_sealed_cycles_verify_with_the_key_and_the_anchor(
        copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = verify(copy, monkeypatch, key=True, anchor=True)
    assert code == 0 and "the chain holds every entry the anchor names" in text


def test_without_key_or_anchor_verify_says_what_it_cannot_detect(
        copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = verify(copy, monkeypatch, key=False)
    assert code == 0 and "can only detect edits, not a truncated tail" in text


def test_a_fresh_state_verifies_with_the_key(tmp_path: Path, copy: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (copy / "state.db").unlink()
    (copy / "anchor.jsonl").write_text("")
    StateStore.open(copy / "state.db").close()
    assert verify(copy, monkeypatch, key=True, anchor=True)[0] == 0


def test_an_archive_with_the_key_still_verifies_with_key_and_anchor(
        copy: Path, sealed: Sealed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(keys.KEY_ENV, KEY)
    out = copy / "first.jsonl.gz"
    assert cli(copy, "audit", "archive", "--before", sealed.between, "--out", str(out))[0] == 0
    assert verify(copy, monkeypatch, key=True, anchor=True)[0] == 0
    assert verify(copy, monkeypatch, key=False, anchor=True)[0] == 0


def test_a_backup_restored_verifies(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(keys.KEY_ENV, KEY)
    state_files.backup(copy / "state.db", copy / "backup.db")
    state_files.restore(copy / "backup.db", copy / "state.db")
    assert verify(copy, monkeypatch, key=True, anchor=True)[0] == 0


# the attacks --------------------------------------------------------------------------------
def test_a_forged_checkpoint_after_a_seal_is_named(copy: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    forge_checkpoint(tamper(copy), 40)
    assert verify(copy, monkeypatch, key=False)[0] == 0, "the hashes alone cannot see it"
    assert broken(verify(copy, monkeypatch, key=True), "forged or unsealed checkpoint")


def test_a_truncated_tail_is_named_with_the_key(copy: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    tamper(copy, "DELETE FROM audit WHERE seq > (SELECT MAX(seq) - 3 FROM audit)")
    assert broken(verify(copy, monkeypatch, key=True), "the tail was truncated")


def test_a_tail_cut_back_to_an_earlier_seal_is_named_against_the_anchor_without_the_key(
        copy: Path, sealed: Sealed, monkeypatch: pytest.MonkeyPatch) -> None:
    tamper(copy, f"DELETE FROM audit WHERE seq > {sealed.first_seal}")
    assert verify(copy, monkeypatch, key=True)[0] == 0, "a rollback to a seal: key alone"
    assert broken(verify(copy, monkeypatch, key=False, anchor=True), "the tail was truncated")


def test_a_full_rewrite_with_fresh_hashes_is_named_with_the_key(
        copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = tamper(copy, REJECT_FIRST_ANSWER)
    rehash(conn)
    assert verify(copy, monkeypatch, key=False)[0] == 0, "the hashes alone cannot see it"
    assert broken(verify(copy, monkeypatch, key=True), "rewritten")


def test_a_full_rewrite_without_seals_is_named_against_the_anchor(
        copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = tamper(copy, REJECT_FIRST_ANSWER)
    rehash(conn)
    assert broken(verify(copy, monkeypatch, key=False, anchor=True), "rewritten")


def test_deleting_the_anchor_covered_start_behind_a_forged_checkpoint_is_named(
        copy: Path, sealed: Sealed, monkeypatch: pytest.MonkeyPatch) -> None:
    forge_checkpoint(tamper(copy), sealed.first_seal + 2)
    assert broken(verify(copy, monkeypatch, key=False, anchor=True), "not in the anchor")


def test_deleting_the_anchor_covered_middle_is_named(copy: Path, sealed: Sealed,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    lo, hi = 100, 110
    conn = tamper(copy, f"DELETE FROM audit WHERE seq BETWEEN {lo} AND {hi}",
                  f"UPDATE audit SET seq = seq - {hi - lo + 1} WHERE seq > {hi}")
    rehash(conn)
    assert verify(copy, monkeypatch, key=False)[0] == 0, "the hashes alone cannot see it"
    assert broken(verify(copy, monkeypatch, key=False, anchor=True),
                  f"entry {sealed.first_seal}", "rewritten")


def test_state_check_uses_the_same_verification(copy: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    tamper(copy, "DELETE FROM audit WHERE seq > (SELECT MAX(seq) - 3 FROM audit)").close()
    monkeypatch.setenv(keys.KEY_ENV, KEY)
    health = state_files.inspect(copy / "state.db")
    assert not health.ok and "the tail was truncated" in health.problems[0]
