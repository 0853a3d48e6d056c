"""The canonical JSON every hash rests on (payload hashes, the ledger's change check, the
audit chain, stored source rows) is byte for byte json.dumps with the fixed options,
however it is produced (issue 20: one encoder made once)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bridge import refs
from state import audit, base
from state.rows import SourceText

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


def reference(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@given(values)
def test_every_canonical_form_is_json_dumps_with_the_fixed_options(obj: Any) -> None:
    want = reference(obj)
    assert refs.canonical(obj) == want
    assert audit.canonical(obj) == want
    assert base.dumps(obj) == want


@given(st.dictionaries(st.text(), st.one_of(
    values, st.datetimes(), st.dates(), st.decimals(allow_nan=False, allow_infinity=False)),
    max_size=6))
def test_a_stored_source_row_is_json_dumps_with_str_for_the_rest(row: dict[str, Any]) -> None:
    want = json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)
    assert SourceText.of(row) == want


def test_a_source_row_with_a_date_a_time_and_a_decimal_reads_as_their_text() -> None:
    row = {"b": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), "a": date(2024, 5, 6),
           "c": Decimal("1.50"), "名": "张三"}
    assert SourceText.of(row) == ('{"a":"2024-05-06","b":"2024-05-06 07:08:09+00:00",'
                                  '"c":"1.50","名":"张三"}')
