"""PIPL: no ID number, mobile, name or secret in clear in any log line or error message."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from pathlib import Path

from bridge import logs
from bridge.sandbox import DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest
from tests.system.helpers import cycle, make_config


def normalized(value: str) -> str:
    return re.sub(r"[\s\-+]", "", unicodedata.normalize("NFKC", value)).upper()


def pii_of(store: Path) -> set[str]:
    conn = sqlite3.connect(store)
    values: set[str] = set()
    for cert, mobile in conn.execute("SELECT cert_no, mobile FROM zyy_volunteer"):
        for v in (cert, mobile):
            if v and len(normalized(v)) >= 8:
                values.add(normalized(v)[-11:] if v == mobile else normalized(v))
    conn.close()
    return values


def test_a_full_sync_logs_no_pii_and_no_secret(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    cfg = make_config(tmp_path, sandbox, store)
    logs.setup(str(tmp_path / "bridge.jsonl"), "debug")
    logs.register_secrets([DEMO_APP_SECRET])
    cycle(cfg)
    text = (tmp_path / "bridge.jsonl").read_text(encoding="utf-8")
    assert text.count("\n") > 10, "the sync logged its work"
    flat = normalized(text)
    leaks = [v for v in pii_of(store) if v in flat]
    assert not leaks, f"{len(leaks)} ID numbers or mobiles appear in clear in the log"
    assert DEMO_APP_SECRET not in text


def test_the_redaction_processor_masks_exception_text() -> None:
    event = {"event": "boom", "exception": "ValueError: bad id 350205199001011234 for "
                                           "13800000000"}
    cleaned = logs.redaction(None, "error", event)
    assert "350205199001011234" not in cleaned["exception"]
    assert "13800000000" not in cleaned["exception"]
