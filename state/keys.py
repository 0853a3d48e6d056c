"""The keyed MACs of the audit log: seals and checkpoints (operator-interface.md "The
audit trail against someone who can write the state file").

The key (`$ZYBRIDGE_AUDIT_KEY`) is never stored in the state file: whoever can write the
file can recompute every hash of the chain, but not these MACs. Pure functions, no I/O
but reading the environment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any

KEY_ENV = "ZYBRIDGE_AUDIT_KEY"
MIN_KEY_CHARS = 16
_SEAL_CONTEXT = "zybridge-audit-seal"
_SEAL_V2_CONTEXT = "zybridge-audit-seal-v2"
_CHECKPOINT_CONTEXT = "zybridge-audit-checkpoint"
# what a version-2 seal covers: the head, the first live entry, the latest checkpoint
SEAL_FIELDS = ("head_seq", "head_hash", "first_seq", "first_prev", "checkpoint_seq",
               "checkpoint_hash")
CHECKPOINT_FIELDS = ("from", "through", "entries", "first_prev_hash", "last_hash")


def key_from_env(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The seal key from the environment; None when unset or shorter than 16 characters
    (the commands that need one say so: `audit sign`)."""
    value = (os.environ if environ is None else environ).get(KEY_ENV, "")
    return value.encode("utf-8") if len(value) >= MIN_KEY_CHARS else None


def key_id(key: bytes) -> str:
    """A short name for a seal key that reveals nothing of it."""
    return hmac.new(key, b"zybridge-audit-key-id", hashlib.sha256).hexdigest()[:12]


def _mac(key: bytes, context: str, fields: Mapping[str, Any], names: tuple[str, ...]) -> str:
    covered = {name: fields.get(name) for name in names}
    message = f"{context}\n{json.dumps(covered, sort_keys=True, separators=(',', ':'))}"
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def seal_mac(key: bytes, head_seq: int, head_hash: str) -> str:
    """A version-1 seal: the head only (seals made before the cycle sealed itself)."""
    message = f"{_SEAL_CONTEXT}\n{head_seq}\n{head_hash}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal_mac_v2(key: bytes, fields: Mapping[str, Any]) -> str:
    """A version-2 seal: the head, the first live entry and the latest checkpoint."""
    return _mac(key, _SEAL_V2_CONTEXT, fields, SEAL_FIELDS)


def checkpoint_mac(key: bytes, fields: Mapping[str, Any]) -> str:
    """A checkpoint's own MAC: which entries it says were archived and their hashes."""
    return _mac(key, _CHECKPOINT_CONTEXT, fields, CHECKPOINT_FIELDS)


def seal_holds(key: bytes, d: Mapping[str, Any]) -> bool:
    """Whether a seal entry's MAC is the one this key makes of what it names."""
    if d.get("v") == 2:
        expected = seal_mac_v2(key, d)
    else:
        expected = seal_mac(key, int(d.get("head_seq", -1)), str(d.get("head_hash")))
    return hmac.compare_digest(str(d.get("mac")), expected)


def checkpoint_holds(key: bytes, d: Mapping[str, Any]) -> bool:
    return (d.get("key_id") == key_id(key)
            and hmac.compare_digest(str(d.get("mac")), checkpoint_mac(key, d)))
