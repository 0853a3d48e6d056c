"""Contender "raw limit" of scenario 4: the platform's intake with nothing of the bridge
in the way. `build` writes the bridge's own mapped payloads as 100-item batches to a
file, before any clock starts; `post` then sends them, entity after entity, from as many
connections as the bridge keeps in flight, as fast as the sandbox takes them (with
bench.sandbox_intake's client). Each prints one JSON line.

    python -m bench.raw build --store S --out FILE
    python -m bench.raw post --bodies FILE --root-url URL [--connections C] [--check]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.payloads import Tally, batches, store_items
from bench.sandbox_intake import drive


def build(store: Path, out: Path) -> dict[str, int]:
    """One line per batch: `<path>\\t<body>` (a JSON body holds no raw newline or tab)."""
    count = items = 0
    with out.open("wb") as f:
        for path, blob in batches(store_items(store)):
            f.write(path.encode("ascii") + b"\t" + blob + b"\n")
            count += 1
            items += blob.count(b'"external_ref":')
    return {"batches": count, "items": items}


def _lines(bodies: Path) -> Iterator[tuple[str, bytes]]:
    with bodies.open("rb") as f:
        for line in f:
            path, _, blob = line.rstrip(b"\n").partition(b"\t")
            yield path.decode("ascii"), blob


def post(bodies: Path, root: str, connections: int, tally: Tally) -> float:
    """Send every batch, one entity's batches after the other's; returns the seconds."""
    started = time.perf_counter()
    for path, group in itertools.groupby(_lines(bodies), key=lambda pair: pair[0]):
        drive(root, path, (blob for _, blob in group), connections, tally)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.raw", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the pre-built batches")
    b.add_argument("--store", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("post", help="post the pre-built batches")
    s.add_argument("--bodies", type=Path, required=True)
    s.add_argument("--root-url", required=True)
    s.add_argument("--connections", type=int, default=4)
    s.add_argument("--check", action="store_true",
                   help="count the rows acknowledged per entity (for the manifest check)")
    args = p.parse_args(argv)
    if args.command == "build":
        print(json.dumps(build(args.store, args.out)))
        return 0
    tally = Tally(track_rows=args.check)
    seconds = post(args.bodies, args.root_url, args.connections, tally)
    print(tally.dumps(seconds=seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
