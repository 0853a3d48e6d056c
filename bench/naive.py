"""Contender "naive loop" of scenario 4: what a first script would do. Read the store,
map each row with our mapping, and post each item alone: one signed request per record,
no batching, no concurrency, one keep-alive connection. Bounded by items or seconds,
whichever comes first. Prints one JSON line: requests, items, statuses, seconds.

    python -m bench.naive --store S --root-url URL [--max-items N] [--max-s S] [--check]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

import httpx

from bench.payloads import Tally, body, path_of, store_items
from bench.sandbox_intake import post


def run(store: Path, root: str, max_items: int, max_s: float, tally: Tally) -> float:
    """Post items until the bound; returns the seconds it took (mapping included)."""
    started = time.perf_counter()
    with httpx.Client(timeout=60.0) as client:
        for entity, item in store_items(store):
            if tally.items >= max_items or time.perf_counter() - started >= max_s:
                break
            doc = post(client, root, path_of(entity), body([item]), f"naive-{uuid.uuid4().hex}")
            tally.count(doc["data"]["results"])
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.naive", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--root-url", required=True, help="the sandbox, e.g. http://127.0.0.1:8750")
    p.add_argument("--max-items", type=int, default=2000)
    p.add_argument("--max-s", type=float, default=30.0)
    p.add_argument("--check", action="store_true",
                   help="count the rows acknowledged per entity (for the manifest check)")
    args = p.parse_args(argv)
    tally = Tally(track_rows=args.check)
    seconds = run(args.store, args.root_url, args.max_items, args.max_s, tally)
    print(tally.dumps(seconds=seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
