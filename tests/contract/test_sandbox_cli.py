"""The sandbox's command line, apps file and harness."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bridge import signing
from bridge.sandbox import BASE_PATH, DEMO_APP_ID, DEMO_APP_SECRET
from bridge.sandbox.cli import main
from bridge.testing.harness import SandboxError, SandboxProcess
from tests.contract.conftest import SECRET_ENV, write_apps


def test_without_an_apps_file_the_demo_app_is_served(tmp_path: Path) -> None:
    with SandboxProcess(tmp_path / "demo.db") as sandbox:
        headers = signing.sign_headers(DEMO_APP_ID, DEMO_APP_SECRET, "GET",
                                       BASE_PATH + "/volunteers")
        response = httpx.get(sandbox.base_url + "/volunteers", headers=headers)
        assert response.status_code == 200
        assert sandbox.db_path.exists()


def test_a_missing_secret_variable_stops_the_start_with_its_name(tmp_path: Path) -> None:
    sandbox = SandboxProcess(tmp_path / "s.db", apps=write_apps(tmp_path),
                             env={SECRET_ENV: ""}, startup_timeout_s=10)
    sandbox.env.pop(SECRET_ENV)
    with pytest.raises(SandboxError, match=SECRET_ENV):
        sandbox.start()
    sandbox.close()


def test_a_malformed_apps_file_is_a_config_error(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    apps = tmp_path / "apps.toml"
    apps.write_text('[[apps]]\nid = "a"\nsecret = "s"\n', encoding="utf-8")
    assert main(["serve", "--apps", str(apps), "--db", str(tmp_path / "x.db")]) == 2
    assert "jurisdiction" in capsys.readouterr().err


def test_no_control_hides_the_control_endpoints(tmp_path: Path) -> None:
    with SandboxProcess(tmp_path / "s.db", extra_args=["--no-control"]) as sandbox:
        assert httpx.get(sandbox.root_url + "/_sandbox/stats").status_code == 404


def test_serve_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["serve", "--help"])
    assert stop.value.code == 0
    assert "--drop-rate" in capsys.readouterr().out


def test_restart_keeps_the_port_and_the_file(tmp_path: Path) -> None:
    with SandboxProcess(tmp_path / "s.db") as sandbox:
        port = sandbox.port
        sandbox.restart()
        assert sandbox.port == port and sandbox.running
        assert httpx.get(sandbox.base_url + "/health").status_code == 200
