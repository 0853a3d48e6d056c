"""Wiring: a config becomes a state store, a national client, the source adapters and an
engine, opened and closed together."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from adapters.base import SourceAdapter
from bridge import config as config_mod
from bridge import configcheck, logs
from bridge.config import Config, SourceConfig, is_set
from bridge.errors import ConfigError

if TYPE_CHECKING:  # imported when a runtime opens: `import bridge.cli` stays quick
    from bridge.national import NationalClient
    from bridge.sync import SyncEngine
    from state.store import StateStore


def load_config(path: str | None) -> Config:
    """The config at `path` (else $ZYBRIDGE_CONFIG or ./zybridge.toml), its logging set up."""
    cfg = config_mod.load(config_mod.find_config_path(path))
    try:
        logs.setup(cfg.log.path, cfg.log.level, max_bytes=cfg.log.max_bytes,
                   backups=cfg.log.backups)
    except OSError as exc:
        raise ConfigError(f"log.path: cannot write {cfg.log.path}: {exc.strerror or exc}; "
                          "give a writable file, or \"-\" for stderr") from exc
    return cfg


def open_adapter(cfg: Config, src: SourceConfig) -> SourceAdapter:
    cfg.require_env(src.name)   # a "${NAME}" of this source that is not set
    if src.kind == "sql":
        from adapters.sql import open_sql_source

        assert src.url is not None
        return open_sql_source(src.url, cfg.base_dir, mapping=src.mapping)
    if src.kind == "http":
        from adapters.http import open_http_source

        assert src.url is not None
        return open_http_source(src.url, src.token, mapping=src.mapping,
                                timeout_s=src.timeout_s, max_page_mb=src.max_page_mb)
    if src.kind == "files":
        from adapters.files import Limits, open_files_source

        assert src.path is not None
        key = src.ref_key.get_secret_value() if src.ref_key else None
        return open_files_source(src.path, cfg.base_dir, mapping=src.mapping, ref_key=key,
                                 limits=Limits(src.max_file_mb, src.max_rows))
    raise ConfigError(f"source {src.name}: adapter kind {src.kind!r} is not available in this "
                      "version of zhiyuan-bridge")


def secrets_of(cfg: Config) -> list[str]:
    values = [x.get_secret_value() for x in (cfg.national.app_secret,) if is_set(x)]
    for s in cfg.sources:
        values += [x.get_secret_value() for x in (s.token, s.ref_key) if is_set(x)]
        if s.kind == "sql" and s.url:  # a database URL's password
            try:
                password = urlsplit(s.url).password
            except ValueError:
                password = None
            if password:  # as written (percent-encoded) and as the server knows it
                values += sorted({password, unquote(password)})
    return values


@dataclass
class Runtime:
    cfg: Config
    store: StateStore
    client: NationalClient
    adapters: dict[str, SourceAdapter]
    engine: SyncEngine


@contextmanager
def open_runtime(cfg: Config, *, lock: bool = True) -> Iterator[Runtime]:
    from bridge.national import NationalClient
    from bridge.sync import SyncEngine
    from state.lock import StateLock
    from state.store import StateStore

    configcheck.preflight(cfg, listen=False)
    logs.register_secrets(secrets_of(cfg))
    with ExitStack() as stack:
        if lock:   # first: a command handed to the running daemon needs no secret here
            stack.enter_context(StateLock(cfg.state.path))
        cfg.require_env()
        store = StateStore.open(cfg.state.path)
        stack.callback(store.close)
        n = cfg.national
        client = NationalClient(n.base_url, n.app_id, n.app_secret.get_secret_value(),
                                timeout_s=n.timeout_s, max_connections=n.max_in_flight * 2,
                                tls=n.tls)
        stack.callback(client.close)
        adapters: dict[str, SourceAdapter] = {}
        for src in cfg.sources:
            adapters[src.name] = open_adapter(cfg, src)
            stack.callback(adapters[src.name].close)
        yield Runtime(cfg, store, client, adapters, SyncEngine(cfg, store, client, adapters))
