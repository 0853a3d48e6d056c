"""contrib/ as a fresh Debian host uses it: the units verify and are hardened (exposure
3.0 or lower), the /etc config loads with absolute paths inside the folders systemd makes
for the unit, the alert rules pass promtool, and the rules and the dashboard name only
metrics the bridge exports. The tools' tests skip, saying what to install, where absent
(.ci/run installs them from Debian's packages)."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.core import Metric

from bridge import config, metrics
from state.store import StateStore

ROOT = Path(__file__).resolve().parents[2]
CONTRIB = ROOT / "contrib"
UNITS = ("zybridge.service", "zybridge@.service", "zybridge-console.service",
         "zybridge-backup.service")
INSTALLED = "/opt/zybridge/.venv/bin/zybridge"
ENV = {"ZYBRIDGE_APP_SECRET": "s3cret", "HAICANG_DB_URL": "postgresql://u:p@db/zyy",
       "SHEGONG_TOKEN": "t0ken", "TAIBAO_REF_KEY": "k3y-value"}


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None,
                                       delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(CONTRIB / name, encoding="utf-8")
    return parser


def installed_copies(tmp_path: Path) -> list[Path]:
    """The units as installed, their ExecStart pointing at this checkout's zybridge."""
    here = str(Path(sys.executable).parent / "zybridge")
    out = []
    for name in (*UNITS, "zybridge-backup.timer"):
        target = tmp_path / name.replace("@.", "@haicang.")
        target.write_text((CONTRIB / name).read_text(encoding="utf-8").replace(INSTALLED, here),
                          encoding="utf-8")
        out.append(target)
    return out


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    return tool


@pytest.mark.parametrize("name", UNITS)
def test_each_unit_starts_the_installed_zybridge(name: str) -> None:
    service = unit(name)["Service"]
    assert INSTALLED in service["ExecStart"]
    assert service["User"] == "zybridge"


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = systemd_analyze()
    done = subprocess.run([tool, "verify", "--man=false", *map(str, installed_copies(tmp_path))],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip() == "", done.stderr


@pytest.mark.parametrize("index", range(len(UNITS)))
def test_each_unit_is_hardened_to_exposure_3_or_lower(tmp_path: Path, index: int) -> None:
    tool = systemd_analyze()
    path = installed_copies(tmp_path)[index]
    done = subprocess.run([tool, "security", "--offline=true", "--threshold=30", str(path)],
                          capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= 3.0, done.stdout
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_daemon_units_make_their_folders_and_leave_exit_2_alone() -> None:
    for name, state, logs in (("zybridge.service", "zybridge", "zybridge"),
                              ("zybridge@.service", "zybridge/%i", "zybridge/%i")):
        service = unit(name)["Service"]
        assert service["StateDirectory"] == state and service["LogsDirectory"] == logs
        assert set(service["RestartPreventExitStatus"].split()) == {"2", "3"}
        assert service["ProtectSystem"] == "strict"


def test_the_template_reads_the_config_and_secrets_of_its_instance() -> None:
    service = unit("zybridge@.service")["Service"]
    assert "ZYBRIDGE_CONFIG=/etc/zybridge/%i.toml" in service["Environment"]
    assert service["EnvironmentFile"] == "/etc/zybridge/%i.env"


def test_the_console_unit_gets_no_secret_and_no_outbound_network() -> None:
    service = unit("zybridge-console.service")["Service"]
    assert "EnvironmentFile" not in service
    assert service["ExecStart"].split() == [INSTALLED, "console"]
    assert (service["IPAddressAllow"], service["IPAddressDeny"]) == ("localhost", "any")


def test_the_backup_unit_backs_up_with_the_backup_api_daily_without_network() -> None:
    service = unit("zybridge-backup.service")["Service"]
    assert " state backup --force " in service["ExecStart"]
    assert "sqlite3" not in service["ExecStart"] and " cp " not in service["ExecStart"]
    assert service["PrivateNetwork"] == "yes" and "EnvironmentFile" not in service
    assert unit("zybridge-backup.timer")["Timer"]["OnCalendar"] == "*-*-* 02:30:00"


def test_the_sysusers_file_declares_the_zybridge_user() -> None:
    lines = [x.split() for x in (CONTRIB / "zybridge.sysusers").read_text(
        encoding="utf-8").splitlines() if x and not x.startswith("#")]
    assert [(x[0], x[1]) for x in lines] == [("u", "zybridge")]


# the /etc config ------------------------------------------------------------------------
def etc_config(environ: dict[str, str]) -> config.Config:
    return config.load(CONTRIB / "zybridge.toml", environ)


def test_the_etc_config_loads_and_every_path_is_absolute_and_writable_for_the_unit() -> None:
    cfg = etc_config(ENV)
    raw = (CONTRIB / "zybridge.toml").read_text(encoding="utf-8")
    written = re.findall(r'^(?:path|anchor_path|receipts)\s*=\s*"([^"]+)"', raw, re.M)
    assert written and all(p == "-" or p.startswith("/") for p in written)
    writable = ("/var/lib/zybridge/", "/var/log/zybridge/")   # StateDirectory, LogsDirectory
    assert str(cfg.state.path).startswith(writable)
    assert cfg.log.path == "-"   # the journal
    assert all(str(s.path).startswith(writable) for s in cfg.sources if s.path)


def test_the_etc_config_loads_without_secrets_for_read_only_commands() -> None:
    cfg = etc_config({})
    assert {k for k, _ in cfg.unset_env} == {"national.app_secret", "sources[0].url",
                                             "sources[1].token", "sources[2].ref_key"}


def test_the_etc_config_serves_metrics_on_loopback() -> None:
    cfg = etc_config(ENV)
    assert cfg.metrics is not None and cfg.metrics.listen.startswith("127.0.0.1:")


# alerts and dashboard -------------------------------------------------------------------
def exported_names(tmp_path: Path) -> set[str]:
    """Every sample name the daemon's /metrics can show, gauges of a real state included."""
    StateStore.open(tmp_path / "state.db").close()
    families: list[Metric] = [*metrics.REGISTRY.collect(),
                              *metrics.StateCollector(tmp_path / "state.db", ["a"]).collect()]
    names = set()
    for fam in families:
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
        names |= {fam.name + s for s in suffixes.get(fam.type, ("",))}
    return names


def referenced(text: str) -> set[str]:
    return set(re.findall(r"\bzybridge_[a-z_]+\b", text)) - {"zybridge_"}


def test_promtool_accepts_the_alert_rules() -> None:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    done = subprocess.run([tool, "check", "rules", str(CONTRIB / "zybridge.rules.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_alert_rules_name_only_exported_metrics(tmp_path: Path) -> None:
    text = (CONTRIB / "zybridge.rules.yml").read_text(encoding="utf-8")
    used = referenced(text)
    assert "zybridge_source_paused" in used
    assert used <= exported_names(tmp_path), used - exported_names(tmp_path)


def test_the_dashboard_names_only_exported_metrics(tmp_path: Path) -> None:
    doc = json.loads((CONTRIB / "grafana-zybridge.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    used = referenced("\n".join(exprs))
    assert {"zybridge_rows", "zybridge_last_success_timestamp_seconds"} <= used
    assert used <= exported_names(tmp_path), used - exported_names(tmp_path)


def test_the_dashboard_panels_do_not_overlap() -> None:
    doc = json.loads((CONTRIB / "grafana-zybridge.json").read_text(encoding="utf-8"))
    cells = [(p["gridPos"]["x"] + dx, p["gridPos"]["y"] + dy) for p in doc["panels"]
             for dx in range(p["gridPos"]["w"]) for dy in range(p["gridPos"]["h"])]
    assert len(cells) == len(set(cells))
