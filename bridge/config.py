"""TOML → frozen pydantic models (operator-interface.md "Config file").

`${NAME}` values come from the environment at start-up; unknown keys are errors; every
problem is reported at once, on one line, naming the key and never the value of a secret.
A secret (`app_secret`, `token`, `ref_key`, a source's `url`) whose variable is not set
is not an error until it is used (operator-interface.md "Configuration, checked once"):
read-only commands need none, so an auditor never holds one. Schedules are checked
with APScheduler at load time, so `check` refuses what `run` would refuse.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeGuard
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge.errors import ConfigError
from bridge.tls import TlsFiles, is_loopback

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_DURATION = re.compile(r"^(\d+)(s|m|h)$")
TZ = "Asia/Shanghai"
LAZY_SECRETS = frozenset({"app_secret", "token", "ref_key"})
_INTERNAL = ("base_dir", "unset_env")




class UnsetSecret(SecretStr):
    """A secret whose `${NAME}` is not set: loading passes, using it is a config error."""

    def __init__(self, key: str, variable: str) -> None:
        super().__init__("")
        self.key = key
        self.variable = variable

    def get_secret_value(self) -> str:
        raise ConfigError(unset_message(self.key, self.variable))


def unset_message(key: str, variable: str) -> str:
    return (f"{key}: the environment variable {variable} is not set (this command needs it; "
            "set it in the environment, e.g. the unit's EnvironmentFile)")


def is_set(secret: SecretStr | None) -> TypeGuard[SecretStr]:
    return secret is not None and not isinstance(secret, UnsetSecret)


def _crontab(value: str, what: str) -> str:
    try:
        CronTrigger.from_crontab(value, timezone=TZ)
    except ValueError as exc:
        raise ValueError(f"{what} {value!r} is not a valid crontab line "
                         f"(minute hour day month weekday): {exc}") from None
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StateConfig(_Frozen):
    path: Path = Path("var/zybridge.db")


class LogConfig(_Frozen):
    path: str = "-"
    level: Literal["debug", "info", "warning", "error"] = "info"
    max_bytes: int = Field(default=50_000_000, ge=10_000)
    backups: int = Field(default=5, ge=0)


class NationalConfig(_Frozen):
    base_url: str
    app_id: str = Field(min_length=1)
    app_secret: SecretStr
    jurisdiction: str | None = Field(default=None, pattern=r"^\d{2,6}$")
    timeout_s: float = Field(default=10.0, gt=0)
    batch_size: int = Field(default=100, ge=1, le=100)
    max_in_flight: int = Field(default=4, ge=1, le=32)
    rate_per_s: float = Field(default=18.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    deadline_s: float = Field(default=300.0, gt=0)
    retry_base_s: float = Field(default=0.5, gt=0)   # first backoff ceiling (full jitter)
    retry_cap_s: float = Field(default=30.0, gt=0)   # largest backoff ceiling
    pipeline: bool = True  # send creations while a cycle is still staging (bridge/pump.py)
    ca_bundle: Path | None = None     # a PEM file: a government intranet's own CA
    client_cert: Path | None = None   # mutual TLS: the client certificate (PEM)…
    client_key: Path | None = None    # …and its key

    @property
    def tls(self) -> TlsFiles:
        return TlsFiles(self.ca_bundle, self.client_cert, self.client_key)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("base_url must be an http(s) URL")
        parts = urlsplit(value)
        if parts.scheme != "https" and not is_loopback(parts.hostname or ""):
            raise ValueError("base_url must be https:// unless its host is a loopback address "
                             "(127.0.0.1, ::1, localhost)")
        return value


class SourceConfig(_Frozen):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    kind: Literal["sql", "http", "files"]
    mapping: str
    url: str | None = None
    path: Path | None = None
    token: SecretStr | None = None
    projects_from: str | None = None
    ref_key: SecretStr | None = None
    every: str | None = None
    cron: str | None = None
    lookback_s: int = Field(default=600, ge=0)
    reconcile_cron: str = "30 3 * * *"
    page_size: int = Field(default=500, ge=1, le=10_000)
    # limits of a source's input (local-sources.md §B, §C): the first three are read by
    # files sources, the last two by http sources; other kinds ignore them
    max_file_mb: float = Field(default=20.0, gt=0)
    max_rows: int = Field(default=100_000, ge=1)
    receipts: str = "receipts"
    timeout_s: float = Field(default=30.0, gt=0)
    max_page_mb: float = Field(default=16.0, gt=0)

    @field_validator("receipts")
    @classmethod
    def _receipts(cls, value: str) -> str:
        if value and (Path(value).is_absolute() or ".." in Path(value).parts):
            raise ValueError("receipts is a folder name inside the source's path (or \"\" "
                             "for none)")
        return value

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None and not _DURATION.match(value):
            raise ValueError("every must look like 30s, 5m or 2h")
        if value is not None and int(value[:-1]) == 0:
            raise ValueError("every must be longer than 0")
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return value if value is None else _crontab(value, "cron")

    @field_validator("reconcile_cron")
    @classmethod
    def _reconcile_cron(cls, value: str) -> str:
        return _crontab(value, "reconcile_cron") if value else value

    @model_validator(mode="after")
    def _shape(self) -> SourceConfig:
        if self.every is not None and self.cron is not None:
            raise ValueError("give either every or cron, not both")
        if self.kind in ("sql", "http") and not self.url:
            raise ValueError(f"a {self.kind} source needs url")
        if self.kind == "files" and self.path is None:
            raise ValueError("a files source needs path")
        return self

    @property
    def every_seconds(self) -> int | None:
        if self.every is None:
            return None
        match = _DURATION.match(self.every)
        assert match is not None
        return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


class SafetyConfig(_Frozen):
    max_revoke_share: float = Field(default=0.10, ge=0, le=1)
    max_revoke_min: int = Field(default=50, ge=0)
    min_read_share: float = Field(default=0.50, ge=0, le=1)


class MetricsConfig(_Frozen):
    listen: str = Field(default="127.0.0.1:9464", pattern=r"^[\w.\-\[\]:]*:\d{1,5}$")

    @field_validator("listen")
    @classmethod
    def _port(cls, value: str) -> str:
        if not 0 < int(value.rpartition(":")[2]) < 65536:
            raise ValueError("the port must be between 1 and 65535")
        return value


# the audit seal's anchor, retention, TLS (issue 18) ---------------------------------------
class AuditConfig(_Frozen):
    anchor_path: Path | None = None      # every seal is appended here too (0600, JSON lines)


class RetentionConfig(_Frozen):
    sent_bodies_days: int = Field(default=30, ge=0)


def _check_tls(national: NationalConfig) -> list[str]:
    """The TLS files named in [national] must exist (paths already made absolute)."""
    problems = []
    for name in ("ca_bundle", "client_cert", "client_key"):
        path = getattr(national, name)
        if path is not None and not path.is_file():
            problems.append(f"national.{name}: no file at {path}")
    if (national.client_cert is None) != (national.client_key is None):
        problems.append("national.client_cert: give client_cert and client_key together")
    return problems


class ConsoleConfig(_Frozen):
    listen: str = Field(default="127.0.0.1:8770", pattern=r"^[\w.\-\[\]:]*:\d{1,5}$")
    users_file: Path = Path("console-users.toml")
    https: bool = False  # behind a TLS reverse proxy: session cookies are marked Secure


class Config(_Frozen):
    audit: AuditConfig = AuditConfig()
    retention: RetentionConfig = RetentionConfig()
    state: StateConfig = StateConfig()
    log: LogConfig = LogConfig()
    national: NationalConfig
    sources: tuple[SourceConfig, ...] = ()
    safety: SafetyConfig = SafetyConfig()
    metrics: MetricsConfig | None = None
    console: ConsoleConfig | None = None
    base_dir: Path = Path(".")
    unset_env: tuple[tuple[str, str], ...] = ()   # (key, variable) of secrets not set

    @model_validator(mode="after")
    def _unique(self) -> Config:
        if not self.sources:
            raise ValueError("at least one [[sources]] table is needed")
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique: {', '.join(dupes)}")
        for s in self.sources:
            if s.projects_from is not None and s.projects_from not in names:
                raise ValueError(f"source {s.name}: projects_from names no source")
        return self

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError(f"no source named {name!r} in the config "
                          f"(known: {', '.join(s.name for s in self.sources)})")

    def require_env(self, source: str | None = None) -> None:
        """Raise naming every unset secret this use needs: all of them, or one source's."""
        if source is not None:
            index = [s.name for s in self.sources].index(source)
            prefix = f"sources[{index}]."
            missing = [(k, v) for k, v in self.unset_env if k.startswith(prefix)]
        else:
            missing = list(self.unset_env)
        if missing:
            raise ConfigError("; ".join(unset_message(k, v) for k, v in missing))


def find_config_path(explicit: str | None) -> Path:
    """--config, else $ZYBRIDGE_CONFIG, else ./zybridge.toml; `~` is the home in the first
    two too (`--config=~/z.toml` and a unit's Environment= are not expanded by a shell)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("ZYBRIDGE_CONFIG")
    return Path(env).expanduser() if env else Path("zybridge.toml")


def load(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"no config file at {path} (give --config or set "
                          "ZYBRIDGE_CONFIG)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse(raw, path.resolve().parent, os.environ if environ is None else environ)


def parse(raw: dict[str, Any], base_dir: Path, environ: Mapping[str, str]) -> Config:
    problems: list[str] = []
    unset: list[tuple[str, str]] = []
    resolved = _resolve_env(raw, environ, (), problems, unset)
    problems += [f"{key}: not a config key" for key in _INTERNAL if key in resolved]
    if not problems:
        try:
            cfg = Config.model_validate({**resolved, "base_dir": base_dir,
                                         "unset_env": tuple(unset)})
        except ValidationError as exc:
            problems.extend(_describe(err) for err in exc.errors())
        else:
            cfg = _absolute(cfg)
            problems.extend(_check_tls(cfg.national))
            if not problems:
                return cfg
    raise ConfigProblems(problems)


class ConfigProblems(ConfigError):
    """Every problem of a config at once, on one line; `problems` keeps them apart."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid config: " + "; ".join(problems))
        self.problems = problems


def _resolve_env(value: Any, environ: Mapping[str, str], where: tuple[str, ...],
                 problems: list[str], unset: list[tuple[str, str]]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_env(v, environ, (*where, k), problems, unset)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, environ, (*where, str(i)), problems, unset)
                for i, v in enumerate(value)]
    if isinstance(value, str):
        match = _ENV_REF.match(value)
        if match:
            name = match.group(1)
            if name in environ:
                return environ[name]
            key = _key(where)
            if where and where[-1] in LAZY_SECRETS:
                unset.append((key, name))
                return UnsetSecret(key, name)
            if where[:1] == ("sources",) and where[-1] == "url":
                unset.append((key, name))
                return value      # kept as written; opening the source asks for it
            problems.append(f"{key}: the environment variable {name} is not set")
            return ""
    return value


def _key(where: tuple[str, ...]) -> str:
    out = ""
    for part in where:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _describe(err: Any) -> str:
    loc = _key(tuple(str(p) for p in err.get("loc", ())))
    msg = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        msg = "unknown key"
    return f"{loc or 'config'}: {msg}"


def _absolute(cfg: Config) -> Config:
    """Every `Path` value of every table made absolute: `~` is the home, and a relative
    path is relative to the config file's folder (so a new path key needs nothing here)."""
    base = cfg.base_dir

    def rel(p: Path) -> Path:
        p = p.expanduser()
        return p if p.is_absolute() else (base / p)

    def fix(model: BaseModel) -> BaseModel:
        paths = {k: rel(v) for k, v in model if isinstance(v, Path)}
        return model.model_copy(update=paths) if paths else model

    updates: dict[str, Any] = {}
    for key, value in cfg:
        if isinstance(value, BaseModel):
            updates[key] = fix(value)
        elif isinstance(value, tuple) and all(isinstance(v, BaseModel) for v in value):
            updates[key] = tuple(fix(v) for v in value)
    if cfg.log.path != "-":   # a str: "-" is stderr
        updates["log"] = cfg.log.model_copy(update={"path": str(rel(Path(cfg.log.path)))})
    return cfg.model_copy(update=updates)
