"""Runs, the daemon's heartbeat row, the admin requests handed to it, paused sources."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from state import db
from state.base import Queries, dumps


class RunQueries(Queries):
    def start_run(self, kind: str, sources: Sequence[str]) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO runs (kind, sources, pid, started_at, status) "
                "VALUES (?, ?, ?, ?, 'running')", (kind, dumps(list(sources)), os.getpid(),
                                                   db.utcnow()))
        self.run_id = int(cur.lastrowid or 0)
        return self.run_id

    def finish_run(self, run_id: int, status: str, stats: dict[str, Any],
                   error: str | None = None) -> None:
        with self.transaction():
            self.conn.execute("UPDATE runs SET finished_at = ?, status = ?, stats = ?, "
                              "error = ? WHERE id = ?",
                              (db.utcnow(), status, dumps(stats), error, run_id))

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT id, kind, sources, pid, started_at, finished_at, status, "
                                "stats, error FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        cols = ("id", "kind", "sources", "pid", "started_at", "finished_at", "status", "stats",
                "error")
        out = []
        for r in cur:
            d = dict(zip(cols, r, strict=True))
            d["sources"] = json.loads(d["sources"])
            d["stats"] = json.loads(d["stats"]) if d["stats"] else None
            out.append(d)
        return out

    def daemon(self) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT pid, started_at, heartbeat_at, stopped_at, jobs "
                                "FROM daemon WHERE id = 1").fetchone()
        if row is None:
            return None
        return {"pid": row[0], "started_at": row[1], "heartbeat_at": row[2],
                "stopped_at": row[3], "jobs": json.loads(row[4])}

    # the daemon's heartbeat -------------------------------------------------------------
    def beat(self, started_at: str, jobs: dict[str, Any], *, stopped: bool = False) -> None:
        """The daemon row: this process, its start, now, and its next jobs (kept as they
        were once it stopped)."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO daemon (id, pid, started_at, heartbeat_at, stopped_at, jobs) "
                "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET pid = "
                "excluded.pid, started_at = excluded.started_at, heartbeat_at = "
                "excluded.heartbeat_at, stopped_at = excluded.stopped_at, jobs = "
                "CASE WHEN excluded.stopped_at IS NULL THEN excluded.jobs ELSE daemon.jobs END",
                (os.getpid(), started_at, db.utcnow(), db.utcnow() if stopped else None,
                 json.dumps(jobs)))

    # admin requests handed to the daemon ------------------------------------------------
    def queue_request(self, request: Any, requested_by: str) -> int:
        """Queue a request (JSON: its kind and arguments; the column keeps its old name)."""
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO requests (argv, requested_by, created_at, status) "
                "VALUES (?, ?, ?, 'queued')",
                (json.dumps(request, ensure_ascii=False), requested_by, db.utcnow()))
        return int(cur.lastrowid or 0)

    def request_outcome(self, request_id: int) -> tuple[str, int | None, str | None] | None:
        """(status, exit code, output) of a request, None when there is no such request."""
        row = self.conn.execute("SELECT status, exit_code, output FROM requests WHERE id = ?",
                                (request_id,)).fetchone()
        return (str(row[0]), row[1], row[2]) if row else None

    def queued_requests(self) -> list[tuple[int, Any]]:
        """(id, the request as queued, decoded) of every queued request, oldest first."""
        cur = self.conn.execute("SELECT id, argv FROM requests WHERE status = 'queued' "
                                "ORDER BY id")
        return [(int(i), json.loads(text)) for i, text in cur]

    def start_request(self, request_id: int) -> None:
        with self.transaction():
            self.conn.execute("UPDATE requests SET status = 'running', started_at = ? "
                              "WHERE id = ?", (db.utcnow(), request_id))

    def finish_request(self, request_id: int, status: str, exit_code: int,
                       output: str) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE requests SET status = ?, exit_code = ?, output = ?, finished_at = ? "
                "WHERE id = ?", (status, exit_code, output, db.utcnow(), request_id))

    # sources paused by a safety stop ----------------------------------------------------
    def pause(self, source: str, reason: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT INTO paused (source, reason, at) VALUES (?, ?, ?) "
                              "ON CONFLICT (source) DO UPDATE SET reason = excluded.reason, "
                              "at = excluded.at", (source, reason, db.utcnow()))

    def unpause(self, sources: Sequence[str]) -> None:
        with self.transaction():
            self.conn.executemany("DELETE FROM paused WHERE source = ?",
                                  [(s,) for s in sources])

    def paused(self) -> dict[str, str]:
        return {s: r for s, r in self.conn.execute("SELECT source, reason FROM paused")}
