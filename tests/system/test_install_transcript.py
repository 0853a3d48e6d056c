"""docs/operations.md followed as written, as far as a container without systemd as PID 1
allows: contrib/zybridge.toml installed under a fresh root with only the edits step 3
asks for, the secrets in an EnvironmentFile-style file, the folders systemd would make,
then `check`, the daemon as the unit starts it (ZYBRIDGE_CONFIG, log to stderr), its
probes, a read-only and a handed-over command without secrets (step 7 runs them as
`zybridge`, who cannot read the secrets file), the backup unit's command, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.testing.agency import AgencyServer
from bridge.testing.demo_sources import fill_agency, write_sheets
from bridge.testing.harness import SandboxProcess, free_port
from bridge.testing.sample import build_sample_store
from tests.system.test_daemon import wait_for

ROOT = Path(__file__).resolve().parents[2]
CONTRIB = ROOT / "contrib"


def install_config(root: Path, sandbox: SandboxProcess, agency: AgencyServer,
                   port: int) -> Path:
    """Step 3: the example, 0640, with the URLs and app id of this site edited in."""
    text = (CONTRIB / "zybridge.toml").read_text(encoding="utf-8")
    text = text.replace('"/var/', f'"{root}/var/')
    text = re.sub(r'base_url = "[^"]+"', f'base_url = "{sandbox.base_url}"', text)
    text = text.replace('app_id = "haicang"', f'app_id = "{DEMO_APP_ID}"')
    text = text.replace('"https://shegong.example.gov.cn/api"', f'"{agency.url}"')
    text = text.replace('"127.0.0.1:9464"', f'"127.0.0.1:{port}"')
    path = root / "etc" / "zybridge" / "zybridge.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o640)
    return path


def environment_file(path: Path) -> dict[str, str]:
    """The unit's EnvironmentFile=: NAME=value lines (systemd.exec(5))."""
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def zybridge(config: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """As the unit runs it: ZYBRIDGE_CONFIG and the EnvironmentFile's values, no argv secret."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ZYBRIDGE_", "SHEGONG",
                                                                     "TAIBAO", "HAICANG"))}
    return subprocess.Popen([sys.executable, "-m", "bridge", *args], cwd=config.parent,
                            env={**base, "ZYBRIDGE_CONFIG": str(config), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], timeout: float = 120) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, (out + err).decode()


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def backup_command(root: Path) -> list[str]:
    """zybridge-backup.service's ExecStart, on this root."""
    line = next(x for x in (CONTRIB / "zybridge-backup.service").read_text(
        encoding="utf-8").splitlines() if x.startswith("ExecStart="))
    inner = shlex.split(line.removeprefix("ExecStart="))[2]
    target = re.search(r'"(/var/lib/zybridge/backups/[^"]+)"', inner)
    assert target is not None and "state backup --force" in inner
    day = target.group(1).replace("$(date +%%a)", "Mon")
    return ["state", "backup", "--force", f"{root}{day}"]


def test_the_operations_guide_as_written_ends_with_a_syncing_daemon(tmp_path: Path) -> None:
    root = tmp_path / "root"
    lib, logs = root / "var/lib/zybridge", root / "var/log/zybridge"
    for folder in (lib, logs, lib / "backups"):   # StateDirectory=, LogsDirectory=
        folder.mkdir(parents=True, mode=0o750)
    (lib / "inbox/taibao").mkdir(parents=True, mode=0o750)   # step 3, the files source
    build_sample_store(tmp_path / "haicang.db", volunteers=20, seed=3)
    write_sheets(lib / "inbox/taibao", tmp_path / "haicang.db")
    with SandboxProcess(db_path=tmp_path / "sb.db", extra_args=["--rate-per-s", "0"]) as sb, \
            AgencyServer(tmp_path / "agency.db", token="agency-token") as agency:
        fill_agency(agency, tmp_path / "haicang.db")
        port = free_port()
        config = install_config(root, sb, agency, port)
        secrets = root / "etc/zybridge/env"
        secrets.write_text(f"ZYBRIDGE_APP_SECRET={DEMO_APP_SECRET}\n"
                           f"HAICANG_DB_URL=sqlite:///{tmp_path / 'haicang.db'}\n"
                           "SHEGONG_TOKEN=agency-token\nTAIBAO_REF_KEY=k3y-of-the-site\n",
                           encoding="utf-8")
        secrets.chmod(0o600)
        env = environment_file(secrets)
        code, out = finish(zybridge(config, env, "check"))   # step 4
        assert code == 0, out
        daemon = zybridge(config, env, "run")                # step 5
        try:
            wait_for(lambda: answers(f"http://127.0.0.1:{port}/readyz"), timeout=60)
            assert answers(f"http://127.0.0.1:{port}/healthz")          # step 6
            code, out = finish(zybridge(config, {}, "status", "--json"))  # step 7, no secret
            assert code == 0, out
            sources = json.loads(out)["sources"]
            assert all(sum(c["synced"] for c in sources[name]["entities"].values()) > 0
                       for name in ("haicang", "shegong", "taibao"))
            code, out = finish(zybridge(config, {}, "resync", "--source", "haicang",
                                        "--entity", "volunteer", "--id", "1", "--yes"))
            assert code == 0 and "handed to the running daemon" in out, out   # no secret
            code, out = finish(zybridge(config, {}, *backup_command(root)))   # step 8
            assert code == 0, out
        finally:
            daemon.send_signal(signal.SIGTERM)               # systemctl stop
            code, err = finish(daemon)
    assert code == 0, err[-2000:]
    events = [json.loads(x)["event"] for x in err.splitlines() if x.startswith("{")]
    assert events[0] == "daemon started" and events[-1] == "daemon stopped"
    backup = lib / "backups/zybridge-Mon.db"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert DEMO_APP_SECRET not in err
