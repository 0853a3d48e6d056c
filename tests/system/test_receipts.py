"""Receipts for the sheet files (local-sources.md §C) and the precision-lost corpus end
to end: the 志愿云 sample store and a folder of sheets syncing into the sandbox."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from adapters.files import open_files_source
from bridge import config as config_mod
from bridge.push import PushReport
from bridge.receipts import WORST_FIRST
from bridge.sync import SyncEngine
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest
from mappings import messages
from tests.fixtures.sheets import as_excel_number, hostile_xlsx, mainland_id, sheet_row
from tests.system.helpers import ENV, cycle, make_config, state_rows
from tests.system.test_taiwan_sync import ACTIVITY, REF_KEY, drop_sheets, service

STATUS_WORDS = {messages.status_text(s): s for s in WORST_FIRST}


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def config(tmp_path: Path, sandbox: SandboxProcess, store: Path, inbox: Path,
           **national: Any) -> config_mod.Config:
    base = make_config(tmp_path, sandbox, store, **national)
    raw: dict[str, Any] = {
        "state": {"path": str(base.state.path)},
        "log": {"path": str(tmp_path / "bridge.jsonl"), "level": "debug"},
        "national": {**{k: v for k, v in base.national.model_dump().items()
                        if k != "app_secret"}, "app_secret": "${ZYBRIDGE_APP_SECRET}"},
        "sources": [
            {"name": "haicang", "kind": "sql", "url": f"sqlite:///{store}",
             "mapping": "zhiyuanyun"},
            {"name": "taibao", "kind": "files", "path": str(inbox), "mapping": "taiwan_sheets",
             "projects_from": "haicang", "ref_key": "${TAIBAO_REF_KEY}"}],
    }
    return config_mod.parse(raw, tmp_path, {**ENV, "TAIBAO_REF_KEY": REF_KEY})


def receipt(inbox: Path, name: str) -> list[tuple[str, ...]]:
    book = openpyxl.load_workbook(inbox / "receipts" / f"{name}.receipt.xlsx")
    return [tuple("" if v is None else str(v) for v in row)
            for row in book.active.iter_rows(values_only=True)][1:]


def state_status(cfg: config_mod.Config, inbox: Path,
                 key: str = REF_KEY) -> dict[tuple[str, int], str]:
    """(file, row) → the worse status in the state of the row's volunteer and service
    record (the statuses `zybridge status` counts)."""
    by_key = {(r["entity"], r["local_id"]): r["status"] for r in state_rows(cfg)
              if r["source"] == "taibao"}
    src = open_files_source(inbox, inbox, mapping="taiwan_sheets", ref_key=key)
    out: dict[tuple[str, int], str] = {}
    for f, read in src.outcomes():
        for p in read.rows:
            found = [by_key[k] for k in src.row_ids(f, p)]
            out[(f.name, p.where.row)] = min(found, key=WORST_FIRST.index)
    return out


def test_every_sheet_file_gets_a_receipt_whose_statuses_match_the_state(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        inbox: Path) -> None:
    store, manifest = sample
    drop_sheets(inbox, manifest, store)
    cfg = config(tmp_path, sandbox, store, inbox)
    cycle(cfg)
    states = state_status(cfg, inbox)
    for name in ("2026-05.csv", "2026-06.xlsx"):
        path = inbox / "receipts" / f"{name}.receipt.xlsx"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for _, row, _, _, word, _ in receipt(inbox, name):
            assert STATUS_WORDS[word] == states[(name, int(row))], (name, row, word)
    lines = receipt(inbox, "2026-05.csv")
    assert [line[4] for line in lines].count("已同步") == 3
    (bad,) = [line for line in lines if line[4] == "已隔离"]
    assert bad[5].startswith("服务时长(小时)：")


def test_names_and_numbers_are_masked_and_no_cell_is_a_formula(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        inbox: Path) -> None:
    store, manifest = sample
    start, end = service(manifest, 30)
    rows = [sheet_row(start, end, 活动编号=ACTIVITY, 姓名="@陈美玲", **{
        "服务时长(小时)": "2"})]
    (inbox / "may.xlsx").write_bytes(hostile_xlsx(rows))
    cfg = config(tmp_path, sandbox, store, inbox)
    cycle(cfg)
    data = (inbox / "receipts" / "may.xlsx.receipt.xlsx").read_bytes()
    sheet_xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "10234567" not in sheet_xml
    (line,) = receipt(inbox, "may.xlsx")
    assert line[3] == "10****67" and line[2] == "@**玲"


def test_a_row_waiting_for_its_push_later_reads_synced(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, manifest = sample
    start, end = service(manifest, 30)
    (inbox / "may.xlsx").write_bytes(hostile_xlsx([sheet_row(start, end, 活动编号=ACTIVITY, **{
        "服务时长(小时)": "2"})]))
    cfg = config(tmp_path, sandbox, store, inbox, pipeline=False)
    with monkeypatch.context() as patch:
        patch.setattr(SyncEngine, "push", lambda self, *a, **k: PushReport())
        cycle(cfg)
    assert [line[4] for line in receipt(inbox, "may.xlsx")] == ["等待中"]
    cycle(cfg)
    assert [line[4] for line in receipt(inbox, "may.xlsx")] == ["已同步"]


def test_precision_lost_ids_are_never_sent_and_each_is_its_own_refused_row(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        inbox: Path) -> None:
    store, manifest = sample
    numbers = [mainland_id(f"1990{m:02d}{d:02d}", f"5{k}1") for m in range(1, 4)
               for d in range(1, 11) for k in range(2)]
    numbers = [n for n in numbers if not n.endswith("X")]
    rows = []
    for i, number in enumerate(numbers):
        start, end = service(manifest, 40 + i % 30, hour=8 + i % 10)
        rows.append(sheet_row(start, end, 证件类型="身份证", 证件号码=as_excel_number(number),
                              活动编号=ACTIVITY, 手机="13800138000", 民族="汉族",
                              **{"服务时长(小时)": "2"}))
    (inbox / "excel.xlsx").write_bytes(hostile_xlsx(rows, totals=True))
    cfg = config(tmp_path, sandbox, store, inbox)
    cycle(cfg)
    refused = [r for r in state_rows(cfg) if r["source"] == "taibao"
               and "PRECISION_LOST" in (r["reasons"] or "")]
    assert len(refused) == 2 * len(numbers)
    sent = {v["id_number"] for v in sandbox.records("volunteers")}
    damaged = {str(int(as_excel_number(n))) for n in numbers}
    assert not sent & (damaged | set(numbers))
    lines = receipt(inbox, "excel.xlsx")
    assert [line[4] for line in lines[:len(numbers)]] == ["已隔离"] * len(numbers)
    assert all(messages.text("PRECISION_LOST") in line[5] for line in lines[:len(numbers)])
    assert lines[len(numbers)][4:] == ("已跳过", messages.text("ROW_TOTAL"))


def test_the_demo_writes_the_receipts_of_its_sheet_folder_matching_the_state(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bridge.cli import main

    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 0
    capsys.readouterr()
    inbox = tmp_path / "demo" / "inbox" / "taibao"
    cfg = config_mod.load(tmp_path / "demo" / "zybridge.toml")
    states = state_status(cfg, inbox, key=os.environ["TAIBAO_REF_KEY"])
    names = sorted(p.name for p in inbox.iterdir() if p.is_file())
    assert names and len(states) > 0
    for name in names:
        for _, row, _, _, word, _ in receipt(inbox, name):
            assert STATUS_WORDS[word] == states[(name, int(row))], (name, row, word)


def test_a_file_refused_whole_is_logged_once_and_its_receipt_says_why(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        inbox: Path) -> None:
    from structlog.testing import capture_logs

    store, _ = sample
    (inbox / "bomb.xlsx").write_bytes(hostile_xlsx([sheet_row()], merged="A1:XFD1048576"))
    cfg = config(tmp_path, sandbox, store, inbox)
    with capture_logs() as logs:
        cycle(cfg)
        cycle(cfg)      # another runtime: a new adapter, as a new process would be
    assert len([e for e in logs if e.get("code") == "MERGED_TOO_BIG"]) == 1
    assert receipt(inbox, "bomb.xlsx") == [
        ("", "", "", "", "整个文件未读取", messages.text("MERGED_TOO_BIG", limit=1_000_000))]


def test_a_cycle_that_changes_nothing_reads_no_sheet_again_for_the_receipts(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest],
        inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters import files

    store, manifest = sample
    drop_sheets(inbox, manifest, store)
    cfg = config(tmp_path, sandbox, store, inbox)
    cycle(cfg)
    reads: list[str] = []
    for name in ("read_csv", "read_xlsx"):
        real = getattr(files, name)
        monkeypatch.setattr(files, name, lambda raw, *a, _real=real, **k: (
            reads.append(a[1]), _real(raw, *a, **k))[1])
    cycle(cfg)
    assert reads == []
    book = hostile_xlsx([sheet_row(*service(manifest, 20), 活动编号=ACTIVITY,
                                         证件号码="10234571", **{"服务时长(小时)": "2"})])
    (inbox / "2026-07.xlsx").write_bytes(book)
    cycle(cfg)
    assert "2026-07.xlsx" in reads and receipt(inbox, "2026-07.xlsx")[0][4] == "已同步"
