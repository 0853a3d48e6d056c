"""What reaches a terminal or a spreadsheet (issue 18): control characters and escape
sequences stripped (render.clean and the stream every command prints through), CSV cells
that a spreadsheet would run as a formula written as text, URL passwords never shown."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import structlog
from hypothesis import given
from hypothesis import strategies as st

from bridge import logs
from bridge.commands import render
from bridge.commands.render import CleanStream, clean, csv_cell, raw_stream, terminal_guard

# what must never reach a terminal: C0 but \n and \t, DEL, C1, bidi controls
FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                       r"\u2066-\u2069\u2028\u2029]")
HOSTILE = st.text(alphabet=st.sampled_from(
    ["a", "林", " ", "[", "]", "0", ";", "\x1b", "\x07", "\x9b", "\x9d", "\n", "\t", "\r",
     "\x00", "\x7f", "\u202e", "\u2066", "\u2028", "\\"]))


def test_a_title_changing_osc_sequence_is_removed_whole() -> None:
    assert clean("林\x1b]0;you have been pwned\x07志明") == "林志明"
    assert clean("a\x1b]2;title\x1b\\b") == "ab"


def test_clear_screen_and_colour_sequences_are_removed_whole() -> None:
    assert clean("\x1b[2J\x1b[H\x1b[31mred\x1b[0m") == "red"


def test_c1_controls_and_bidi_overrides_are_removed() -> None:
    assert clean("abc\u202edcba\x9b2J\u2066x\u2069") == "abcdcba2Jx"


def test_a_values_line_breaks_become_spaces_so_it_cannot_forge_a_line() -> None:
    assert clean("张三\naudit log intact\r\tok") == "张三 audit log intact  ok"


def test_printed_layout_keeps_its_newlines_and_tabs_and_drops_carriage_returns() -> None:
    assert clean("a\tb\nc\rd\x1b[2K", layout=True) == "a\tb\ncd"


@given(HOSTILE)
def test_no_control_character_survives_cleaning(text: str) -> None:
    assert not FORBIDDEN.search(clean(text))
    assert not FORBIDDEN.search(clean(text, layout=True))
    assert "\n" not in clean(text) and "\t" not in clean(text)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp"))))
def test_printable_text_is_left_as_it_is(text: str) -> None:
    assert clean(text) == text


def test_the_clean_stream_writes_clean_text_to_the_stream_under_it() -> None:
    under = io.StringIO()
    stream = CleanStream(under)
    print("name:", "\x1b]0;x\x07林*贵\x1b[2J", file=stream)
    assert under.getvalue() == "name: 林*贵\n"
    assert raw_stream(stream) is under and raw_stream(under) is under  # type: ignore[arg-type]


def test_the_terminal_guard_cleans_print_and_gives_the_streams_back() -> None:
    out, err = sys.stdout, sys.stderr
    under = io.StringIO()
    sys.stdout = under
    try:
        with terminal_guard():
            print("\x1b]0;pwned\x07ok")
        assert sys.stdout is under
    finally:
        sys.stdout, sys.stderr = out, err
    assert under.getvalue() == "ok\n"


def test_a_table_cleans_each_cell_and_aligns_on_what_is_shown() -> None:
    under = io.StringIO()
    out = sys.stdout
    sys.stdout = under
    try:
        render.table(("ref", "why"), [("a\x1b[2Jb", "x\ny"), ("abc", "z")])
    finally:
        sys.stdout = out
    assert under.getvalue().splitlines() == ["ref  why", "ab   x y", "abc  z"]


# CSV --------------------------------------------------------------------------------------
def test_a_formula_cell_is_written_as_text() -> None:
    assert [csv_cell(v) for v in ('=HYPERLINK("http://x","y")', "+3", "-2", "@SUM(A1)",
                                  "\tx", "\rx", "ok", None, 7)] == [
        '\'=HYPERLINK("http://x","y")', "'+3", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "ok",
        "", "7"]


@given(st.text())
def test_no_cell_starts_a_formula_and_a_safe_cell_is_unchanged(text: str) -> None:
    cell = csv_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    if not text.startswith(("=", "+", "-", "@", "\t", "\r")):
        assert cell == text
    buffer = io.StringIO()
    csv.writer(buffer).writerow([cell])
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == [cell]


# URL passwords ---------------------------------------------------------------------------
def test_a_urls_password_is_masked_in_any_text() -> None:
    text = ("cannot reach http://zyb:s3cret-pw@127.0.0.1:8080/openapi/v1 nor "
            "mysql+pymysql://sync:p%40ss@db.intranet:3306/zyy?ssl_ca=/etc/ca.pem")
    shown = logs.scrub(text)
    assert "s3cret-pw" not in shown and "p%40ss" not in shown
    assert "http://zyb:***@127.0.0.1:8080/openapi/v1" in shown
    assert "mysql+pymysql://sync:***@db.intranet:3306/zyy" in shown


def test_a_url_without_a_password_is_left_as_it_is() -> None:
    text = "postgresql://sync@db/zyy and https://host/a@b and http://127.0.0.1:1/x"
    assert logs.scrub(text) == text



# log lines -------------------------------------------------------------------------------
def test_a_log_line_escapes_every_terminal_control_and_keeps_the_value(tmp_path: Path) -> None:
    hostile = "林\x1b]0;pwned\x07\x9b2J\u202e志明\x7f"
    logs.setup(str(tmp_path / "bridge.jsonl"), "info")
    try:
        structlog.get_logger("zybridge").info("source row", title=hostile)
    finally:
        logs.setup("-", "info")
    line = (tmp_path / "bridge.jsonl").read_text(encoding="utf-8")
    assert not FORBIDDEN.search(line) and "\x1b" not in line
    assert json.loads(line)["title"] == hostile
