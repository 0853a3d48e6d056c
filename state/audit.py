"""The append-only audit log and its hash chain (DESIGN.md invariant 6, "Audit retention").

Every entry carries the SHA-256 of its own content chained to the previous entry's
hash; triggers in the schema refuse UPDATE, and DELETE except of a leading run of the
chain that a later checkpoint entry accounts for (archiving). Entries hold hashes,
statuses, codes and national ids, never a payload or PII in clear.

Kinds: batch, request, result, quarantine, dead_letter, admin; and two the log writes
about itself: checkpoint (a leading run was archived: the last archived hash; with a
key, a MAC of its own) and seal (an HMAC of the head, the first live entry and the latest
checkpoint under a key the state file does not hold, so that rewriting the whole chain
is detectable). The MACs are in state/keys.py; the verification that uses seals,
checkpoint MACs and the anchor file is in state/seal.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from state import keys
from state.base import dumps
from state.keys import key_id

_string = json.encoder.encode_basestring  # json.dumps of a str, ensure_ascii=False
GENESIS = "0" * 64
COLUMNS = "seq, at, run_id, kind, ref, data, prev_hash, hash"


# an entry's data as hashed: the state file's one canonical JSON (state.base.dumps)
canonical = dumps


def entry_hash(prev_hash: str, seq: int, at: str, run_id: int | None, kind: str,
               ref: str | None, data: str) -> str:
    """SHA-256 of the previous hash and the entry's canonical JSON, `canonical({"seq":
    seq, "at": at, "run_id": run_id, "kind": kind, "ref": ref, "data": data})`, written
    out key by key in sorted order (a backfill hashes one entry per item)."""
    content = (f'{{"at":{_string(at)},"data":{_string(data)},"kind":{_string(kind)},'
               f'"ref":{"null" if ref is None else _string(ref)},'
               f'"run_id":{"null" if run_id is None else int(run_id)},"seq":{int(seq)}}}')
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    kind: str
    data: Mapping[str, Any]
    ref: str | None = None


@dataclass(frozen=True)
class Record:
    """One stored entry, as the table (and an archive line) holds it."""

    seq: int
    at: str
    run_id: int | None
    kind: str
    ref: str | None
    data: str
    prev_hash: str
    hash: str

    def payload(self) -> dict[str, Any]:
        value = json.loads(self.data)
        return value if isinstance(value, dict) else {"value": value}

    def holds(self) -> bool:
        digest = entry_hash(self.prev_hash, self.seq, self.at, self.run_id, self.kind,
                            self.ref, self.data)
        return hmac.compare_digest(digest, self.hash)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "run_id": self.run_id, "kind": self.kind,
                "ref": self.ref, "data": json.loads(self.data), "prev_hash": self.prev_hash,
                "hash": self.hash}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Record:
        run_id = obj.get("run_id")
        return cls(int(obj["seq"]), str(obj["at"]), None if run_id is None else int(run_id),
                   str(obj["kind"]), obj.get("ref"), canonical(obj["data"]),
                   str(obj["prev_hash"]), str(obj["hash"]))


def records(conn: sqlite3.Connection, where: str = "",
            params: Sequence[Any] = ()) -> Iterator[Record]:
    """Stored entries in seq order; `where` is an SQL condition on the audit table."""
    sql = f"SELECT {COLUMNS} FROM audit {'WHERE ' + where if where else ''} ORDER BY seq"
    for row in conn.execute(sql, tuple(params)):
        yield Record(*row)


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """The last entry's (seq, hash); (0, GENESIS) for an empty log."""
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def append(conn: sqlite3.Connection, at: str, run_id: int | None,
           entries: Iterable[Entry]) -> None:
    """Append entries in order; call inside the transaction that makes the change."""
    seq, prev = head(conn)
    rows = []
    for entry in entries:
        seq += 1
        data = canonical(dict(entry.data))
        digest = entry_hash(prev, seq, at, run_id, entry.kind, entry.ref, data)
        rows.append((seq, at, run_id, entry.kind, entry.ref, data, prev, digest))
        prev = digest
    conn.executemany("INSERT INTO audit (seq, at, run_id, kind, ref, data, prev_hash, hash) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def dead_letter_entry(ref: str, *, batch_key: str | None, op: str, payload_sha256: str,
                      errors: Iterable[Mapping[str, Any]]) -> Entry:
    """The entry for an item the platform refused for good: codes only, no messages
    (a platform message may quote the value it refused)."""
    return Entry("dead_letter", {
        "batch_key": batch_key, "op": op, "payload_sha256": payload_sha256,
        "errors": [{"field": e.get("field"), "code": e.get("code")} for e in errors]}, ref=ref)


# seals ----------------------------------------------------------------------------------
def seal(conn: sqlite3.Connection, at: str, run_id: int | None, key: bytes) -> Record:
    """Append a seal of the current head, the first live entry and the latest
    checkpoint (state/keys.py); call inside a transaction."""
    seq, digest = head(conn)
    first = conn.execute("SELECT seq, prev_hash FROM audit ORDER BY seq LIMIT 1").fetchone()
    cp = latest(conn, "checkpoint")
    fields: dict[str, Any] = {
        "head_seq": seq, "head_hash": digest,
        # an empty chain's first live entry is this seal itself
        "first_seq": int(first[0]) if first else seq + 1,
        "first_prev": str(first[1]) if first else digest,
        "checkpoint_seq": cp.seq if cp else None, "checkpoint_hash": cp.hash if cp else None}
    append(conn, at, run_id, [Entry("seal", {**fields, "v": 2, "key_id": key_id(key),
                                             "mac": keys.seal_mac_v2(key, fields)})])
    return next(records(conn, "seq = ?", (seq + 1,)))


# verification ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    broken_at: int | None = None
    problem: str = ""
    first: int | None = None       # the first entry checked
    last: int | None = None        # the last entry checked
    first_prev: str = GENESIS      # the hash the first entry links to
    last_hash: str = GENESIS       # the last entry's hash
    checkpoint: int | None = None  # the latest checkpoint entry (archived entries before)
    sealed: int | None = None      # the latest seal that checked with the key
    seals: int = 0                 # seal entries seen


@dataclass
class ChainWalk:
    """Walks records in seq order, checking each hash, link and seal."""

    key: bytes | None
    start_prev: str | None
    verdict: Verdict = Verdict(True, 0)
    prev: str | None = None

    def step(self, r: Record) -> Verdict | None:
        v = self.verdict
        if v.first is None:
            self.prev = r.prev_hash if self.start_prev is None else self.start_prev
            v = replace(v, first=r.seq, first_prev=r.prev_hash)
        v = replace(v, entries=v.entries + 1)
        self.verdict = v
        expected = None if v.last is None else v.last + 1
        if expected is not None and r.seq != expected:
            return self._broken(expected, f"entry {expected} is missing (next is {r.seq})")
        if r.prev_hash != self.prev:
            return self._broken(r.seq, f"entry {r.seq} does not link to the entry before it")
        if not r.holds():
            return self._broken(r.seq, f"entry {r.seq} was altered (its hash does not match)")
        if r.kind == "seal" and (problem := self._seal(r)):
            return self._broken(r.seq, problem)
        self.prev = r.hash
        self.verdict = replace(self.verdict, last=r.seq, last_hash=r.hash,
                               checkpoint=r.seq if r.kind == "checkpoint" else v.checkpoint)
        return None

    def _seal(self, r: Record) -> str | None:
        d = r.payload()
        self.verdict = replace(self.verdict, seals=self.verdict.seals + 1)
        if d.get("head_seq") != r.seq - 1 or d.get("head_hash") != r.prev_hash:
            return f"entry {r.seq} is a seal that does not name the entry before it"
        if self.key is None or d.get("key_id") != key_id(self.key):
            return None
        if not keys.seal_holds(self.key, d):
            return (f"entry {r.seq} is a seal whose signature does not match the chain "
                    "before it: the log was rewritten")
        self.verdict = replace(self.verdict, sealed=r.seq)
        return None

    def _broken(self, seq: int, problem: str) -> Verdict:
        self.verdict = replace(self.verdict, ok=False, broken_at=seq, problem=problem)
        return self.verdict


def check(rows: Iterable[Record], *, start_prev: str | None = GENESIS,
          key: bytes | None = None) -> Verdict:
    """Walk records in order; `start_prev` is the hash the first must link to (None:
    take the first record's own prev_hash, for a segment whose start is proved elsewhere)."""
    walk = ChainWalk(key, start_prev)
    for r in rows:
        if (broken := walk.step(r)) is not None:
            return broken
    return walk.verdict


def verify(conn: sqlite3.Connection, key: bytes | None = None, *,
           require_seal: bool = True) -> Verdict:
    """Walk the live chain in seq order; report the first entry whose link does not
    hold. A chain may start at a checkpoint's continuation (its leading run archived).
    With a key, every seal made with it is checked, and (`require_seal`) the latest seal
    must exist and be made with it."""
    verdict = check(records(conn), start_prev=None, key=key)
    if not verdict.ok:
        return verdict
    if verdict.first is not None and (problem := _start_problem(conn, verdict)):
        return replace(verdict, ok=False, broken_at=problem[0], problem=problem[1])
    sealing = key is not None and require_seal and verdict.entries
    if sealing and key is not None and (problem := _seal_problem(conn, verdict, key)):
        return replace(verdict, ok=False, broken_at=problem[0], problem=problem[1])
    return verdict


def _start_problem(conn: sqlite3.Connection, v: Verdict) -> tuple[int, str] | None:
    first = v.first or 1
    if first == 1:
        if v.first_prev == GENESIS:
            return None
        return 1, "entry 1 does not link to the start of the chain"
    cp = latest(conn, "checkpoint")
    if cp is None:
        return 1, f"entries 1–{first - 1} are missing and no checkpoint accounts for them"
    d = cp.payload()
    through = int(d.get("through", 0))
    if through + 1 < first:
        return through + 1, (f"entries {through + 1}–{first - 1} are missing (the checkpoint "
                             f"at entry {cp.seq} archived only up to entry {through})")
    if through + 1 != first or d.get("last_hash") != v.first_prev:
        return first, (f"entry {first} does not continue the archived chain that the "
                       f"checkpoint at entry {cp.seq} describes")
    return None


def _seal_problem(conn: sqlite3.Connection, v: Verdict, key: bytes) -> tuple[int, str] | None:
    last_seal = latest(conn, "seal")
    if last_seal is None:
        return (v.last or 0, "ZYBRIDGE_AUDIT_KEY is set but the chain holds no seal (run "
                             "`zybridge audit sign`, or the seals were removed)")
    if v.sealed != last_seal.seq:
        other = last_seal.payload().get("key_id")
        return last_seal.seq, (f"entry {last_seal.seq}, the latest seal, was made with "
                               f"another key (id {other}, this key is {key_id(key)})")
    return None


def latest(conn: sqlite3.Connection, kind: str) -> Record | None:
    """The last entry of a kind (`checkpoint` and `seal` have their own indexes)."""
    row = conn.execute(f"SELECT {COLUMNS} FROM audit WHERE kind = ? ORDER BY seq DESC LIMIT 1",
                       (kind,)).fetchone()
    return Record(*row) if row else None


# archiving ------------------------------------------------------------------------------
def leading_run(conn: sqlite3.Connection, before: str) -> tuple[int, int] | None:
    """(first, through): the entries from the start of the live chain up to, not
    including, the first entry at or after `before`; None when there is none."""
    first = conn.execute("SELECT MIN(seq) FROM audit").fetchone()[0]
    if first is None:
        return None
    stop = conn.execute("SELECT MIN(seq) FROM audit WHERE at >= ?", (before,)).fetchone()[0]
    through = int(stop) - 1 if stop is not None else head(conn)[0]
    return (int(first), through) if through >= int(first) else None


def cut(conn: sqlite3.Connection, at: str, run_id: int | None, span: tuple[int, int],
        last_hash: str, facts: Mapping[str, Any], key: bytes | None = None) -> Record:
    """Append the checkpoint for the entries of `span` (first, through), whose last hash
    the verified archive holds, then delete them (the trigger allows exactly this). With
    a key the checkpoint carries its own MAC. Call inside a transaction; returns the
    checkpoint."""
    first, through = span
    start = next(records(conn, "seq = ?", (first,)), None)
    last = next(records(conn, "seq = ?", (through,)), None)
    live_first = conn.execute("SELECT MIN(seq) FROM audit").fetchone()[0]
    if start is None or last is None or live_first != first:
        raise ValueError(f"entries {first}–{through} are not a leading run of the live chain")
    if last.hash != last_hash:
        raise ValueError(f"entry {through} changed since it was archived")
    data: dict[str, Any] = {**facts, "from": first, "through": through,
                            "entries": through - first + 1,
                            "first_prev_hash": start.prev_hash, "last_hash": last.hash}
    if key is not None:
        data.update(key_id=key_id(key), mac=keys.checkpoint_mac(key, data))
    append(conn, at, run_id, [Entry("checkpoint", data)])
    conn.execute("DELETE FROM audit WHERE seq <= ?", (through,))
    checkpoint = latest(conn, "checkpoint")
    assert checkpoint is not None
    return checkpoint
