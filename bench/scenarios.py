"""The scenarios of issue 9. Each prints a Markdown table (bench/report.py) as soon as it
is done and returns its figures; `Bench.problems` collects every count that does not
match the manifest (in smoke mode the first one stops the run).

1. backfill: a fresh state and a fresh sandbox (no rate limit, no latency) on loopback;
2. the same with 100 ms of added latency and the platform's 20 requests/s, the bridge
   configured as a user would (rate_per_s 20, enough in flight to cover the latency);
3. incremental: a cycle with no change (0 requests), then one with a share of rows
   changed (items sent = rows changed), over scenario 1's state and store;
4. side by side: the bridge, a naive loop, a dlt pipeline and the raw limit, each with a
   fresh sandbox, one after the other.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.bridgerun import (
    NO_LIMIT,
    UNLIMITED,
    BridgeFolder,
    Failure,
    Sample,
    SandboxWatch,
    mismatches,
    sandbox,
    sandbox_figures,
)
from bench.measure import Usage, run_child
from bench.report import percent, ratio, table
from bench.store import Expected, apply_changes, build

RATE = 20.0            # the platform's requests/s (national-api.md §4)
LATENCY_S = 0.100      # scenario 2's added latency
BATCH = 100
RSS_LIMIT_MB = 300.0   # issue 9: every scenario, whatever N
ROOT = Path(__file__).resolve().parents[1]  # `python -m bench.…` runs from the repo root


@dataclass
class Settings:
    smoke: bool = False
    seed: int = 7
    naive_items: int = 2000
    naive_s: float = 30.0
    max_in_flight: int = 4
    profile: Path | None = None


@dataclass
class Bench:
    workdir: Path
    settings: Settings = field(default_factory=Settings)
    stores: dict[int, Expected] = field(default_factory=dict)
    # by N: a backfilled folder scenario 3 may continue, and the backfill's figures
    folders: dict[int, BridgeFolder] = field(default_factory=dict)
    backfills: dict[int, Sample] = field(default_factory=dict)
    sequential: dict[int, Sample] = field(default_factory=dict)  # pipeline = false
    problems: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    raw_items_per_s: float | None = None  # scenario 4's raw limit, for scenario 2's target

    # shared steps -----------------------------------------------------------------------
    def store(self, volunteers: int) -> Expected:
        if volunteers not in self.stores:
            path = self.workdir / f"store-{volunteers}.db"
            exp = build(path, volunteers, seed=self.settings.seed)
            say(f"store of {volunteers:,} volunteers: {exp.rows:,} rows "
                f"({exp.synced():,} for the platform) built in {exp.build_s:.1f} s, "
                f"generator peak RSS {exp.build_peak_rss_mb:.0f} MB")
            self.stores[volunteers] = exp
            self.results.setdefault("stores", {})[str(volunteers)] = {
                "rows": exp.rows, "synced_rows": exp.synced(), "build_s": exp.build_s,
                "build_peak_rss_mb": exp.build_peak_rss_mb, "counts": exp.counts}
        return self.stores[volunteers]

    def fresh(self, name: str) -> Path:
        """A new empty folder in the work folder (a second run gets `name-2`…)."""
        path, n = self.workdir / name, 1
        while path.exists():
            n += 1
            path = self.workdir / f"{name}-{n}"
        path.mkdir(parents=True)
        return path

    def problem(self, where: str, message: str) -> None:
        line = f"{where}: {message}"
        say(f"PROBLEM {line}")
        self.problems.append(line)
        if self.settings.smoke:
            raise Failure(line)

    def check_status(self, folder: BridgeFolder, exp: Expected, where: str) -> None:
        wrong = mismatches(folder.status(), exp)
        if wrong:
            self.problem(where, "status counts differ from the manifest: " + "; ".join(wrong))

    def bridge_run(self, name: str, folder: BridgeFolder, volunteers: int,
                   extra: Sequence[str] = NO_LIMIT, *, rate_per_s: float | None = None,
                   profile: Path | None = None, note: str = "",
                   pipeline: bool = True) -> Sample:
        """One `zybridge sync` against a sandbox on the folder's own platform file."""
        with sandbox(folder.folder / "sandbox.db", extra) as sb:
            folder.configure(sb.base_url, max_in_flight=self.settings.max_in_flight,
                             rate_per_s=UNLIMITED if rate_per_s is None else rate_per_s,
                             pipeline=pipeline)
            watch = SandboxWatch(sb)
            usage = folder.sync(profile)
            items, requests, stats = sandbox_figures(sb)
            spent = watch.spent()
        if usage.peak_rss_mb > RSS_LIMIT_MB and profile is None:
            self.problem(name, f"peak RSS {usage.peak_rss_mb:.0f} MB is over "
                         f"{RSS_LIMIT_MB:.0f} MB")
        return measured(name, volunteers, usage, items, requests, spent, note,
                        {"by_status": stats["by_status"]})

    # scenario 1 -------------------------------------------------------------------------
    def backfill(self, volunteers: int, *, profile: Path | None = None,
                 pipeline: bool = True) -> Sample:
        exp = self.store(volunteers)
        folder = BridgeFolder(self.fresh(f"s1-{volunteers}"), exp.path)
        note = "profiled (pyinstrument)" if profile else "no limit, no latency"
        name = "bridge backfill" if pipeline else "bridge backfill, pipeline = false"
        sample = self.bridge_run(name, folder, volunteers, profile=profile, note=note,
                                 pipeline=pipeline)
        self.check_status(folder, exp, f"scenario 1 (N={volunteers})")
        if profile is None and pipeline:
            self.folders[volunteers] = folder
            self.backfills[volunteers] = sample
        return sample

    def scenario1(self, volunteers: int) -> list[Sample]:
        """The default configuration, then `pipeline = false`: on loopback with no
        latency there is nothing to overlap, and the sandbox holds the second core."""
        samples = [self.backfill(volunteers, profile=self.settings.profile)]
        if not self.settings.profile:
            samples.append(self.backfill(volunteers, pipeline=False))
            self.sequential[volunteers] = samples[1]
        say(table(samples))
        if self.settings.profile:
            say(f"profile of the backfill: {self.settings.profile.with_suffix('.html')} and "
                ".txt (pyinstrument samples the main thread only: time the push threads "
                "spend shows as a wait)")
        self.results["scenario1"] = samples[0].as_dict()
        if len(samples) > 1:
            self.results["scenario1_sequential"] = samples[1].as_dict()
        return samples

    def rss_growth(self, volunteers: int) -> list[Sample]:
        samples = [self.backfills.get(n) or self.backfill(n)
                   for n in (volunteers, 2 * volunteers)]
        say(table(samples))
        small, large = samples[0].peak_rss_mb, samples[1].peak_rss_mb
        say(f"peak RSS at N={volunteers:,}: {small:.0f} MB; at N={2 * volunteers:,}: "
            f"{large:.0f} MB ({ratio(large, small)}× for 2× the rows; limit "
            f"{RSS_LIMIT_MB:.0f} MB)")
        self.results["rss_growth"] = [s.as_dict() for s in samples]
        return samples

    # scenario 2 -------------------------------------------------------------------------
    def scenario2(self, volunteers: int, why: str = "") -> list[Sample]:
        exp = self.store(volunteers)
        folder = BridgeFolder(self.fresh(f"s2-{volunteers}"), exp.path)
        in_flight = self.settings.max_in_flight
        extra = ("--latency-ms", f"{LATENCY_S * 1000:.0f}", "--rate-per-s", f"{RATE:g}",
                 "--burst", "40")
        sample = self.bridge_run("bridge, 100 ms, 20 req/s", folder, volunteers, extra,
                                 rate_per_s=RATE, note=f"rate_per_s {RATE:g}, "
                                 f"max_in_flight {in_flight}")
        self.check_status(folder, exp, "scenario 2")
        say(table([sample]))
        bound = RATE * BATCH
        raw_items_per_s = self.raw_items_per_s
        target = min(bound, raw_items_per_s) if raw_items_per_s else bound
        say(f"N={volunteers:,}{f' ({why})' if why else ''}; bound {RATE:g} req/s × {BATCH} items = "
            f"{bound:,.0f} items/s; reached {sample.items_per_s:,.0f} items/s = "
            f"{percent(sample.items_per_s, bound)} of the bound, "
            f"{percent(sample.items_per_s, target)} of min(bound, raw intake "
            f"{'measured in this run' if raw_items_per_s else 'not measured: bound used'}) "
            f"(target ≥ 95%, issue 20); in flight needed ≈ {RATE:g}/s × {LATENCY_S:.1f} s = "
            f"{RATE * LATENCY_S:.0f} plus service time, configured {in_flight}")
        self.results["scenario2"] = {**sample.as_dict(), "bound_items_per_s": bound,
                                     "share_of_bound": sample.items_per_s / bound,
                                     "share_of_target": sample.items_per_s / target}
        return [sample]

    # scenario 3 -------------------------------------------------------------------------
    def scenario3(self, volunteers: int) -> list[Sample]:
        exp = self.store(volunteers)
        if volunteers not in self.folders:
            say(f"scenario 3 needs a backfilled state: running scenario 1 at "
                f"N={volunteers:,} first")
            self.backfill(volunteers)
        folder = self.folders.pop(volunteers)
        quiet = self.bridge_run("incremental, no change", folder, volunteers,
                                note="over the full store")
        if quiet.requests != 0:
            self.problem("scenario 3", f"a cycle with no change sent {quiet.requests} "
                         "requests (expected 0)")
        changed = apply_changes(folder.store, exp.changeable)
        share = changed / exp.rows
        delta = self.bridge_run(f"incremental, {share:.1%} changed", folder, volunteers,
                                note=f"{changed:,} rows changed")
        if delta.items != changed:
            self.problem("scenario 3", f"{changed} rows changed but {delta.items} items "
                         "were sent")
        self.check_status(folder, exp, "scenario 3")
        say(table([quiet, delta]))
        say(f"no change: {quiet.requests} requests in {quiet.seconds:.1f} s; "
            f"{changed:,} rows changed ({share:.2%} of {exp.rows:,}): {delta.items:,} items "
            f"sent in {delta.seconds:.1f} s")
        self.results["scenario3"] = {"no_change": quiet.as_dict(), "changed": delta.as_dict(),
                                     "rows_changed": changed}
        return [quiet, delta]

    # scenario 4 -------------------------------------------------------------------------
    def scenario4(self, volunteers: int) -> list[Sample]:
        exp = self.store(volunteers)
        reused = self.backfills.get(volunteers)
        bridge = replace(reused or self.backfill(volunteers), name="bridge",
                         note="scenario 1's run (same run)" if reused else "")
        seq = self.sequential.get(volunteers)
        bridges = [bridge] + ([replace(seq, name="bridge, pipeline = false")] if seq else [])
        samples = [*bridges, self.naive(exp), self.dlt(exp), self.raw(exp)]
        say(table(samples))
        naive, dlt, raw = samples[-3:]
        self.raw_items_per_s = raw.items_per_s or None
        for b in bridges:
            say(f"{b.name}: bridge/raw {ratio(b.items_per_s, raw.items_per_s)}, bridge/dlt "
                f"{ratio(b.items_per_s, dlt.items_per_s)}, bridge/naive "
                f"{ratio(b.items_per_s, naive.items_per_s)} (items/s); CPU per item: "
                f"{cpu_per_item_us(b):,.0f} µs, dlt {cpu_per_item_us(dlt):,.0f} µs, raw "
                f"{cpu_per_item_us(raw):,.0f} µs (bridge/dlt "
                f"{ratio(cpu_per_item_us(b), cpu_per_item_us(dlt))})")
        self.results["scenario4"] = {
            "samples": [s.as_dict() for s in samples],
            "bridge_over_raw": bridge.items_per_s / raw.items_per_s if raw.items else None,
            "bridge_over_dlt": bridge.items_per_s / dlt.items_per_s if dlt.items else None,
            "sequential_over_raw": (seq.items_per_s / raw.items_per_s
                                    if seq and raw.items else None),
            "sequential_over_dlt": (seq.items_per_s / dlt.items_per_s
                                    if seq and dlt.items else None),
            "cpu_per_item_us": {s.name: cpu_per_item_us(s) for s in samples}}
        return samples

    def contender(self, name: str, exp: Expected, args: list[str], note: str) -> Sample:
        """Run `python -m <args> --root-url <sandbox>` against a fresh sandbox; in smoke
        mode (where every contender sends every item) check its rows against the
        manifest."""
        folder = self.fresh(f"s4-{name.replace(' ', '-')}-{exp.volunteers}")
        check = ["--check"] if self.settings.smoke else []
        with sandbox(folder / "sandbox.db") as sb:
            watch = SandboxWatch(sb)
            usage = run_child([sys.executable, "-m", *args, "--root-url", sb.root_url,
                               *check], cwd=ROOT)
            items, requests, _ = sandbox_figures(sb)
            spent = watch.spent()
        if usage.returncode != 0:
            raise Failure(f"{name} exited {usage.returncode}: {usage.stderr.strip()[-800:]}")
        doc = json.loads(usage.stdout.strip().splitlines()[-1])
        if check:
            self.check_rows(name, doc["rows"], exp)
        return measured(name, exp.volunteers, usage, items, requests, spent, note,
                        {"statuses": doc["statuses"]})

    def check_rows(self, name: str, rows: dict[str, int], exp: Expected) -> None:
        for entity in exp.counts:
            if rows.get(entity, 0) != exp.synced(entity):
                self.problem(f"scenario 4 ({name})", f"{rows.get(entity, 0)} {entity} rows "
                             f"acknowledged, the manifest expects {exp.synced(entity)}")

    def naive(self, exp: Expected) -> Sample:
        limit, seconds = (10**9, 1e9) if self.settings.smoke else \
            (self.settings.naive_items, self.settings.naive_s)
        bound = "all items" if self.settings.smoke else \
            f"first {limit:,} items or {seconds:.0f} s"
        return self.contender("naive loop", exp, [
            "bench.naive", "--store", str(exp.path), "--max-items", str(limit),
            "--max-s", str(seconds)], f"1 item per request; {bound}")

    def dlt(self, exp: Expected) -> Sample:
        pipelines = self.fresh(f"dlt-pipelines-{exp.volunteers}")
        return self.contender("dlt", exp, [
            "bench.dltsink", "--store", str(exp.path), "--workdir", str(pipelines)],
            "sql_database → @dlt.destination(batch_size=100); same N")

    def raw(self, exp: Expected) -> Sample:
        bodies = self.workdir / f"raw-bodies-{exp.volunteers}.txt"
        built = run_child([sys.executable, "-m", "bench.raw", "build", "--store",
                           str(exp.path), "--out", str(bodies)], cwd=ROOT)
        if built.returncode != 0:
            raise Failure(f"raw build exited {built.returncode}: {built.stderr[-800:]}")
        say(f"raw: batches pre-built in {built.wall_s:.1f} s (not measured): "
            f"{built.stdout.strip()}")
        conns = self.settings.max_in_flight
        return self.contender("raw limit", exp, [
            "bench.raw", "post", "--bodies", str(bodies), "--connections", str(conns)],
            f"pre-built batches, {conns} connections")


def measured(name: str, volunteers: int, usage: Usage, items: int, requests: int,
             sandbox_cpu: float, note: str, extra: dict[str, Any]) -> Sample:
    return Sample(name, volunteers, items, requests, usage.wall_s, usage.cpu_s,
                  usage.peak_rss_mb, sandbox_cpu, note, extra)


def cpu_per_item_us(sample: Sample) -> float:
    """The contender's own CPU (its process and the children it waited for) per item
    the sandbox received, in µs."""
    return 1e6 * sample.cpu_s / sample.items if sample.items else 0.0


def say(line: str) -> None:
    print(line, flush=True)
