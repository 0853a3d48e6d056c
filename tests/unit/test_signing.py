from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from bridge import signing


def test_canonical_query_sorts_and_encodes() -> None:
    q = signing.canonical_query([("updated_since", "2026-06-20T09:00:00+08:00"),
                                 ("page_size", "100"), ("a b", "x~y")])
    assert q == "a%20b=x~y&page_size=100&updated_since=2026-06-20T09%3A00%3A00%2B08%3A00"


def test_string_to_sign_matches_the_spec_layout() -> None:
    s = signing.string_to_sign("post", "/openapi/v1/volunteers/batch", "", "1700000000",
                               "abcdefghijklmnop", b"{}")
    assert s.split("\n") == ["POST", "/openapi/v1/volunteers/batch", "", "1700000000",
                             "abcdefghijklmnop", hashlib.sha256(b"{}").hexdigest()]


def test_sign_headers_are_verifiable_with_the_secret() -> None:
    h = signing.sign_headers("app", "secret", "GET", "/openapi/v1/volunteers",
                             {"external_ref": "haicang:volunteer:1"}, now=1_700_000_000,
                             nonce="n" * 16)
    expected = hmac.new(b"secret", signing.string_to_sign(
        "GET", "/openapi/v1/volunteers", "external_ref=haicang%3Avolunteer%3A1",
        "1700000000", "n" * 16, b"").encode(), hashlib.sha256).hexdigest()
    assert h["X-Signature"] == expected
    assert h["X-Timestamp"] == "1700000000"


def test_nonces_are_well_formed_and_fresh() -> None:
    a, b = signing.new_nonce(), signing.new_nonce()
    assert a != b and 16 <= len(a) <= 64 and a.isalnum()


@given(st.text())
def test_encode_leaves_only_unreserved_characters(value: str) -> None:
    encoded = signing.encode(value)
    assert all(c.isascii() and (c.isalnum() or c in "-._~%") for c in encoded)
