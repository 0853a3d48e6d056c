"""The benchmark suite (issue 9): backfill, rate-bound, incremental and side-by-side runs
of the bridge against the sandbox national platform, each printed as a Markdown table
for docs/performance.md.

    python -m bench.backfill [--n N] [--scenario 1|2|3|4|all]... [--smoke] [--rss-growth]
                             [--json out.json] [--profile]

Scenarios (default: all, run in the order 1, 3, 4, 2):
  1  backfill N volunteers (and their teams, activities and 5·N service records) into a
     sandbox on loopback, no added latency, no rate limit;
  2  the same with 100 ms of added latency and the platform's 20 requests/s, at its own
     N (--n2, default 20,000: about a minute at the bound of 2,000 items/s);
  3  an incremental cycle with no change (must send 0 requests), then with 1% of the
     rows changed (items sent must equal rows changed), over scenario 1's state;
  4  side by side: the bridge, a naive loop (one signed request per record, on a bounded
     subset), a dlt pipeline and the raw limit (pre-built batches).
--rss-growth runs scenario 1 at N and 2N and prints both peak RSS figures.

Every contender runs in its own process (peak RSS and CPU time are its own) against a
sandbox in another. Figures: items/s and requests/s as the sandbox counted them over
the contender's wall time, start-up included. --smoke runs everything at 200 volunteers
and checks only that each run works and its counts match the sample store's manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.bridgerun import Failure
from bench.measure import load_average
from bench.scenarios import Bench, Settings, say

ORDER = ("1", "3", "4", "2")
SMOKE_N = 200
N2 = 20_000  # scenario 2: about a minute at the bound of 2,000 items/s


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=50_000, help="volunteers (default 50000)")
    p.add_argument("--n2", type=int, default=N2,
                   help=f"volunteers for scenario 2 (default {N2})")
    p.add_argument("--scenario", action="append", choices=(*ORDER, "all"),
                   help="a scenario to run (repeatable; default all)")
    p.add_argument("--smoke", action="store_true",
                   help=f"every scenario at {SMOKE_N} volunteers; checks counts, not times")
    p.add_argument("--rss-growth", action="store_true",
                   help="also run scenario 1 at N and 2N and print both peak RSS figures")
    p.add_argument("--json", type=Path, help="write every figure to this JSON file")
    p.add_argument("--profile", type=Path, nargs="?", const=Path("var/bench/profile"),
                   help="run scenario 1's backfill under pyinstrument; writes "
                   "STEM.html and STEM.txt (default stem: var/bench/profile)")
    p.add_argument("--seed", type=int, default=7, help="the sample store's seed")
    p.add_argument("--naive-items", type=int, default=2000,
                   help="the naive loop stops after this many items (default 2000)")
    p.add_argument("--naive-s", type=float, default=30.0,
                   help="…or after this many seconds (default 30)")
    p.add_argument("--max-in-flight", type=int, default=4,
                   help="the bridge's max_in_flight, and the raw client's connections")
    p.add_argument("--keep", type=Path, help="work in this folder and keep it")
    return p


def chosen(args: argparse.Namespace) -> list[str]:
    """The scenarios to run, in the suite's order (scenario 1 first: 3 and 4 reuse its
    run)."""
    if args.rss_growth and not args.scenario and not args.smoke:
        return []  # --rss-growth alone: only its two backfills
    asked = set(args.scenario or ["all"])
    return [s for s in ORDER if "all" in asked or s in asked]


def run(args: argparse.Namespace, workdir: Path) -> Bench:
    n, n2 = (SMOKE_N, SMOKE_N) if args.smoke else (args.n, args.n2)
    settings = Settings(smoke=args.smoke, seed=args.seed, naive_items=args.naive_items,
                        naive_s=args.naive_s, max_in_flight=args.max_in_flight,
                        profile=args.profile.resolve() if args.profile else None)
    if settings.profile:
        settings.profile.parent.mkdir(parents=True, exist_ok=True)
    bench = Bench(workdir, settings)
    bench.results["settings"] = {"n": n, "n2": n2, "seed": args.seed,
                                 "max_in_flight": args.max_in_flight,
                                 "load_average_at_start": load_average()}
    timings: dict[str, float] = {}
    for scenario in chosen(args):
        started = time.perf_counter()
        say(f"\n## Scenario {scenario}")
        if scenario == "1":
            bench.scenario1(n)
        elif scenario == "2":
            bench.scenario2(n2, "smoke" if args.smoke else "--n2" if n2 != N2 else
                            "chosen to take about a minute at the bound")
        elif scenario == "3":
            bench.scenario3(n)
        else:
            bench.scenario4(n)
        timings[scenario] = time.perf_counter() - started
        say(f"(scenario {scenario} took {timings[scenario]:.1f} s)")
    if args.rss_growth:
        started = time.perf_counter()
        say("\n## Peak RSS as N grows")
        bench.rss_growth(n)
        timings["rss-growth"] = time.perf_counter() - started
        say(f"(the RSS growth runs took {timings['rss-growth']:.1f} s)")
    bench.results["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    return bench


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    load = load_average()
    say(f"# zhiyuan-bridge benchmark{' (smoke)' if args.smoke else ''}: load average "
        f"{load:.2f} at start" + ("  (WARNING: the machine is busy; figures will suffer)"
                                  if load > 0.5 and not args.smoke else ""))
    holder = None if args.keep else tempfile.TemporaryDirectory(prefix="zyb-bench-")
    workdir = args.keep.resolve() if args.keep else Path(holder.name) if holder else Path()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        bench = run(args, workdir)
    except Failure as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if holder is not None:
            holder.cleanup()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(bench.results, ensure_ascii=False, indent=2),
                             encoding="utf-8")
        say(f"figures written to {args.json}")
    if bench.problems:
        say(f"\n{len(bench.problems)} problem(s): counts that differ from the manifest, "
            "or a peak RSS over the limit:")
        for line in bench.problems:
            say(f"- {line}")
    return 1 if args.smoke and bench.problems else 0


if __name__ == "__main__":
    sys.exit(main())
