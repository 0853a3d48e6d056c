"""Request signing of the national interface (national-api.md §2).

Usable by any client: the bridge's national client, the sandbox's own checks, tests and
benchmarks. No I/O here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping
from urllib.parse import quote

_SAFE = "-._~"


def encode(value: str) -> str:
    """Percent-encode every UTF-8 byte except A-Z a-z 0-9 - . _ ~, with upper-case hex."""
    return quote(value, safe=_SAFE)


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """The QUERY line: encoded pairs sorted by encoded key, then encoded value."""
    pairs = sorted((encode(k), encode(v)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in pairs)


def string_to_sign(method: str, path: str, query: str, timestamp: str, nonce: str,
                   body: bytes) -> str:
    body_hash = hashlib.sha256(body).hexdigest()
    return "\n".join([method.upper(), path, query, timestamp, nonce, body_hash])


def signature(secret: str, to_sign: str) -> str:
    return hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_hex(16)


def sign_headers(app_id: str, secret: str, method: str, path: str,
                 params: Iterable[tuple[str, str]] | Mapping[str, str] = (),
                 body: bytes = b"", *, now: float | None = None,
                 nonce: str | None = None) -> dict[str, str]:
    """The four auth headers for one request. `path` includes the base path."""
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    ts = str(int(time.time() if now is None else now))
    nonce = nonce or new_nonce()
    sig = signature(secret, string_to_sign(method, path, canonical_query(items), ts, nonce, body))
    return {"X-App-Id": app_id, "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": sig}
