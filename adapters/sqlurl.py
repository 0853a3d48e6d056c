"""Source database URLs (local-sources.md §A): `sqlite:///…`, `postgresql://…`,
`mysql://…` / `mariadb://…` parsed into a dialect and its target, with messages that name
at most the scheme, never the URL (it may carry a password)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from adapters.sqldialects import _URL, URL_FORMS, Dialect, Server, dialect
from bridge import logs
from bridge.errors import ConfigError

SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql",
           "postgresql+psycopg": "postgresql", "mysql": "mysql", "mariadb": "mysql",
           "mysql+pymysql": "mysql", "mariadb+pymysql": "mysql"}


def parse_url(url: str, base_dir: Path) -> tuple[Dialect, Path | Server]:
    """The dialect and the target of a source URL: a file for sqlite, else a `Server`.
    Error messages name at most the scheme, never the URL (it may carry a password)."""
    match = _URL.fullmatch(url.strip())
    if match is None:
        raise ConfigError(f"source database URL is malformed: write {URL_FORMS}")
    scheme = match["scheme"].lower()
    name = SCHEMES.get(scheme)
    if name is None:
        raise ConfigError(f"source database URL scheme {scheme!r} is not supported "
                          f"(sqlite, postgresql, mysql, mariadb): write {URL_FORMS}")
    if name == "sqlite":
        return dialect(name), _sqlite_path(match["rest"], base_dir)
    server = _server(name, url.strip())
    logs.register_secrets(server.secrets)  # never in a log line, whoever writes it
    return dialect(name), server


def _sqlite_path(rest: str, base_dir: Path) -> Path:
    if not rest.startswith("/"):
        raise ConfigError(f"a sqlite URL names no host: write {URL_FORMS}")
    if "?" in rest or "#" in rest:
        raise ConfigError(f"a sqlite URL takes no query or fragment: write {URL_FORMS}")
    raw = unquote(rest[1:])
    if not raw or raw.endswith("/"):
        raise ConfigError(f"the sqlite URL names no database file: write {URL_FORMS}")
    path = Path(raw)
    return path if path.is_absolute() else Path(base_dir) / path


def _server(name: str, url: str) -> Server:
    parts = urlsplit(url)
    if parts.fragment:
        raise ConfigError(f"a {name} URL takes no fragment: write {URL_FORMS}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"the {name} URL's port is not a number: write {URL_FORMS}") from None
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ConfigError(f"the {name} URL names no database: write {URL_FORMS}")
    params = tuple(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False))
    if len({k for k, _ in params}) != len(params):
        raise ConfigError(f"the {name} URL repeats a parameter")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    host = unquote(parts.hostname or "")
    return Server(name, host, port, database, user, password, params)

