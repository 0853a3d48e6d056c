"""Config problems are config errors (exit 2, one line naming the key), `check` refuses
what `run` refuses, and read-only commands need no secret (operator-interface.md
"Configuration, checked once, the same everywhere")."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import cli, config
from bridge.errors import ConfigError
from bridge.testing.sample import build_sample_store
from state.store import StateStore

SECRET = "s3cret-for-the-test"
ROOT = Path(__file__).resolve().parents[2]


def write(folder: Path, *, source: str = "", top: str = "",
          state: str = "state.db", log: str = "bridge.jsonl") -> Path:
    path = folder / "zybridge.toml"
    path.write_text(f"""{top}
[state]
path = "{state}"
[log]
path = "{log}"
[national]
base_url = "http://127.0.0.1:9/openapi/v1"
app_id = "haicang-demo"
app_secret = "${{ZYB_TEST_APP_SECRET}}"
[[sources]]
name = "haicang"
kind = "sql"
url = "sqlite:///haicang.db"
mapping = "zhiyuanyun"
{source}
""", encoding="utf-8")
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("ZYB_TEST_APP_SECRET", SECRET)
    yield monkeypatch


def run_cli(capsys: pytest.CaptureFixture[str], path: Path, *argv: str) -> tuple[int, str]:
    code = cli.main(["--config", str(path), *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("key,line", [
    ("cron", 'cron = "61 * * * *"'),
    ("reconcile_cron", 'reconcile_cron = "every night"'),
])
def test_an_invalid_schedule_is_refused_at_load_naming_its_key(
        tmp_path: Path, key: str, line: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.load(write(tmp_path, source=line), {"ZYB_TEST_APP_SECRET": "x"})
    assert f"sources[0].{key}:" in str(err.value)
    assert "\n" not in str(err.value)


def test_check_and_run_both_refuse_an_invalid_reconcile_cron_with_exit_2(
        tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, source='reconcile_cron = "30 25 * * *"')
    run_code, run_out = run_cli(capsys, path, "run")
    check_code, check_out = run_cli(capsys, path, "check")
    assert (run_code, check_code) == (2, 2)
    assert "sources[0].reconcile_cron" in run_out
    assert "sources[0].reconcile_cron" in check_out
    assert len(run_out.strip().splitlines()) == 1


def test_an_every_of_zero_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources\[0\]\.every: .*longer than 0"):
        config.load(write(tmp_path, source='every = "0m"'), {"ZYB_TEST_APP_SECRET": "x"})


def test_a_metrics_port_out_of_range_is_refused_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, top='[metrics]\nlisten = "127.0.0.1:70000"')
    with pytest.raises(ConfigError, match=r"metrics\.listen: .*between 1 and 65535"):
        config.load(path, {"ZYB_TEST_APP_SECRET": "x"})


def test_an_empty_reconcile_cron_turns_the_nightly_reread_off(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, source='reconcile_cron = ""'),
                      {"ZYB_TEST_APP_SECRET": "x"})
    assert cfg.sources[0].reconcile_cron == ""


def test_a_tilde_in_a_path_is_the_users_home(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = config.load(write(tmp_path, state="~/zyb/state.db", log="~/zyb/log.jsonl"),
                      {"ZYB_TEST_APP_SECRET": "x"})
    assert cfg.state.path == tmp_path / "home" / "zyb" / "state.db"
    assert cfg.log.path == str(tmp_path / "home" / "zyb" / "log.jsonl")


def test_run_refuses_a_state_path_that_cannot_be_created_naming_the_key(
        tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder", encoding="utf-8")
    code, out = run_cli(capsys, write(tmp_path, state="blocker/state.db"), "run")
    assert code == 2
    assert "state.path:" in out and "is a file, not a folder" in out


def test_sync_refuses_a_state_path_that_cannot_be_created_naming_the_key(
        tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "blocker").write_text("a file", encoding="utf-8")
    code, out = run_cli(capsys, write(tmp_path, state="blocker/state.db"), "sync")
    assert code == 2 and "state.path:" in out


def test_a_log_path_that_cannot_be_written_is_a_config_error_naming_the_key(
        tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "logs.jsonl").mkdir()   # a folder where the log file should be
    code, out = run_cli(capsys, write(tmp_path, log="logs.jsonl"), "status")
    assert code == 2
    assert out.startswith("zybridge: error: log.path:")
    assert len(out.strip().splitlines()) == 1


def test_check_names_a_state_path_that_cannot_be_created(
        tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "blocker").write_text("a file", encoding="utf-8")
    build_sample_store(tmp_path / "haicang.db", volunteers=3, seed=1)
    code, out = run_cli(capsys, write(tmp_path, state="blocker/state.db"), "check")
    assert code == 2
    assert "FAIL  config: state.path:" in out


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_run_refuses_a_metrics_address_in_use_with_exit_2(
        tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        busy_port: int) -> None:
    build_sample_store(tmp_path / "haicang.db", volunteers=3, seed=1)
    path = write(tmp_path, top=f'[metrics]\nlisten = "127.0.0.1:{busy_port}"')
    code, out = run_cli(capsys, path, "run")
    assert code == 2
    assert f"metrics.listen: 127.0.0.1:{busy_port} is in use" in out


def test_check_names_a_metrics_address_in_use(
        tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        busy_port: int) -> None:
    build_sample_store(tmp_path / "haicang.db", volunteers=3, seed=1)
    path = write(tmp_path, top=f'[metrics]\nlisten = "127.0.0.1:{busy_port}"')
    code, out = run_cli(capsys, path, "check")
    assert code == 2 and "FAIL  config: metrics.listen:" in out


def test_a_metrics_host_that_is_not_this_machine_is_named(
        tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    build_sample_store(tmp_path / "haicang.db", volunteers=3, seed=1)
    path = write(tmp_path, top='[metrics]\nlisten = "192.0.2.1:9464"')   # TEST-NET-1
    code, out = run_cli(capsys, path, "run")
    assert code == 2 and "metrics.listen: 192.0.2.1:9464" in out


# secrets: only the commands that use them need them ---------------------------------
def test_status_needs_no_platform_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ZYB_TEST_APP_SECRET", raising=False)
    code, out = run_cli(capsys, write(tmp_path), "status")
    assert code == 0, out


@pytest.mark.parametrize("argv", [("runs",), ("quarantine", "list"),
                                  ("dead-letters", "list"), ("audit", "verify")])
def test_read_only_commands_need_no_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    path = write(tmp_path)
    StateStore.open(tmp_path / "state.db").close()   # a state file to read
    monkeypatch.delenv("ZYB_TEST_APP_SECRET", raising=False)
    code, out = run_cli(capsys, path, *argv)
    assert code in (0, 4), out
    assert "ZYB_TEST_APP_SECRET" not in out


def test_sync_without_the_platform_secret_is_exit_2_naming_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ZYB_TEST_APP_SECRET", raising=False)
    build_sample_store(tmp_path / "haicang.db", volunteers=3, seed=1)
    code, out = run_cli(capsys, write(tmp_path), "sync")
    assert code == 2
    assert "national.app_secret: the environment variable ZYB_TEST_APP_SECRET is not set" in out


def test_check_names_every_unset_secret_with_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ZYB_TEST_APP_SECRET", raising=False)
    path = write(tmp_path, source='token = "${ZYB_TEST_TOKEN}"')
    path.write_text(path.read_text(encoding="utf-8").replace(
        'kind = "sql"', 'kind = "http"').replace("zhiyuanyun", "shegong"), encoding="utf-8")
    code, out = run_cli(capsys, path, "check")
    assert code == 2
    assert "FAIL  config: national.app_secret: the environment variable" in out
    assert "FAIL  config: sources[0].token: the environment variable ZYB_TEST_TOKEN" in out


def test_a_source_url_from_an_unset_variable_is_asked_for_when_the_source_opens(
        tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path)
    text = path.read_text(encoding="utf-8").replace('"sqlite:///haicang.db"',
                                                    '"${ZYB_TEST_DB_URL}"')
    path.write_text(text, encoding="utf-8")
    assert run_cli(capsys, path, "status")[0] == 0
    code, out = run_cli(capsys, path, "run")
    assert code == 2 and "sources[0].url: the environment variable ZYB_TEST_DB_URL" in out


def test_a_non_secret_value_from_an_unset_variable_is_refused_at_load(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace(
        'app_id = "haicang-demo"', 'app_id = "${ZYB_TEST_APP_ID}"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"national\.app_id: the environment variable"):
        config.load(path, {"ZYB_TEST_APP_SECRET": "x"})


# a folder the user cannot write: as root, the test drops to nobody (setpriv) ------------
@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user can read (pytest's tmp_path is 0700 root)."""
    folder = Path(tempfile.mkdtemp(prefix="zyb-ro-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def as_unprivileged(folder: Path, config_path: Path, *argv: str) -> tuple[int, str]:
    """`zybridge` run by a user who cannot write `folder` (root-owned, 0755)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot drop to an unprivileged user")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    else:
        folder.chmod(0o555)
    env = {k: v for k, v in os.environ.items() if k != "ZYBRIDGE_CONFIG"}
    done = subprocess.run([*prefix, sys.executable, "-m", "bridge", "--config",
                           str(config_path), *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**env, "ZYB_TEST_APP_SECRET": SECRET,
                                                       "PYTHONDONTWRITEBYTECODE": "1"})
    return done.returncode, done.stdout + done.stderr


def test_a_read_only_log_folder_is_exit_2_naming_log_path(shared_folder: Path) -> None:
    (shared_folder / "logs").mkdir(mode=0o755)
    path = write(shared_folder, log=str(shared_folder / "logs" / "bridge.jsonl"))
    path.chmod(0o644)
    code, out = as_unprivileged(shared_folder / "logs", path, "status")
    assert code == 2, out
    assert out.startswith("zybridge: error: log.path: cannot write"), out


def test_a_read_only_state_folder_is_exit_2_naming_state_path(shared_folder: Path) -> None:
    (shared_folder / "state").mkdir(mode=0o755)
    path = write(shared_folder, state=str(shared_folder / "state" / "zybridge.db"), log="-")
    path.chmod(0o644)
    code, out = as_unprivileged(shared_folder / "state", path, "run")
    assert code == 2, out
    assert "state.path: cannot create" in out and "is not writable by this user" in out
