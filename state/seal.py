"""The audit trail against someone who can write the state file (operator-interface.md):
the seal at the end of every cycle, the anchor file, and the verification that uses
seals, checkpoint MACs and the anchor on top of the hash chain (state/audit.py).

What each part catches (docs/threat-model.md):
- the hash chain: an entry edited or missing in the middle;
- with the key: a rewrite from the start with fresh hashes (the seals' MACs fail), a
  forged or unsealed checkpoint, entries removed from the start after a seal without a
  sealed checkpoint, a tail cut back into the entries after the last seal;
- with the anchor (a copy of every seal kept outside the state file): a tail cut back
  to an earlier seal, a rewrite, and the removal of anchored entries, without the key.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from bridge.errors import StateError
from state import audit, keys, retention
from state.audit import Record, Verdict
from state.store import StateStore

log = structlog.get_logger("state.seal")
NO_KEY_NOTE = ("without ZYBRIDGE_AUDIT_KEY or an --anchor file this check can only detect "
               "edits, not a truncated tail or a chain rewritten from the start")
KEY_ONLY_NOTE = ("without an --anchor file, a chain cut back exactly to an earlier seal (an "
                 "old backup restored) cannot be told from that earlier state")


# the end of a cycle -------------------------------------------------------------------------
def end_of_cycle(store: StateStore, run_id: int | None, *, key: bytes | None,
                 anchor: Path | None, keep_days: int, now: datetime | None = None) -> None:
    """Strip the bodies of batches answered more than `keep_days` ago, then (with a key)
    seal the chain, unless its head is already a seal, and append the seal to the anchor
    file. A failure is logged, never raised: the cycle's own outcome stands."""
    moment = now or datetime.now(UTC)
    try:
        with store.transaction() as conn:
            stripped = retention.strip_sent_bodies(conn, moment - timedelta(days=keep_days))
            sealed = None
            refused = _lost_anchored(conn, anchor) if key is not None else None
            if key is not None and refused is None and not _sealed_head(conn, key):
                sealed = audit.seal(conn, _utc(moment), run_id, key)
        if refused is not None:
            log.error("audit chain not sealed: it no longer holds what the anchor names; "
                      "run `zybridge audit verify --anchor`", problem=refused)
        if stripped:
            log.info("sent bodies past retention replaced by their hashes", batches=stripped)
        if sealed is not None:
            log.info("audit sealed", **anchor_line(sealed))
            if anchor is not None:
                append_anchor(anchor, anchor_line(sealed))
    except (sqlite3.Error, OSError, StateError) as exc:
        log.error("audit seal or retention failed", error=f"{type(exc).__name__}: {exc}")


def _lost_anchored(conn: sqlite3.Connection, anchor: Path | None) -> str | None:
    """Why the chain must not be sealed: it no longer holds the anchor's last entry (a
    truncation or rewrite that a new seal would otherwise cover); None when it does."""
    last = _last_anchored(anchor) if anchor is not None else None
    if last is None:
        return None
    first = conn.execute("SELECT MIN(seq) FROM audit").fetchone()[0]
    if first is not None and last.seq < int(first):
        return None  # archived since: `audit verify --anchor` checks the checkpoint
    held = next(audit.records(conn, "seq = ?", (last.seq,)), None)
    if held is not None and held.hash == last.hash:
        return None
    return f"entry {last.seq} (anchored at {last.at}) is missing or differs"


def _last_anchored(path: Path) -> Anchored | None:
    """The anchor file's last line, read from its end; None for no file or no line."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 8192))
            lines = [x for x in f.read().splitlines() if x.strip()]
    except OSError:  # none yet, or unreadable: appending to it will say so
        return None
    if not lines:
        return None
    try:
        obj = json.loads(lines[-1])
        return Anchored(0, str(obj["kind"]), int(obj["seq"]), str(obj["hash"]),
                        str(obj.get("at", "")))
    except (ValueError, KeyError, TypeError):
        log.warning("the anchor file's last line is not an anchor line", path=str(path))
        return None


def _sealed_head(conn: sqlite3.Connection, key: bytes) -> bool:
    last = audit.latest(conn, "seal")
    return (last is not None and last.seq == audit.head(conn)[0]
            and last.payload().get("key_id") == keys.key_id(key))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# the anchor file ------------------------------------------------------------------------
def anchor_line(r: Record) -> dict[str, Any]:
    """What the anchor keeps of a seal or checkpoint entry: its place, its hash, and what
    it says (no personal data: the audit log holds none)."""
    d = r.payload()
    line: dict[str, Any] = {"kind": r.kind, "seq": r.seq, "hash": r.hash, "at": r.at,
                            "run_id": r.run_id}
    names = keys.SEAL_FIELDS if r.kind == "seal" else keys.CHECKPOINT_FIELDS
    line.update({name: d.get(name) for name in (*names, "key_id", "mac") if name in d})
    return line


def append_anchor(path: Path, line: dict[str, Any]) -> None:
    """One JSON line appended to the anchor file (created 0600), flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Anchored:
    line: int
    kind: str
    seq: int
    hash: str
    at: str


def read_anchor(path: Path) -> list[Anchored]:
    """The anchored entries, in file order; ValueError naming a line that is not one."""
    out = []
    with path.open(encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
                out.append(Anchored(number, str(obj["kind"]), int(obj["seq"]),
                                    str(obj["hash"]), str(obj.get("at", ""))))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path.name}: line {number} is not an anchor line") from exc
    return out


# verification ---------------------------------------------------------------------------
def verify(conn: sqlite3.Connection, key: bytes | None = None,
           anchor: Iterable[Anchored] | None = None) -> Verdict:
    """The chain (state/audit.py), then with a key its checkpoint, its latest seal and
    the entries after it, then each anchored entry; the first break found."""
    v = audit.verify(conn, key)
    if v.ok and key is not None:
        v = _with_key(conn, v, key)
    if v.ok and anchor is not None:
        v = _with_anchor(conn, v, list(anchor), key)
    return v


def _broken(v: Verdict, seq: int, problem: str) -> Verdict:
    return replace(v, ok=False, broken_at=seq, problem=problem)


def _with_key(conn: sqlite3.Connection, v: Verdict, key: bytes) -> Verdict:
    cp = audit.latest(conn, "checkpoint")
    if cp is not None and not keys.checkpoint_holds(key, cp.payload()):
        return _broken(v, cp.seq, f"entry {cp.seq} is a forged or unsealed checkpoint (its "
                       "MAC does not verify with this key): the entries it claims were "
                       "archived may have been deleted")
    last_seal = audit.latest(conn, "seal")
    if last_seal is None or v.first is None:
        return v
    d = last_seal.payload()
    moved = cp is not None and cp.seq > last_seal.seq
    if d.get("v") == 2 and not moved and (d.get("first_seq"), d.get("first_prev")) != (
            v.first, v.first_prev):
        return _broken(v, v.first, (
            f"the seal at entry {last_seal.seq} names entry {d.get('first_seq')} as the first "
            f"live entry but the chain starts at entry {v.first}: entries were removed "
            "from the start"))
    return _unsealed_tail(conn, v, last_seal)


def _unsealed_tail(conn: sqlite3.Connection, v: Verdict, last_seal: Record) -> Verdict:
    """Entries after the last seal are only those of a cycle still running: every cycle
    ends with a seal, so anything else is a tail cut back past the seals that covered
    it (or written without the key: a cycle with the key, or `audit sign`, seals it)."""
    last = v.last or 0
    if last <= last_seal.seq:
        return v
    # one statement, one snapshot: a run that finishes meanwhile was sealed before
    writers = conn.execute(
        "SELECT DISTINCT a.run_id, r.id IS NOT NULL AND r.finished_at IS NULL FROM audit AS a "
        "LEFT JOIN runs AS r ON r.id = a.run_id WHERE a.seq > ?", (last_seal.seq,)).fetchall()
    if all(run_id is not None and running for run_id, running in writers):
        return v
    return _broken(v, last_seal.seq + 1, (
        f"the tail was truncated or left unsealed: entries {last_seal.seq + 1}–{last} come "
        f"after the last seal (entry {last_seal.seq}) and no running cycle wrote them; the "
        "seals that covered them were removed, or they were written without "
        f"{keys.KEY_ENV} (`zybridge audit sign` seals them)"))


def _with_anchor(conn: sqlite3.Connection, v: Verdict, lines: list[Anchored],
                 key: bytes | None) -> Verdict:
    first, last = v.first or 1, v.last or 0
    anchored_cps = {(a.seq, a.hash) for a in lines if a.kind == "checkpoint"}
    for a in lines:
        where = f"anchor line {a.line} ({a.kind} of {a.at})"
        if a.seq > last:
            return _broken(v, last + 1, (
                f"the tail was truncated: the chain ends at entry {last} but {where} holds "
                f"entry {a.seq}"))
        if a.seq >= first:
            held = next(audit.records(conn, "seq = ?", (a.seq,)), None)
            if held is None or held.hash != a.hash:
                return _broken(v, a.seq, (
                    f"entry {a.seq} differs from {where}: the chain was rewritten"))
        elif (problem := _archived(conn, a.seq, anchored_cps, key)) is not None:
            return _broken(v, a.seq, f"entry {a.seq}, held by {where}, {problem}")
    return v


def _archived(conn: sqlite3.Connection, seq: int, anchored_cps: set[tuple[int, str]],
              key: bytes | None) -> str | None:
    cp = audit.latest(conn, "checkpoint")
    if cp is None or int(cp.payload().get("through", 0)) < seq:
        return "is missing and no checkpoint accounts for it"
    if (cp.seq, cp.hash) in anchored_cps:
        return None
    if key is not None and keys.checkpoint_holds(key, cp.payload()):
        return None
    return (f"is gone and the checkpoint at entry {cp.seq} that claims it was archived is "
            "not in the anchor: it may be forged (the anchored middle was deleted)")


def describe(v: Verdict, key: bytes | None, anchor: list[Anchored] | None) -> list[str]:
    """What an intact verdict rests on, in words, for `audit verify`."""
    lines = []
    if anchor is not None:
        lines.append(f"the chain holds every entry the anchor names ({len(anchor)} lines)")
    if key is None and anchor is None:
        lines.append(NO_KEY_NOTE)
    elif anchor is None:
        lines.append(KEY_ONLY_NOTE)
    return lines
