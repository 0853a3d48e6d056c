"""`zybridge demo`: the main job on the embedded default — a sample 志愿云 store synced to
the sandbox national platform, twice (the second cycle shows a quiet cycle), with a summary."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

from bridge import config as config_mod
from bridge import logs
from bridge.report import STATUSES, print_status, status_document
from bridge.runtime import open_runtime
from bridge.sample import build_sample_store
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_JURISDICTION
from bridge.sandbox.harness import SandboxProcess

CONFIG = """\
[state]
path = "zybridge.db"

[log]
path = "zybridge.jsonl"
level = "info"

[national]
base_url = "{base_url}"
app_id = "{app_id}"
app_secret = "${{ZYBRIDGE_APP_SECRET}}"
jurisdiction = "{jurisdiction}"
rate_per_s = 18.0

[[sources]]
name = "haicang"
kind = "sql"
url = "sqlite:///haicang.db"
mapping = "zhiyuanyun"
every = "5m"
"""


def run_demo(workdir: Path, *, volunteers: int = 60) -> int:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    print(f"demo folder: {workdir.resolve()}")
    manifest = build_sample_store(workdir / "haicang.db", volunteers=volunteers)
    rows = Counter(entity for entity, _ in manifest.expected)
    print(f"sample 志愿云 store: {dict(rows)} rows")
    with SandboxProcess(db_path=workdir / "sandbox.db") as sandbox:
        print(f"sandbox national platform: {sandbox.base_url}")
        os.environ.setdefault("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
        path = workdir / "zybridge.toml"
        path.write_text(CONFIG.format(base_url=sandbox.base_url, app_id=DEMO_APP_ID,
                                      jurisdiction=DEMO_JURISDICTION), encoding="utf-8")
        cfg = config_mod.load(path)
        logs.setup(cfg.log.path, cfg.log.level)
        with open_runtime(cfg) as rt:
            first = rt.engine.cycle()
            second = rt.engine.cycle()
        stats = sandbox.stats()
        held = {e: len(sandbox.records(e)) for e in
                ("organizations", "volunteers", "projects", "service-records")}
    print(f"\nfirst cycle: {sum(first.pulled.values())} rows pulled, "
          f"{first.push.requests if first.push else 0} requests, "
          f"results {dict(first.push.items) if first.push else {}}, {first.seconds:.1f} s")
    print(f"second cycle (nothing changed): "
          f"{second.push.requests if second.push else 0} requests")
    print(f"the platform now holds: {held}; it answered {stats.get('total')} requests\n")
    doc = status_document(cfg)
    print_status(doc)
    totals = Counter[str]()
    for src in doc["sources"].values():
        for counts in src["entities"].values():
            totals.update({s: counts[s] for s in STATUSES})
    print(f"\nevery source row has one status: {sum(totals.values())} = "
          f"{sum(rows.values())} rows; config, state and logs are in {workdir}")
    print(f"try: zybridge --config {path} status   (export ZYBRIDGE_APP_SECRET first)")
    return 0 if first.ok else 1
