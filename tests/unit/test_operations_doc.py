"""docs/operations.md against what ships: every contrib/ file it installs exists, every
metric and alert it explains is the one contrib/ and the bridge use, and it never tells
an operator to back up with sqlite3 or cp."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_contrib import exported_names

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def test_every_contrib_file_the_doc_installs_exists() -> None:
    named = set(re.findall(r"contrib/([\w@.\-]+\w)", DOC))
    assert {"zybridge.service", "zybridge@.service", "zybridge.toml",
            "zybridge.sysusers", "zybridge.rules.yml"} <= named
    assert {n for n in named if not (ROOT / "contrib" / n).is_file()} == set()


def test_every_alert_of_the_rules_is_explained_in_the_doc() -> None:
    rules = (ROOT / "contrib" / "zybridge.rules.yml").read_text(encoding="utf-8")
    alerts = set(re.findall(r"- alert: (\w+)", rules))
    explained = set(re.findall(r"^\| `(Zybridge\w+)` \|", DOC, re.M))
    assert alerts and alerts == explained


def test_every_metric_the_doc_names_is_exported(tmp_path: Path) -> None:
    named = set(re.findall(r"`(zybridge_[a-z_]+)", DOC))
    assert "zybridge_source_paused" in named
    exported = exported_names(tmp_path)
    bases = exported | {n.rsplit("_", 1)[0] for n in exported if n.endswith("_bucket")}
    assert named <= bases, named - bases


def test_the_doc_backs_up_with_the_backup_command_only() -> None:
    commands = "\n".join(re.findall(r"```(?:sh|console)\n(.*?)```", DOC, re.S))
    assert "state backup" in DOC and "state restore" in commands
    assert not re.search(r"\bsqlite3\b|\bcp\b", commands)
