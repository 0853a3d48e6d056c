"""Issue 17: the log masker masks values, never keys or codes. Batch (idempotency) keys,
external refs, national ids, area codes and error codes read in a log line exactly as in
the audit log, while ID numbers, mobiles and names around them stay masked."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import structlog
from hypothesis import given
from hypothesis import strategies as st

from bridge import logs
from mappings.checks import gb11643_check
from mappings.mask import mask_id, mask_phone, redact

ids = st.text("0123456789", min_size=17, max_size=17).map(lambda b: b + gb11643_check(b))
mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
batch_keys = st.uuids(version=4).map(lambda u: f"zyb-{u.hex}")
# a local id shaped like a mobile is masked even in a ref, on purpose (mask._keep and
# test_a_ref_made_of_an_id_number_still_loses_it): keys here are the ones that stay
local_ids = st.integers(1, 10**12).map(str).filter(
    lambda i: re.fullmatch(r"1[3-9][0-9]{9}", i) is None)
refs = st.builds(lambda s, e, i, g: f"{s}:{e}:{i}{g}",
                 st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True),
                 st.sampled_from(["organization", "volunteer", "project", "service_record"]),
                 local_ids, st.sampled_from(["", ".g2", ".d1", ".g3.d2"]))
national_ids = st.one_of(
    st.builds(lambda letter, n: f"{letter}{n:012d}", st.sampled_from("OPS"),
              st.integers(0, 10**12 - 1)),
    st.from_regex(r"V[0-9]{16}[0-9A-Z]", fullmatch=True))
area_codes = st.sampled_from([2, 4, 6, 9, 12]).flatmap(
    lambda n: st.from_regex(f"35[0-9]{{{n - 2}}}", fullmatch=True))
error_codes = st.from_regex(r"[A-Z][A-Z0-9_]{2,24}", fullmatch=True)
keys = st.one_of(batch_keys, refs, national_ids, area_codes, error_codes)


@given(keys)
def test_a_key_or_code_alone_is_never_masked(key: str) -> None:
    assert redact(key) == key


@given(keys, ids, mobiles)
def test_a_key_beside_an_id_number_and_a_mobile_stays_and_they_are_masked(
        key: str, number: str, mobile: str) -> None:
    out = redact(f"batch {key} for {number}, tel {mobile}")
    assert out == f"batch {key} for {mask_id(number)}, tel {mask_phone(mobile)}"


@given(st.lists(batch_keys, min_size=1, max_size=3))
def test_batch_keys_in_a_message_read_as_in_the_audit_log(found: list[str]) -> None:
    text = "open batches: " + ", ".join(found)
    assert redact(text) == text


@given(mobiles)
def test_a_ref_made_of_a_mobile_still_loses_it(mobile: str) -> None:
    assert redact(f"batch a:organization:{mobile} x") == \
        f"batch a:organization:{mask_phone(mobile)} x"


@given(ids)
def test_a_ref_made_of_an_id_number_still_loses_it(number: str) -> None:
    out = redact(f"haicang:volunteer:{number}")
    assert out.startswith("haicang:volunteer:") and number not in out


def test_a_log_line_keeps_keys_and_codes_and_masks_the_person(tmp_path: Path) -> None:
    path = tmp_path / "bridge.jsonl"
    logs.setup(str(path), "info")
    key = f"zyb-{uuid.UUID(int=0x12345678_1234_4234_9234_123456789012).hex}"
    structlog.get_logger("bridge.test").warning(
        "request failed", batch_key=key, external_ref="haicang:volunteer:20231201",
        national_id="V3500002512000001A", area_code="350203001001", code="INVALID_FORMAT",
        error="item haicang:volunteer:20231201: 身份证 350205199001011234 tel 13800138000",
        name="林志贵")
    line = json.loads(path.read_text(encoding="utf-8").splitlines()[-1])
    assert line["batch_key"] == key
    assert line["external_ref"] == "haicang:volunteer:20231201"
    assert line["national_id"] == "V3500002512000001A"
    assert line["area_code"] == "350203001001" and line["code"] == "INVALID_FORMAT"
    assert line["error"] == ("item haicang:volunteer:20231201: 身份证 3502**********1234 "
                             "tel 138****8000")
    assert line["name"] == "林*贵"
