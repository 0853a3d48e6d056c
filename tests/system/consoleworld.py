"""The console tests' world: two sources with the same people synced to the sandbox
platform, two console accounts, and the moves a test makes (log in, read a token)."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from bridge import config as config_mod
from bridge.console import accounts, data
from bridge.console.app import create_app
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import build_sample_store
from tests.system.helpers import cycle

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("haicang", "xinyang")
USERS = {"shenji": ("auditor", "auditor-pass-1"), "guanli": ("admin", "admin-pass-12")}
GET_PAGES = ("/", "/runs", "/quarantine", "/dead-letters", "/record", "/person", "/charts",
             "/chain", "/export")


@dataclass
class World:
    folder: Path
    config: Path
    sandbox: SandboxProcess
    person: str        # an ID number with service records in both sources
    ids: set[str]      # every ID number in the sources
    mobiles: set[str]  # every mobile in the sources


def write_config(folder: Path, sandbox: SandboxProcess, every: str = "1s") -> Path:
    sources = "".join(f"""
[[sources]]
name = "{name}"
kind = "sql"
url = "sqlite:///{folder / name}.db"
mapping = "zhiyuanyun"
every = "{every}"
reconcile_cron = ""
""" for name in SOURCES)
    path = folder / "zybridge.toml"
    path.write_text(f"""
[state]
path = "state.db"
[log]
path = "bridge.jsonl"
[national]
base_url = "{sandbox.base_url}"
app_id = "{DEMO_APP_ID}"
app_secret = "${{ZYBRIDGE_APP_SECRET}}"
jurisdiction = "3502"
rate_per_s = 500.0
[console]
listen = "127.0.0.1:0"
users_file = "console-users.toml"
{sources}""", encoding="utf-8")
    return path


def build_world(folder: Path, sandbox: SandboxProcess) -> World:
    """Two sources with the same people (seed), one sync, two console accounts."""
    for name in SOURCES:
        build_sample_store(folder / f"{name}.db", volunteers=30, seed=3, invalid_share=0.1)
    config = write_config(folder, sandbox)
    cfg = config_mod.load(config, {"ZYBRIDGE_APP_SECRET": DEMO_APP_SECRET})
    assert cycle(cfg).ok
    for name, (role, password) in USERS.items():
        accounts.add(folder / "console-users.toml", name, role, password)
    ids, mobiles = set(), set()
    for name in SOURCES:
        conn = sqlite3.connect(folder / f"{name}.db")
        for cert, mobile in conn.execute("SELECT cert_no, mobile FROM zyy_volunteer"):
            ids |= {str(cert).strip().upper()} if cert and len(str(cert)) >= 15 else set()
            mobiles |= {str(mobile).strip()} if mobile and len(str(mobile)) >= 11 else set()
        conn.close()
    return World(folder, config, sandbox, _person_in_both(folder / "state.db"), ids, mobiles)


def _person_in_both(state: Path) -> str:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT json_extract(v.parts, '$[0][1].id_number') FROM rows v JOIN rows r "
            "ON json_extract(r.parts, '$[0][1].volunteer_external_ref') = v.base_ref "
            "WHERE v.entity = 'volunteer' AND r.entity = 'service_record' "
            "AND v.status = 'synced' GROUP BY 1 HAVING COUNT(DISTINCT r.source) = 2 "
            "LIMIT 1").fetchone()
    finally:
        conn.close()
    return str(row[0])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("console")
    with SandboxProcess(db_path=folder / "sandbox.db", extra_args=["--rate-per-s", "0"]) as sb:
        yield build_world(folder, sb)


@pytest.fixture
def client(world: World, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.delenv("ZYBRIDGE_APP_SECRET", raising=False)
    return TestClient(create_app(data.load_config(world.config)))


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found[1]


def login(client: TestClient, name: str, password: str | None = None) -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "name": name,
                                       "password": password or USERS[name][1]},
                       follow_redirects=False)


def audit_actions(world: World) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{world.folder / 'state.db'}?mode=ro", uri=True)
    try:
        return [(a, u) for a, u in conn.execute(
            "SELECT json_extract(data, '$.action'), json_extract(data, '$.user') FROM audit "
            "WHERE kind = 'admin' ORDER BY seq")]
    finally:
        conn.close()




def env_without_secrets() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("ZYBRIDGE_APP_SECRET", "ZYBRIDGE_AUDIT_KEY")}


def wait_for(predicate: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")
