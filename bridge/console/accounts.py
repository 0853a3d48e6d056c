"""Console accounts: `users_file` (TOML, 0600) holds each name's scrypt hash and role;
failed logins lock a name for a while (kept in the console's memory)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import ConfigError

ROLES = ("auditor", "admin")
NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
_N, _R, _P = 2**14, 8, 1
MAX_FAILURES = 5
LOCK_S = 15 * 60
MIN_PASSWORD = 10


@dataclass(frozen=True)
class User:
    name: str
    role: str
    hash: str


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salt$hash` (base64), with a random 16-byte salt."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt),
                             n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def load(path: Path) -> dict[str, User]:
    if not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the console users file {path}: {exc}") from exc
    users = {}
    for name, entry in (raw.get("users") or {}).items():
        if not isinstance(entry, dict) or entry.get("role") not in ROLES:
            raise ConfigError(f"{path}: user {name!r} needs role auditor or admin")
        users[name] = User(name, str(entry["role"]), str(entry.get("hash", "")))
    return users


def save(path: Path, users: dict[str, User]) -> None:
    """Write the file whole (0600), through a temporary file and a rename."""
    lines = ["# zybridge console accounts: `zybridge console user add|list|remove`\n"]
    for user in sorted(users.values(), key=lambda u: u.name):
        lines.append(f"\n[users.{json.dumps(user.name)}]\nrole = {json.dumps(user.role)}\n"
                     f"hash = {json.dumps(user.hash)}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("".join(lines))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def add(path: Path, name: str, role: str, password: str) -> None:
    if not NAME.match(name):
        raise ConfigError(f"not a user name: {name!r} (letters, digits, _ . -; at most 32)")
    if role not in ROLES:
        raise ConfigError(f"role must be auditor or admin, not {role!r}")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    users = load(path)
    users[name] = User(name, role, hash_password(password))
    save(path, users)


def remove(path: Path, name: str) -> None:
    users = load(path)
    if name not in users:
        raise ConfigError(f"no console user named {name!r} in {path}")
    del users[name]
    save(path, users)


class Lockout:
    """Failed logins per name: the fifth in a row locks the name for LOCK_S seconds."""

    def __init__(self) -> None:
        self._failures: dict[str, int] = {}
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked(self, name: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            until = self._until.get(name)
            if until is not None and now >= until:
                del self._until[name]
                self._failures.pop(name, None)
                return False
            return until is not None

    def failed(self, name: str, now: float | None = None) -> bool:
        """Count a failure; True when it locks the name."""
        with self._lock:
            n = self._failures.get(name, 0) + 1
            self._failures[name] = n
            if n >= MAX_FAILURES:
                self._until[name] = (time.time() if now is None else now) + LOCK_S
                return True
            return False

    def cleared(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)


_DUMMY = hash_password("zybridge-console-no-such-user", salt=b"\0" * 16)


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    """The user when the password is right; as slow for an unknown name as a known one."""
    user = users.get(name)
    ok = check_password(password, user.hash if user else _DUMMY)
    return user if ok and user is not None else None
