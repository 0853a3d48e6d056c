"""`zybridge demo`: the main job on the embedded default — a sample 志愿云 store synced to
the sandbox national platform, twice (the second cycle shows a quiet cycle), with a summary."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

from bridge.commands.render import Sub
from bridge.errors import ConfigError

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

[[sources]]
name = "shegong"
kind = "http"
url = "{agency_url}"
token = "${{SHEGONG_TOKEN}}"
mapping = "shegong"
projects_from = "haicang"
every = "10m"

[[sources]]
name = "taibao"
kind = "files"
path = "inbox/taibao"
mapping = "taiwan_sheets"
projects_from = "haicang"
ref_key = "${{TAIBAO_REF_KEY}}"
every = "1h"
"""
MARK = ".zybridge-demo"   # in every folder the demo made: only those it replaces unasked
ENTITIES = ("organization", "volunteer", "project", "service_record")
AGENCY_TOKEN = "shegong-demo-token"
SHEETS_KEY = "taibao-demo-ref-key"


def register(sub: Sub) -> None:
    d = sub.add_parser("demo", help="sample 志愿云 store → sandbox platform, one sync, a summary",
                       description="Builds a sample store, starts the sandbox, syncs twice.")
    d.add_argument("--dir", default="var/demo", help="working folder (default: var/demo)")
    d.add_argument("--volunteers", type=int, default=60, help="sample volunteers (default: 60)")
    d.add_argument("--yes", "--force", dest="replace", action="store_true",
                   help="replace --dir even when it is not a folder an earlier demo made "
                   "(without it: asks on a terminal, refuses elsewhere)")
    d.set_defaults(func=cmd_demo, needs_config=False)


def cmd_demo(args: argparse.Namespace) -> int:
    workdir = Path(args.dir).expanduser()
    prepare(workdir, replace=args.replace)
    return run_demo(workdir, volunteers=args.volunteers)


def prepare(workdir: Path, *, replace: bool = False) -> None:
    """An empty demo folder at `workdir`: a folder an earlier demo made (it holds MARK) is
    replaced; any other folder with something in it only with `replace` or a yes at the
    terminal, else nothing is deleted and the command stops (exit 2)."""
    if workdir.is_symlink() or (workdir.exists() and not workdir.is_dir()):
        raise ConfigError(f"demo --dir {workdir}: not a folder; choose another --dir")
    if workdir.is_dir() and any(workdir.iterdir()):
        if not ((workdir / MARK).is_file() or replace or _agreed(workdir)):
            raise ConfigError(f"demo --dir {workdir}: the folder exists and was not made by "
                              "`zybridge demo`; nothing was deleted. Choose another --dir, "
                              "or pass --yes to delete it and everything in it")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARK).write_text("made by `zybridge demo`, which replaces this folder when "
                                "run again\n", encoding="utf-8")


def _agreed(workdir: Path) -> bool:
    if not sys.stdin.isatty():
        return False
    entries = sum(1 for _ in workdir.iterdir())
    answer = input(f"{workdir} exists ({entries} entries) and was not made by zybridge demo; "
                   "delete it and everything in it? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def run_demo(workdir: Path, *, volunteers: int = 60) -> int:
    """The demo in `workdir`, a folder prepare() made ready."""
    # imported here: `import bridge.cli` stays quick for every other command
    from bridge import config as config_mod
    from bridge import logs
    from bridge.commands.progress import bars
    from bridge.commands.status import print_status
    from bridge.ops.status import STATUSES, status_document
    from bridge.progress import Silent
    from bridge.runtime import open_runtime
    from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_JURISDICTION
    from bridge.testing.agency import AgencyServer
    from bridge.testing.demo_sources import fill_agency, write_sheets
    from bridge.testing.harness import SandboxProcess
    from bridge.testing.sample import build_sample_store

    print(f"demo folder: {workdir.resolve()}")
    manifest = build_sample_store(workdir / "haicang.db", volunteers=volunteers)
    rows = Counter(entity for entity, _ in manifest.expected)
    print(f"sample 志愿云 store: {dict(rows)} rows")
    write_sheets(workdir / "inbox" / "taibao", workdir / "haicang.db")
    with SandboxProcess(db_path=workdir / "sandbox.db") as sandbox, \
            AgencyServer(workdir / "agency.db", token=AGENCY_TOKEN) as agency:
        fill_agency(agency, workdir / "haicang.db")
        print(f"sandbox national platform: {sandbox.base_url}")
        print(f"social-work agency system: {agency.url}; Taiwan sheets: inbox/taibao")
        os.environ.setdefault("ZYBRIDGE_APP_SECRET", DEMO_APP_SECRET)
        os.environ.setdefault("SHEGONG_TOKEN", AGENCY_TOKEN)
        os.environ.setdefault("TAIBAO_REF_KEY", SHEETS_KEY)
        path = workdir / "zybridge.toml"
        path.write_text(CONFIG.format(base_url=sandbox.base_url, app_id=DEMO_APP_ID,
                                      jurisdiction=DEMO_JURISDICTION, agency_url=agency.url),
                        encoding="utf-8")
        cfg = config_mod.load(path)
        logs.setup(cfg.log.path, cfg.log.level)
        with open_runtime(cfg) as rt:
            with bars() as progress:   # rich bars when stderr is a terminal
                rt.engine.progress = progress
                first = rt.engine.cycle()
            rt.engine.progress = Silent()
            second = rt.engine.cycle()
        stats = sandbox.stats()
        counted = sandbox.counts()   # not every record over HTTP: at 20,000 volunteers
        held = {e: counted.get(e, 0) for e in ENTITIES}   # that outlasts any timeout
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
    print(f"\nevery source row has one status ({sum(totals.values())} rows over three "
          f"sources; the 志愿云 store alone has {sum(rows.values())}); config, state and "
          f"logs are in {workdir}")
    print(f"try: zybridge --config {path} status   (with ZYBRIDGE_APP_SECRET, SHEGONG_TOKEN "
          "and TAIBAO_REF_KEY exported: the demo's values are in bridge/commands/demo.py)")
    return 0 if first.ok else 1
