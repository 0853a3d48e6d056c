"""The bridge as a user runs it: a config file in a folder, `zybridge sync` in its own
process (measured alone), the sandbox national platform in another, and the figures one
run gives (`Sample`). Also `zybridge status --json` against the manifest, and the
pyinstrument profile of a sync.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import Usage, child_pid, proc_cpu_s, proc_peak_rss_mb, run_child
from bench.store import Expected
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_JURISDICTION
from bridge.testing.harness import SandboxProcess

ENV = {"ZYBRIDGE_APP_SECRET": DEMO_APP_SECRET}
UNLIMITED = 100_000.0  # the bridge's rate_per_s when the platform has no limit
NO_LIMIT = ("--rate-per-s", "0")
CONFIG = """\
[state]
path = "state.db"

[log]
path = "bridge.jsonl"
level = "info"

[national]
base_url = "{base_url}"
app_id = "{app_id}"
app_secret = "${{ZYBRIDGE_APP_SECRET}}"
jurisdiction = "{jurisdiction}"
timeout_s = 30.0
max_in_flight = {max_in_flight}
pipeline = {pipeline}
rate_per_s = {rate_per_s}

[[sources]]
name = "haicang"
kind = "sql"
url = "sqlite:///haicang.db"
mapping = "zhiyuanyun"
every = "5m"
"""


@dataclass(frozen=True)
class Sample:
    """One measured run of one contender: the sandbox's view of what arrived, and the
    contender's own process."""

    name: str
    volunteers: int
    items: int
    requests: int
    seconds: float
    cpu_s: float
    peak_rss_mb: float
    sandbox_cpu_s: float = 0.0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "items_per_s": round(self.items_per_s, 1),
                "requests_per_s": round(self.requests_per_s, 2)}


class Failure(RuntimeError):
    """A contender did not finish, or its counts do not match the manifest."""


def zybridge() -> list[str]:
    """The command a user types: the venv's `zybridge` script (else `python -m bridge`)."""
    script = Path(sys.executable).with_name("zybridge")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bridge"]


class BridgeFolder:
    """A bridge installation: its own copy of the store, config, state and log."""

    def __init__(self, folder: Path, store: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.store = folder / "haicang.db"
        shutil.copyfile(store, self.store)
        self.config = folder / "zybridge.toml"

    def configure(self, base_url: str, *, rate_per_s: float = UNLIMITED,
                  max_in_flight: int = 4, pipeline: bool = True) -> None:
        self.config.write_text(CONFIG.format(
            base_url=base_url, app_id=DEMO_APP_ID, jurisdiction=DEMO_JURISDICTION,
            max_in_flight=max_in_flight, rate_per_s=rate_per_s,
            pipeline=str(pipeline).lower()), encoding="utf-8")

    def sync(self, profile: Path | None = None) -> Usage:
        """`zybridge sync`, measured; under pyinstrument when `profile` names a file stem."""
        command = [*zybridge(), "--config", str(self.config), "sync"]
        if profile is not None:
            command = [sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o",
                       str(profile.with_suffix(".pyisession")), "-m", "bridge",
                       "--config", str(self.config), "sync"]
        usage = run_child(command, env=ENV, cwd=self.folder)
        if usage.returncode != 0:
            raise Failure(f"zybridge sync exited {usage.returncode}: "
                          f"{usage.stderr.strip()[-800:]}")
        if profile is not None:
            render_profile(profile)
        return usage

    def status(self) -> dict[str, dict[str, int]]:
        """Per entity, the counts `zybridge status --json` gives."""
        done = subprocess.run([*zybridge(), "--config", str(self.config), "status", "--json"],
                              capture_output=True, text=True, env={**os.environ, **ENV},
                              check=False)
        if done.returncode != 0:
            raise Failure(f"zybridge status exited {done.returncode}: {done.stderr[-800:]}")
        doc = json.loads(done.stdout)
        return {e: dict(c) for e, c in doc["sources"]["haicang"]["entities"].items()}


def render_profile(stem: Path) -> None:
    """STEM.html and STEM.txt from the recorded session (then removed: it is large)."""
    session = stem.with_suffix(".pyisession")
    for renderer, suffix in (("html", ".html"), ("text", ".txt")):
        subprocess.run([sys.executable, "-m", "pyinstrument", "--load", str(session),
                        "-r", renderer, "-o", str(stem.with_suffix(suffix))], check=True)
    session.unlink()


def mismatches(status: dict[str, dict[str, int]], expected: Expected) -> list[str]:
    """Where the bridge's status counts differ from the manifest's, e.g.
    `organization pending 1 (expected 0)`; empty when they agree."""
    out: list[str] = []
    for entity, want in expected.counts.items():
        got = status.get(entity, {})
        for name in sorted(set(want) | {k for k, v in got.items() if v}):
            if got.get(name, 0) != want.get(name, 0):
                out.append(f"{entity} {name} {got.get(name, 0)} (expected {want.get(name, 0)})")
    return out


def sandbox_figures(sandbox: SandboxProcess) -> tuple[int, int, dict[str, Any]]:
    """(items received, requests, the whole stats document) since the last reset."""
    stats = sandbox.stats()
    return int(stats["items"]), int(stats["total"]), stats


class SandboxWatch:
    """The sandbox process's CPU seconds and peak RSS, read from /proc."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        self.pid = child_pid(f"bridge.sandbox --port {sandbox.port}")
        self.start = self.cpu()

    def cpu(self) -> float:
        return proc_cpu_s(self.pid) if self.pid else 0.0

    def spent(self) -> float:
        return self.cpu() - self.start

    def peak_rss_mb(self) -> float:
        return proc_peak_rss_mb(self.pid) if self.pid else 0.0


def sandbox(db: Path, extra: Sequence[str] = NO_LIMIT) -> SandboxProcess:
    """A sandbox on its own file, started (rate limit off unless `extra` says otherwise)."""
    return SandboxProcess(db_path=db, extra_args=list(extra)).start()
