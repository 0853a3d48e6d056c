"""The message catalogue (mappings/messages.py): every reason code the mappings and the
engine raise has a Chinese and an English text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mappings import messages

ROOT = Path(__file__).resolve().parents[2]
_RAISED = re.compile(r'(?:refuse|warn|flag|Reason)\(\s*(?:"[^"]*"|[a-z_]+),\s*\(?"([A-Z_]{4,})"'
                     r'|return \(?"([A-Z_]{4,})", ')


def raised_codes() -> set[str]:
    """The codes written in mappings/ and the engine where a reason is made."""
    found: set[str] = set()
    for path in [*(ROOT / "mappings").glob("*.py"), ROOT / "bridge" / "sync.py"]:
        for match in _RAISED.finditer(path.read_text(encoding="utf-8")):
            found.add(match[1] or match[2])
    return found


def test_the_scan_finds_the_codes_it_is_meant_to() -> None:
    assert {"REQUIRED", "INVALID_FORMAT", "OUT_OF_RANGE", "CHECKSUM_MISMATCH",
            "PRECISION_LOST", "MAPPING_ERROR"} <= raised_codes()


@pytest.mark.parametrize("code", sorted(raised_codes()))
def test_every_raised_code_has_a_text_in_both_languages(code: str) -> None:
    assert re.search(r"[\u4e00-\u9fff]", messages.text(code))
    assert re.search(r"[A-Za-z]", messages.text(code, "en"))


def test_precision_lost_says_what_the_spec_says() -> None:
    assert messages.text("PRECISION_LOST") == (
        "证件号码已被 Excel 当作数字保存，后几位已丢失：请把该列设为文本后重新填写")


def test_placeholders_are_filled() -> None:
    assert "20 MB" in messages.text("FILE_TOO_BIG", limit=20)
    assert "100000" in messages.text("TOO_MANY_ROWS", "en", limit=100000)


def test_statuses_read_as_zybridge_status_names_them_in_chinese() -> None:
    assert [messages.status_text(s) for s in ("synced", "revoked", "pending", "blocked",
                                              "skipped", "quarantined", "dead_lettered")] == [
        "已同步", "已撤销", "等待中", "已阻塞", "已跳过", "已隔离", "平台拒收"]


def test_an_unknown_code_is_an_error_not_a_silent_blank() -> None:
    with pytest.raises(KeyError):
        messages.text("NO_SUCH_CODE")
