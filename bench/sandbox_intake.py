"""Raw intake of the sandbox national platform: how many items/s it takes.

    python -m bench.sandbox_intake [--items N] [--connections C] [--smoke]

Starts a sandbox with rate limiting off, then posts pre-built valid 100-item batches
(volunteers, then one service record per volunteer) from C concurrent connections as
fast as the server takes them. Prints items/s and requests/s. The target on a 2-core
machine is ≥ 2,500 items/s (DESIGN.md, "Performance targets").
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

import httpx

from bridge import signing
from bridge.sandbox import BASE_PATH, DEMO_APP_ID, DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess

TARGET_ITEMS_PER_S = 2500.0
BATCH = 100
AREA = "350205000000000000"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(i: int) -> tuple[str, str, str]:
    """A distinct valid 18-digit ID for each i: (number, birth date, gender)."""
    birth = date(1960, 1, 1) + timedelta(days=i // 900)
    body = f"350205{birth:%Y%m%d}{100 + i % 900:03d}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11]
    return body + check, birth.isoformat(), "1" if int(body[16]) % 2 else "2"


def volunteer(run: str, i: int) -> dict[str, Any]:
    number, birth, gender = id_number(i)
    return {"external_ref": f"bench{run}:volunteer:{i}", "name": "林志贵", "id_type": "01",
            "id_number": number, "gender": gender, "birth_date": birth,
            "nationality": "156", "ethnicity": "01", "mobile": f"138{i % 10**8:08d}",
            "area_code": AREA, "registered_at": "2024-03-01T09:00:00+08:00",
            "organization_external_refs": [f"bench{run}:organization:1"],
            "skills": ["急救"], "status": "active"}


def record(run: str, i: int) -> dict[str, Any]:
    day = date(2025, 1, 2) + timedelta(days=i % 300)
    return {"external_ref": f"bench{run}:service_record:{i}",
            "volunteer_external_ref": f"bench{run}:volunteer:{i}",
            "project_external_ref": f"bench{run}:project:1",
            "start_at": f"{day}T09:00:00+08:00", "end_at": f"{day}T11:30:00+08:00",
            "hours": 2.5, "content": "社区环境整治", "recorder": "王芳",
            "recorded_at": f"{day}T12:00:00+08:00", "entry_method": "1"}


def parents(run: str) -> list[tuple[str, dict[str, Any]]]:
    org = {"external_ref": f"bench{run}:organization:1", "name": "海沧区志愿服务队",
           "org_type": "1", "area_code": AREA, "service_categories": ["0001"],
           "contact_name": "陈明", "contact_phone": "0592-6051234", "status": "active"}
    project = {"external_ref": f"bench{run}:project:1", "name": "社区环境整治",
               "organization_external_ref": f"bench{run}:organization:1",
               "service_categories": ["0006"], "area_code": AREA, "address": "海沧街道",
               "start_at": "2025-01-01T00:00:00+08:00", "end_at": "2025-12-31T23:59:59+08:00",
               "recruit_count": 100, "description": "每周一次", "contact_name": "陈明",
               "contact_phone": "13900000000", "status": "running"}
    return [("/organizations/batch", {"items": [org]}), ("/projects/batch", {"items": [project]})]


class Counts(Protocol):
    """Where `drive` reports each response's results (called under its lock)."""

    def count(self, results: list[dict[str, Any]]) -> None: ...


@dataclass
class Tally:
    requests: int = 0
    items: int = 0
    statuses: Counter[str] = field(default_factory=Counter)

    def count(self, results: list[dict[str, Any]]) -> None:
        self.requests += 1
        self.items += len(results)
        self.statuses.update(r["status"] for r in results)


def post(client: httpx.Client, root: str, path: str, body: bytes, key: str) -> dict[str, Any]:
    full = BASE_PATH + path
    headers = signing.sign_headers(DEMO_APP_ID, DEMO_APP_SECRET, "POST", full, (), body)
    headers.update({"Idempotency-Key": key, "Content-Type": "application/json"})
    response = client.post(root + full, content=body, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
    return dict(response.json())


def drive(root: str, path: str, bodies: Iterable[bytes], connections: int,
          tally: Counts) -> None:
    """Post every body, in order, from `connections` threads, each with its own keep-alive
    client; `bodies` is consumed lazily (a file of pre-built batches stays on disk)."""
    lock = threading.Lock()
    queue = enumerate(bodies)
    errors: list[BaseException] = []

    def worker() -> None:
        with httpx.Client(timeout=60.0) as client:
            while True:
                with lock:
                    if errors:
                        return
                    index, body = next(queue, (-1, b""))
                    if index < 0:
                        return
                try:
                    key = f"{path.strip('/').replace('/', '.')}:{index}:{time.time_ns()}"
                    doc = post(client, root, path, body, key)
                except BaseException as exc:  # reported by the main thread
                    with lock:
                        errors.append(exc)
                    return
                with lock:
                    tally.count(doc["data"]["results"])

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def batches(items: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps({"items": items[i:i + BATCH]}, ensure_ascii=False).encode()
            for i in range(0, len(items), BATCH)]


def run(total_items: int, connections: int) -> dict[str, float]:
    run_id = str(time.time_ns())[-8:]
    people = max(1, total_items // 2)
    vol_bodies = batches([volunteer(run_id, i) for i in range(people)])
    rec_bodies = batches([record(run_id, i) for i in range(people)])
    with SandboxProcess(extra_args=["--rate-per-s", "0"]) as sandbox, \
            httpx.Client(timeout=30.0) as client:
        for index, (path, doc) in enumerate(parents(run_id)):
            post(client, sandbox.root_url, path, json.dumps(doc).encode(), f"parent:{index}")
        sandbox.reset_stats()
        tally = Tally()
        started = time.perf_counter()
        drive(sandbox.root_url, "/volunteers/batch", vol_bodies, connections, tally)
        drive(sandbox.root_url, "/service-records/batch", rec_bodies, connections, tally)
        seconds = time.perf_counter() - started
        stats = sandbox.stats()
    if set(tally.statuses) != {"created"} or tally.items != 2 * people:
        raise RuntimeError(f"not every item was created: {dict(tally.statuses)}")
    return {"items": tally.items, "requests": tally.requests, "seconds": seconds,
            "items_per_s": tally.items / seconds, "requests_per_s": tally.requests / seconds,
            "server_items": stats["items"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sandbox_intake", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=20_000, help="items to post (default 20000)")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--smoke", action="store_true", help="a tiny run that checks it works")
    args = p.parse_args(argv)
    items = 400 if args.smoke else args.items
    result = run(items, args.connections)
    print(f"sandbox intake: {result['items']:.0f} items in {result['requests']:.0f} requests, "
          f"{result['seconds']:.2f} s: {result['items_per_s']:.0f} items/s, "
          f"{result['requests_per_s']:.1f} requests/s "
          f"(target {TARGET_ITEMS_PER_S:.0f} items/s)")
    if args.smoke:
        assert result["server_items"] == result["items"], result
        return 0
    return 0 if result["items_per_s"] >= TARGET_ITEMS_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())
