"""The sandbox against a local user (issue 18): its control endpoints are off unless
`--control`, and then need their token; its files are 0600; its temporary database goes
when it is stopped by SIGTERM or SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bridge import signing
from bridge.sandbox import BASE_PATH, DEMO_APP_ID, DEMO_APP_SECRET
from bridge.sandbox.cli import CONTROL_TOKEN_ENV, main
from bridge.testing.harness import SandboxProcess, free_port


@contextmanager
def served(*args: str) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """`python -m bridge.sandbox serve` as an operator starts it: (process, root url, the
    database path it announced)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != CONTROL_TOKEN_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "bridge.sandbox", "serve", "--port",
                             str(port), *args], stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        announced = proc.stderr.readline()
        db = announced.split(" db=")[1].split(" ")[0]
        root = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(root + BASE_PATH + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield proc, root, db
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_without_control_the_control_endpoints_are_not_served(tmp_path: Path) -> None:
    with served("--db", str(tmp_path / "s.db")) as (_, root, _db):
        assert httpx.get(root + "/_sandbox/records/volunteers").status_code == 404


def test_the_control_endpoints_refuse_a_call_without_the_token(tmp_path: Path) -> None:
    with SandboxProcess(tmp_path / "s.db") as sandbox:
        assert httpx.get(sandbox.root_url + "/_sandbox/records/volunteers").status_code == 401
        wrong = {"Authorization": "Bearer " + "0" * 32}
        assert httpx.get(sandbox.root_url + "/_sandbox/stats", headers=wrong).status_code == 401
        assert sandbox.stats()["total"] == 0, "the harness holds the token"


def test_control_without_a_token_in_the_environment_is_a_config_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONTROL_TOKEN_ENV, raising=False)
    assert main(["serve", "--control", "--db", str(tmp_path / "x.db")]) == 2
    assert CONTROL_TOKEN_ENV in capsys.readouterr().err


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_the_temporary_database_is_removed_when_stopped(stop: signal.Signals) -> None:
    with served() as (proc, root, db):
        signed = signing.sign_headers(DEMO_APP_ID, DEMO_APP_SECRET, "GET",
                                      BASE_PATH + "/volunteers")
        assert httpx.get(root + BASE_PATH + "/volunteers", headers=signed).status_code == 200
        assert Path(db).exists()
        proc.send_signal(stop)
        assert proc.wait(timeout=15) == 0
    assert [s for s in ("", "-wal", "-shm") if Path(db + s).exists()] == []


def test_the_sandbox_database_and_its_wal_are_private(tmp_path: Path) -> None:
    with SandboxProcess(tmp_path / "s.db") as sandbox:
        signed = signing.sign_headers(DEMO_APP_ID, DEMO_APP_SECRET, "GET",
                                      BASE_PATH + "/volunteers")
        httpx.get(sandbox.base_url + "/volunteers", headers=signed)
        modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert {"s.db", "s.db-wal", "s.db-shm"} <= set(modes)
    assert set(modes.values()) == {0o600}, modes
