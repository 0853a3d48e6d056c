"""Every file the bridge and the sandbox create is readable by their owner only (issue
18, operator-interface.md "Personal data the bridge keeps"): a demo run, a seal with its
anchor, an export, an archive and a backup, each as its own `zybridge` process, then
every file of the folder is 0600 (0640 allowed for a service group)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from bridge.commands.demo import AGENCY_TOKEN, SHEETS_KEY
from bridge.sandbox import DEMO_APP_SECRET
from state import keys

ENV = {"ZYBRIDGE_APP_SECRET": DEMO_APP_SECRET, "SHEGONG_TOKEN": AGENCY_TOKEN,
       "TAIBAO_REF_KEY": SHEETS_KEY, keys.KEY_ENV: "a-seal-key-of-the-file-modes-test"}


def zybridge(folder: Path, *argv: str) -> None:
    env = {**os.environ, **ENV, "ZYBRIDGE_CONFIG": str(folder / "zybridge.toml")}
    done = subprocess.run([sys.executable, "-m", "bridge", *argv], env=env, cwd=folder.parent,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])


def test_every_file_of_a_demo_run_and_a_backup_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    zybridge(folder, "demo", "--dir", str(folder), "--volunteers", "20")
    with (folder / "zybridge.toml").open("a", encoding="utf-8") as config:
        config.write('\n[audit]\nanchor_path = "var/anchor.jsonl"\n')
    zybridge(folder, "audit", "sign")
    zybridge(folder, "audit", "export", "--out", str(folder / "export.jsonl"))
    zybridge(folder, "state", "backup", str(folder / "backup.db"))
    zybridge(folder, "audit", "archive", "--before", "0d", "--out",
             str(folder / "archive.jsonl.gz"))
    files = {p: stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()}
    names = {p.relative_to(folder).as_posix() for p in files}
    assert {"zybridge.db", "zybridge.jsonl", "var/anchor.jsonl", "export.jsonl",
            "backup.db", "archive.jsonl.gz", "sandbox.db"} <= names, sorted(names)
    loose = {p.relative_to(folder).as_posix(): oct(m) for p, m in files.items()
             if m not in (0o600, 0o640)}
    assert not loose, loose
