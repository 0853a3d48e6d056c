"""Apps and request authentication (national-api.md §2): HMAC signatures over the
parameters as this server decodes them, a 300 s timestamp window, nonces kept 600 s."""

from __future__ import annotations

import hmac
import re
import time
import tomllib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge import signing
from bridge.errors import ConfigError
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_JURISDICTION
from bridge.sandbox.apply import App
from bridge.sandbox.db import Store

WINDOW_S = 300
NONCE_TTL_S = 600
_NONCE = re.compile(r"[A-Za-z0-9-]{16,64}", re.ASCII)
_TIMESTAMP = re.compile(r"-?[0-9]{1,12}", re.ASCII)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_APP_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)
_JURISDICTION = re.compile(r"[0-9]{2,6}", re.ASCII)
HEADERS = ("x-app-id", "x-timestamp", "x-nonce", "x-signature")


class AuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def demo_apps() -> dict[str, App]:
    return {DEMO_APP_ID: App(DEMO_APP_ID, DEMO_APP_SECRET, DEMO_JURISDICTION)}


def load_apps(path: Path | None, env: Mapping[str, str]) -> dict[str, App]:
    """Apps from a TOML file (`[[apps]] id, secret, jurisdiction`); the demo app without one.
    A secret may be `${ENV_NAME}`, resolved from `env`."""
    if path is None:
        return demo_apps()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the apps file {path}: {exc}") from exc
    unknown = set(raw) - {"apps"}
    entries = raw.get("apps")
    if unknown or not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected only a non-empty [[apps]] array")
    apps: dict[str, App] = {}
    for index, entry in enumerate(entries):
        app = _app(entry, env, f"{path}: apps[{index}]")
        if app.id in apps:
            raise ConfigError(f"{path}: app {app.id!r} is defined twice")
        apps[app.id] = app
    return apps


def _app(entry: Any, env: Mapping[str, str], where: str) -> App:
    if not isinstance(entry, dict) or set(entry) != {"id", "secret", "jurisdiction"}:
        raise ConfigError(f"{where}: needs exactly id, secret and jurisdiction")
    app_id, secret, jurisdiction = entry["id"], entry["secret"], entry["jurisdiction"]
    if not isinstance(app_id, str) or not _APP_ID.fullmatch(app_id):
        raise ConfigError(f"{where}: id must be 1-64 characters of [A-Za-z0-9_.:-]")
    if not isinstance(jurisdiction, str) or not _JURISDICTION.fullmatch(jurisdiction):
        raise ConfigError(f"{where}: jurisdiction must be a 2-6 digit region-code prefix")
    if not isinstance(secret, str):
        raise ConfigError(f"{where}: secret must be a string")

    def resolve(m: re.Match[str]) -> str:
        if m[1] not in env:
            raise ConfigError(f"{where}: the environment variable {m[1]} is not set")
        return env[m[1]]
    resolved = _ENV_REF.sub(resolve, secret)
    if not resolved:
        raise ConfigError(f"{where}: the secret is empty")
    return App(app_id, resolved, jurisdiction)


class Authenticator:
    def __init__(self, apps: Mapping[str, App], store: Store,
                 clock: Callable[[], float] = time.time) -> None:
        self.apps = dict(apps)
        self._store = store
        self._clock = clock
        self._seen: dict[tuple[str, str], float] = {}
        self._order: deque[tuple[float, tuple[str, str]]] = deque()
        for app_id, nonce, seen in store.recent_nonces(clock() - NONCE_TTL_S):
            self._remember((app_id, nonce), seen)

    def check(self, method: str, raw_path: str, params: Sequence[tuple[str, str]],
              headers: Mapping[str, str], body: bytes) -> App:
        """The app a request comes from, or AuthError (in the order of §2)."""
        values = [headers.get(h) for h in HEADERS]
        missing = [h for h, v in zip(HEADERS, values, strict=True) if not v]
        if missing:
            raise AuthError("AUTH_MISSING", "missing header " + ", ".join(missing))
        app_id, stamp, nonce, sig = (str(v) for v in values)
        if not _TIMESTAMP.fullmatch(stamp):
            raise AuthError("AUTH_MISSING", "X-Timestamp must be Unix time in whole seconds")
        if not _NONCE.fullmatch(nonce):
            raise AuthError("AUTH_MISSING", "X-Nonce must be 16-64 characters of [A-Za-z0-9-]")
        app = self.apps.get(app_id)
        if app is None:
            raise AuthError("AUTH_UNKNOWN_APP", "unknown app id")
        now = self._clock()
        if abs(now - int(stamp)) > WINDOW_S:
            raise AuthError("AUTH_EXPIRED", "X-Timestamp is more than 300 s from server time")
        self._forget(now)
        if (app_id, nonce) in self._seen:
            raise AuthError("AUTH_REPLAY", "this nonce was used in the last 600 s")
        to_sign = signing.string_to_sign(method, raw_path, signing.canonical_query(params),
                                         stamp, nonce, body)
        if not hmac.compare_digest(signing.signature(app.secret, to_sign), sig):
            raise AuthError("AUTH_SIGNATURE", "the signature does not match")
        self._remember((app_id, nonce), now)
        self._store.add_nonce(app_id, nonce, now)
        return app

    def forget_all(self) -> None:
        """Forget every nonce seen (the store's are cleared by its owner)."""
        self._seen.clear()
        self._order.clear()

    def _remember(self, key: tuple[str, str], seen: float) -> None:
        self._seen[key] = seen
        self._order.append((seen, key))

    def _forget(self, now: float) -> None:
        while self._order and self._order[0][0] < now - NONCE_TTL_S:
            _, key = self._order.popleft()
            self._seen.pop(key, None)
