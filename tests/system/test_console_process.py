"""The console as a process and its accounts: `zybridge console serve` with no platform
secret, `console user add|list|remove`, a removed account, the hand-off to a daemon."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from bridge.console import accounts, data
from bridge.sandbox import DEMO_APP_SECRET
from bridge.testing.harness import free_port
from tests.system.consoleworld import (
    ROOT,
    USERS,
    World,
    audit_actions,
    client,
    csrf_of,
    env_without_secrets,
    login,
    wait_for,
    world,
)

__all__ = ["client", "world"]  # fixtures


# the process and its accounts ---------------------------------------------------------


def test_the_console_serves_with_no_platform_secret_in_its_environment(world: World) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(world.config),
                             "console", "serve", "--listen", f"127.0.0.1:{port}"],
                            cwd=ROOT, env=env_without_secrets(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True) as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    page = http.get("/login")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() < deadline, "the console did not start"
                    time.sleep(0.2)
            answer = http.post("/login", data={"csrf": csrf_of(page.text), "name": "shenji",
                                               "password": USERS["shenji"][1]})
            assert answer.status_code == 200 and 'id="overview-title"' in answer.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _zybridge(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "--config", str(config), *args],
                          cwd=ROOT, env=env_without_secrets(), input=stdin, text=True,
                          capture_output=True, timeout=60)


def test_user_add_reads_the_password_from_stdin_and_keeps_only_an_scrypt_hash(
        tmp_path: Path, world: World) -> None:
    config = tmp_path / "zybridge.toml"
    config.write_text(world.config.read_text().replace(
        'users_file = "console-users.toml"', f'users_file = "{tmp_path / "u.toml"}"'))
    added = _zybridge(config, "console", "user", "add", "lina", "--role", "admin",
                      stdin="a-long-password-9\n")
    assert added.returncode == 0, added.stderr
    users = tmp_path / "u.toml"
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert "a-long-password-9" not in users.read_text() and "scrypt$" in users.read_text()
    assert accounts.authenticate(accounts.load(users), "lina", "a-long-password-9")
    assert "lina" in _zybridge(config, "console", "user", "list").stdout
    assert _zybridge(config, "console", "user", "remove", "lina").returncode == 0
    assert accounts.load(users) == {}


def test_user_add_refuses_a_short_password(tmp_path: Path, world: World) -> None:
    config = tmp_path / "zybridge.toml"
    config.write_text(world.config.read_text().replace(
        'users_file = "console-users.toml"', f'users_file = "{tmp_path / "u.toml"}"'))
    added = _zybridge(config, "console", "user", "add", "lina", "--role", "auditor",
                      stdin="short\n")
    assert added.returncode == 2 and "too short" in added.stderr
    assert not (tmp_path / "u.toml").exists()



def test_a_removed_account_loses_its_open_session(world: World, client: TestClient) -> None:
    users = world.folder / "console-users.toml"
    kept = users.read_bytes()
    accounts.add(users, "temp", "auditor", "temporary-pass-1")
    try:
        login(client, "temp", "temporary-pass-1")
        assert client.get("/runs", follow_redirects=False).status_code == 200
        accounts.remove(users, "temp")
        assert client.get("/runs", follow_redirects=False).headers["location"] == "/login"
    finally:
        users.write_bytes(kept)



# with a daemon: the hand-off (kept last: the daemon changes the shared state file) ------


def test_a_resync_of_more_than_100_rows_asks_first_then_goes_to_the_daemon(
        world: World, client: TestClient) -> None:
    env = {**env_without_secrets(), "ZYBRIDGE_APP_SECRET": DEMO_APP_SECRET}
    daemon = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(world.config),
                               "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        cfg = data.load_config(world.config)
        wait_for(lambda: data.daemon_running(cfg), "the daemon")
        login(client, "guanli")
        form = {"csrf": csrf_of(client.get("/").text), "source": "haicang",
                "entity": "service_record", "since": ""}
        asked = client.post("/actions/resync", data=form)
        assert 'id="confirm-text"' in asked.text and "超过 100 行" in asked.text
        done = client.post("/actions/resync", data={**form, "confirmed": "yes"},
                           follow_redirects=False)
        request_id = int(done.headers["location"].rsplit("/", 1)[1])
        row = wait_for(lambda: (r := data.request(cfg, request_id)) and
                        r["status"] in ("done", "failed") and r, "the daemon's answer")
        assert row["argv"] == ["resync", "--source", "haicang", "--entity", "service_record"]
        assert row["requested_by"] == "console:guanli" and row["status"] == "done"
        assert ("console resync", "guanli") in audit_actions(world)
        assert "已完成" in client.get(f"/requests/{request_id}").text
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)

