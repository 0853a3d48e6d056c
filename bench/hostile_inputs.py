"""Peak memory of the bridge on hostile inputs (issue 16): each case is read in a fresh
child process, whose peak RSS (ru_maxrss) and time are printed. Target: < 200 MB each,
and each refused with a reason.

    python -m bench.hostile_inputs [--csv-mb 200] [--page-mb 400] [--smoke]

Cases: a 10 KB XLSX with one merged range over the whole sheet (a merged-range bomb);
a CSV of `--csv-mb` MB (refused by `max_file_mb`, never read); a CSV just under the size
limit (read row by row up to `max_rows`); an agency page of `--page-mb` MB (refused by
`max_page_mb` while it streams).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fixtures.sheets import csv_bytes, hostile_xlsx, sheet_row

KEY = "bench-ref-key"


def child(kind: str, path: str, size: int) -> None:
    """Run one case in this process and print {"rss_mb", "seconds", "outcome"}."""
    started = time.monotonic()
    if kind == "files":
        from adapters.files import open_files_source

        src = open_files_source(Path(path), Path(path), mapping="taiwan_sheets", ref_key=KEY)
        rows = [r for p in src.read_changes("volunteer", None, 0, 500) for r in p.rows]
        refusals = [read.refusal.code for _, read in src.outcomes() if read.refusal]
        outcome = f"{len(rows)} rows, refused: {refusals}"
    else:
        from adapters.http import open_http_source
        from bridge.errors import TransientError
        from bridge.testing.agency import AgencyServer

        with AgencyServer(token="t") as agency:
            agency.set_faults(hostile={"huge_mb": size})
            source = open_http_source(agency.url, "t")
            try:
                list(source.read_changes("volunteer", None, 0, 50))
                outcome = "read"
            except TransientError as exc:
                outcome = str(exc)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rss_mb": round(rss, 1), "seconds": round(time.monotonic() - started, 2),
                      "outcome": outcome}, ensure_ascii=False))


def big_csv(path: Path, mb: int) -> None:
    """A CSV of about `mb` MB, every row another person and time, 2,000 rows a block."""
    with path.open("wb") as out:
        n = 0
        while out.tell() < mb * (1 << 20):
            rows = [sheet_row(f"2026-05-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00",
                              f"2026-05-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:30",
                              证件号码=f"1{i:07d}", 姓名=f"陈{chr(0x4e00 + i % 20000)}玲",
                              服务内容=f"第{i}次社区服务")
                    for i in range(n, n + 2000)]
            data = csv_bytes(rows)
            out.write(data if n == 0 else data.split(b"\r\n", 1)[1])
            n += 2000


def run(kind: str, path: Path, size: int = 0) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "bench.hostile_inputs", "--child", kind,
                          str(path), str(size)], check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv-mb", type=int, default=200)
    parser.add_argument("--page-mb", type=int, default=400)
    parser.add_argument("--smoke", action="store_true", help="small sizes, for the tests")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    csv_mb, page_mb, under_mb = (30, 40, 2) if args.smoke else (args.csv_mb, args.page_mb, 19)
    with tempfile.TemporaryDirectory(prefix="zy-hostile-") as tmp:
        cases: dict[str, dict[str, object]] = {}
        for name in ("bomb", "big", "under"):
            (Path(tmp) / name).mkdir()
        bomb = Path(tmp) / "bomb" / "bomb.xlsx"
        bomb.write_bytes(hostile_xlsx([sheet_row()], merged="A1:XFD1048576"))
        cases[f"merged-range bomb ({bomb.stat().st_size // 1024} KB XLSX)"] = run(
            "files", bomb.parent)
        big_csv(Path(tmp) / "big" / "big.csv", csv_mb)
        cases[f"{csv_mb} MB CSV"] = run("files", Path(tmp) / "big")
        big_csv(Path(tmp) / "under" / "under.csv", under_mb)
        cases[f"{under_mb} MB CSV (under the limit)"] = run("files", Path(tmp) / "under")
        cases[f"{page_mb} MB agency page"] = run("http", Path(tmp), page_mb)
    width = max(len(k) for k in cases)
    print(f"{'case':<{width}}  peak RSS    time  outcome")
    for name, result in cases.items():
        print(f"{name:<{width}}  {result['rss_mb']:>6} MB {result['seconds']:>6} s  "
              f"{result['outcome']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
