"""The audit trail's share of sync time (issue #6), side by side in one run.

    python -m bench.audit_overhead [--records N] [--rounds R] [--smoke]

Builds a sample 志愿云 store of N volunteers (bridge.testing.sample: about seven source rows
each), then, each round, runs the same full sync twice into a fresh state file and a
fresh sandbox (rate limit off): once with the audit trail and once with
`state.audit.append` swapped for a no-op, the order alternating between rounds. Prints
the median cycle times, the share the audit trail adds, the time spent inside `append`
itself, and what `audit verify` then costs. Target: the audit trail adds < 25%.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from bridge import config as config_mod
from bridge import logs
from bridge.runtime import open_runtime
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import build_sample_store
from state import audit

TARGET = 0.25


@dataclass(frozen=True)
class Sample:
    audited: bool
    seconds: float
    items: int
    entries: int
    append_seconds: float
    verify_seconds: float


def make_config(folder: Path, base_url: str, store: Path) -> config_mod.Config:
    raw = {"state": {"path": str(folder / "state.db")},
           "log": {"path": str(folder / "bridge.jsonl"), "level": "info"},
           "national": {"base_url": base_url, "app_id": DEMO_APP_ID,
                        "app_secret": "${ZYBRIDGE_APP_SECRET}", "jurisdiction": "3502",
                        "rate_per_s": 1000.0, "max_in_flight": 4, "timeout_s": 30.0},
           "sources": [{"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}",
                        "mapping": "zhiyuanyun", "every": "5m", "page_size": 500}]}
    return config_mod.parse(raw, folder, {"ZYBRIDGE_APP_SECRET": DEMO_APP_SECRET})


def timed(spent: list[float]) -> Callable[..., None]:
    """`audit.append`, timing each call into `spent`."""
    real = audit.append

    def append(conn: sqlite3.Connection, at: str, run_id: int | None,
               entries: Iterable[audit.Entry]) -> None:
        started = time.perf_counter()
        real(conn, at, run_id, entries)
        spent.append(time.perf_counter() - started)

    return append


def no_op(conn: sqlite3.Connection, at: str, run_id: int | None,
          entries: Iterable[audit.Entry]) -> None:
    """`audit.append` without the audit trail (the entries are still built by callers)."""
    for _ in entries:
        pass


def one_sync(folder: Path, store: Path, audited: bool) -> Sample:
    folder.mkdir(parents=True)
    spent: list[float] = []
    with SandboxProcess(db_path=folder / "sandbox.db", extra_args=["--rate-per-s", "0"]) as sb:
        cfg = make_config(folder, sb.base_url, store)
        with mock.patch.object(audit, "append", timed(spent) if audited else no_op), \
                open_runtime(cfg) as rt:
            started = time.perf_counter()
            report = rt.engine.cycle()
            seconds = time.perf_counter() - started
    if not report.ok or report.push is None:
        raise RuntimeError(f"the sync did not finish: {report.as_dict()}")
    conn = sqlite3.connect(cfg.state.path)
    try:
        entries = int(conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0])
        started = time.perf_counter()
        verdict = audit.verify(conn)
        verify_seconds = time.perf_counter() - started
    finally:
        conn.close()
    if not verdict.ok or (entries == 0) == audited:
        raise RuntimeError(f"unexpected audit log: {entries} entries, {verdict}")
    return Sample(audited, seconds, sum(report.push.items.values()), entries, sum(spent),
                  verify_seconds if audited else 0.0)


def run(volunteers: int, rounds: int, workdir: Path) -> dict[str, Any]:
    logs.setup(str(workdir / "bench.jsonl"), "info")
    store = workdir / "haicang.db"
    build_sample_store(store, volunteers=volunteers)
    samples: list[Sample] = []
    for r in range(rounds):
        order = (True, False) if r % 2 == 0 else (False, True)
        for audited in order:
            tag = "on" if audited else "off"
            samples.append(one_sync(workdir / f"round{r}-{tag}", store, audited))
    on = [s for s in samples if s.audited]
    off = [s for s in samples if not s.audited]
    t_on = statistics.median(s.seconds for s in on)
    t_off = statistics.median(s.seconds for s in off)
    return {"items": on[0].items, "entries": on[0].entries, "seconds_on": t_on,
            "seconds_off": t_off, "added": (t_on - t_off) / t_off,
            "append_share": statistics.median(s.append_seconds / s.seconds for s in on),
            "append_us_per_entry": statistics.median(
                s.append_seconds / max(1, s.entries) * 1e6 for s in on),
            "verify_seconds": statistics.median(s.verify_seconds for s in on),
            "samples": [round(s.seconds, 3) for s in samples]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.audit_overhead", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=1000,
                   help="volunteers in the generated store (default 1000)")
    p.add_argument("--rounds", type=int, default=3, help="syncs per side (default 3)")
    p.add_argument("--smoke", action="store_true", help="a tiny run that checks it works")
    args = p.parse_args(argv)
    volunteers, rounds = (40, 1) if args.smoke else (args.records, args.rounds)
    with tempfile.TemporaryDirectory(prefix="zyb-audit-bench-") as tmp:
        result = run(volunteers, rounds, Path(tmp))
    print(f"audit overhead: {result['items']} items, {result['entries']} audit entries; "
          f"sync {result['seconds_off']:.2f} s without the audit trail, "
          f"{result['seconds_on']:.2f} s with it: {result['added']:+.1%} added "
          f"(target < {TARGET:.0%})")
    print(f"  inside append: {result['append_share']:.1%} of the audited sync, "
          f"{result['append_us_per_entry']:.1f} µs per entry; `audit verify` of the chain "
          f"{result['verify_seconds']:.2f} s; cycle times in order {result['samples']}")
    if args.smoke:
        return 0
    return 0 if result["added"] < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
