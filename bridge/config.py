"""TOML → frozen pydantic models (operator-interface.md "Config file").

`${NAME}` values come from the environment at start-up; unknown keys are errors; every
problem is reported at once, naming the key and never the value of a secret.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

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

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_DURATION = re.compile(r"^(\d+)(s|m|h)$")


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

    @model_validator(mode="after")
    def _url(self) -> NationalConfig:
        if not re.match(r"^https?://[^/\s]+", self.base_url):
            raise ValueError("base_url must be an http(s) URL")
        return self


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

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None and not _DURATION.match(value):
            raise ValueError("every must look like 30s, 5m or 2h")
        return value

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


class ConsoleConfig(_Frozen):
    listen: str = Field(default="127.0.0.1:8770", pattern=r"^[\w.\-\[\]:]*:\d{1,5}$")
    users_file: Path = Path("console-users.toml")
    https: bool = False  # behind a TLS reverse proxy: session cookies are marked Secure


class Config(_Frozen):
    state: StateConfig = StateConfig()
    log: LogConfig = LogConfig()
    national: NationalConfig
    sources: tuple[SourceConfig, ...] = ()
    safety: SafetyConfig = SafetyConfig()
    metrics: MetricsConfig | None = None
    console: ConsoleConfig | None = None
    base_dir: Path = Path(".")

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


def find_config_path(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("ZYBRIDGE_CONFIG")
    return Path(env) if env else Path("zybridge.toml")


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
    resolved = _resolve_env(raw, environ, (), problems)
    if "base_dir" in resolved:
        problems.append("base_dir: not a config key")
    if not problems:
        try:
            cfg = Config.model_validate({**resolved, "base_dir": base_dir})
        except ValidationError as exc:
            problems.extend(_describe(err) for err in exc.errors())
        else:
            return _absolute(cfg)
    raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _resolve_env(value: Any, environ: Mapping[str, str], where: tuple[str, ...],
                 problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_env(v, environ, (*where, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, environ, (*where, str(i)), problems)
                for i, v in enumerate(value)]
    if isinstance(value, str):
        match = _ENV_REF.match(value)
        if match:
            name = match.group(1)
            if name not in environ:
                problems.append(f"{_key(where)}: the environment variable {name} is not set")
                return ""
            return environ[name]
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
    base = cfg.base_dir

    def rel(p: Path) -> Path:
        return p if p.is_absolute() else (base / p)

    sources = tuple(s.model_copy(update={"path": rel(s.path)}) if s.path else s
                    for s in cfg.sources)
    log = cfg.log
    if log.path != "-":
        log = log.model_copy(update={"path": str(rel(Path(log.path)))})
    console = cfg.console
    if console is not None:
        console = console.model_copy(update={"users_file": rel(console.users_file)})
    return cfg.model_copy(update={"state": StateConfig(path=rel(cfg.state.path)),
                                  "sources": sources, "log": log, "console": console})
