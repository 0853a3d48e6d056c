"""The databases the sql adapter reads, one `Dialect` each: SQLite (a file, opened
read-only), PostgreSQL (psycopg 3) and MySQL/MariaDB (PyMySQL), reached by a URL.

A server connection is made read-only for its whole session (PostgreSQL
`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`, MySQL `SET SESSION TRANSACTION
READ ONLY`), works in UTC+08:00 (the 志愿云 columns' local time), and never keeps a
transaction open between queries. Server values are made what SQLite hands the mapping:
times as 'YYYY-MM-DD HH:MM:SS' (microseconds dropped, an aware time first moved to
UTC+08:00), dates as 'YYYY-MM-DD', a DECIMAL as int when whole else float, bytes as
UTF-8 text, booleans as 0/1.

Driver errors are translated here, once: wrong credentials, an unknown host or database,
a missing table or column, a denied SELECT are `ConfigError` (a human must act); anything
else (a refused or lost connection, a timeout, a restarting server) is `TransientError`,
and the adapter reconnects on its next read. Messages name the database by
scheme://host:port/database only, never the URL: it may carry a password.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bridge.errors import BridgeError, ConfigError, TransientError
from mappings.mask import redact

STAMP = "%Y-%m-%d %H:%M:%S"
CST = timezone(timedelta(hours=8))
URL_FORMS = ("sqlite:///relative/path.db or sqlite:////absolute/path.db, "
             "postgresql://user:password@host:5432/database or "
             "mysql://user:password@host:3306/database")
SECRET_PARAMS = frozenset({"password", "sslpassword", "passwd"})
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)", re.DOTALL)
_UNKNOWN_HOST = re.compile(r"Name or service not known|nodename nor servname|No address "
                           r"associated|could not translate host name|failed to resolve host")


@dataclass(frozen=True)
class Server:
    """A database server named by a URL. `password` never shows in repr or messages."""

    dialect: str
    host: str
    port: int | None
    database: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    params: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def where(self) -> str:
        """scheme://host:port/database, or the socket folder: safe to show."""
        socket = dict(self.params).get("host" if self.dialect == "postgresql"
                                       else "unix_socket")
        host = self.host or ("localhost" if socket else "")
        port = f":{self.port}" if self.port is not None else ""
        tail = f" (socket {socket})" if socket else ""
        return f"{self.dialect}://{host}{port}/{self.database}{tail}"

    @property
    def secrets(self) -> list[str]:
        values = [v for k, v in self.params if k.lower() in SECRET_PARAMS]
        return [v for v in (self.password, *values) if v]


@dataclass(frozen=True)
class Dialect:
    """What differs between databases for the few queries the adapter runs."""

    name: str
    placeholder: str
    connect: Callable[[Any], Any]                  # target → a read-only DB-API connection
    leads_an_index: Callable[[Any, str, str], bool]
    missing_table: Callable[[BaseException], bool]
    errors: tuple[type[BaseException], ...]        # driver errors a query may raise
    translate: Callable[[BaseException, str, list[str]], BridgeError]
    converts: bool                                 # whether values need `plain`

    def marks(self, n: int) -> str:
        return ", ".join([self.placeholder] * n)


# --- values ---------------------------------------------------------------------------

def plain(value: Any) -> Any:
    """A server's column value as the SQLite path hands it to the mapping."""
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    if isinstance(value, datetime):
        moment = value.astimezone(CST).replace(tzinfo=None) if value.tzinfo else value
        return moment.strftime(STAMP)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, time):
        return value.replace(microsecond=0).isoformat()
    return value


def stamp_text(value: Any) -> str:
    """gmt_modified as the cursor's text."""
    return str(plain(value))


def _detail(exc: BaseException, secrets: list[str]) -> str:
    """The driver's own words, first line, without secrets or personal data."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    return redact(text)


# --- SQLite ---------------------------------------------------------------------------

def _connect_sqlite(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ConfigError(f"source database {path} does not exist or is not a file")
    uri = f"file:{quote(path.as_posix(), safe='/')}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise ConfigError(f"source database {path} cannot be opened read-only: {exc}") from exc
    return conn


def _sqlite_leads_an_index(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether some index of `table` starts with `column` (so a keyset page is a seek)."""
    for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
        quoted = '"' + str(index[1]).replace('"', '""') + '"'
        first = conn.execute(f"PRAGMA index_info({quoted})").fetchone()
        if first is not None and first[2] == column:
            return True
    return False


def _sqlite_missing(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and "no such table" in str(exc)


def _sqlite_translate(exc: BaseException, where: str, secrets: list[str]) -> BridgeError:
    """A busy, locked or unreadable-for-now file is transient; a file that is not a
    database, or lacks a table or column the reads name, needs a human."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "no such" not in text:
        return TransientError(f"source database {where} cannot be read now: {text}")
    return ConfigError(f"source database {where} cannot be read: {text}")


# --- PostgreSQL -----------------------------------------------------------------------

_PG_CONFIG = re.compile(
    r"password authentication failed|no password supplied|authentication failed|"
    r"does not exist|no pg_hba\.conf entry|permission denied|invalid connection option|"
    r"invalid \w+ value|SSL was required|does not support SSL|certificate", re.IGNORECASE)
PG_DEFAULTS = {"connect_timeout": "10", "application_name": "zybridge", "keepalives": "1",
               "keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3"}


def pg_kwargs(server: Server) -> dict[str, Any]:
    """psycopg.connect keyword arguments: the URL's parts, then its libpq parameters."""
    kwargs: dict[str, Any] = {**PG_DEFAULTS, "dbname": server.database}
    for key, value in (("host", server.host), ("port", server.port), ("user", server.user),
                       ("password", server.password)):
        if value:
            kwargs[key] = str(value)
    kwargs.update(server.params)
    if "sslrootcert" in kwargs and "sslmode" not in kwargs:
        kwargs["sslmode"] = "verify-full"  # a CA given: verify the server's name too
    return kwargs


def _connect_pg(server: Server) -> Any:
    import psycopg

    try:
        conn = psycopg.connect(autocommit=False, **pg_kwargs(server))
    except psycopg.Error as exc:
        raise _pg_translate(exc, server.where, server.secrets) from exc
    try:
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        conn.execute("SET TIME ZONE INTERVAL '+08:00' HOUR TO MINUTE")
        conn.commit()
        conn.read_only = True
    except psycopg.Error as exc:
        conn.close()
        raise _pg_translate(exc, server.where, server.secrets) from exc
    return conn


def _pg_leads_an_index(conn: Any, table: str, column: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass(%s::text) "
        "AND a.attname = %s LIMIT 1", (table, column)).fetchone()
    conn.rollback()
    return row is not None


def _pg_missing(exc: BaseException) -> bool:
    import psycopg

    return isinstance(exc, psycopg.errors.UndefinedTable)


def _pg_translate(exc: BaseException, where: str, secrets: list[str]) -> BridgeError:
    import psycopg

    detail = _detail(exc, secrets)
    if _UNKNOWN_HOST.search(str(exc)):
        return ConfigError(f"source database {where}: the host is not known ({detail}); "
                           f"check the url: write {URL_FORMS}")
    if isinstance(exc, psycopg.ProgrammingError) or _PG_CONFIG.search(str(exc)):
        return ConfigError(f"source database {where} refused the bridge: {detail}")
    return TransientError(f"source database {where} is unreachable or the connection was "
                          f"lost ({detail}); the next read reconnects")


# --- MySQL / MariaDB ------------------------------------------------------------------

# access denied, unknown database / table / column, SELECT denied, auth plugin problems
MYSQL_CONFIG_CODES = frozenset({1044, 1045, 1049, 1054, 1142, 1143, 1146, 1251, 1698, 2059})
MYSQL_PARAMS: dict[str, Callable[[str], Any]] = {
    "unix_socket": str, "connect_timeout": int, "read_timeout": int, "ssl_ca": str,
    "ssl_cert": str, "ssl_key": str, "ssl_verify_cert": lambda v: v.lower() in ("1", "true"),
    "ssl_verify_identity": lambda v: v.lower() in ("1", "true"),
    "ssl_disabled": lambda v: v.lower() in ("1", "true")}


def mysql_kwargs(server: Server) -> dict[str, Any]:
    """pymysql.connect keyword arguments (utf8mb4; the URL's supported parameters)."""
    kwargs: dict[str, Any] = {"host": server.host or "localhost", "port": server.port or 3306,
                              "user": server.user, "password": server.password or "",
                              "database": server.database, "charset": "utf8mb4",
                              "autocommit": False, "connect_timeout": 10, "read_timeout": 300}
    for key, value in server.params:
        convert = MYSQL_PARAMS.get(key)
        if convert is None:
            raise ConfigError(f"source database {server.where}: parameter {key!r} is not "
                              f"supported (known: {', '.join(sorted(MYSQL_PARAMS))})")
        try:
            kwargs[key] = convert(value)
        except ValueError as exc:
            raise ConfigError(f"source database {server.where}: parameter {key!r} is not "
                              "a number") from exc
    if "ssl_ca" in kwargs:  # a CA given: verify the certificate and the server's name
        kwargs.setdefault("ssl_verify_cert", True)
        kwargs.setdefault("ssl_verify_identity", True)
    return kwargs


def _connect_mysql(server: Server) -> Any:
    import pymysql

    try:
        conn = pymysql.connect(**mysql_kwargs(server))
    except (pymysql.err.Error, OSError, RuntimeError) as exc:
        raise _mysql_translate(exc, server.where, server.secrets) from exc
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION READ ONLY")
            cur.execute("SET time_zone = '+08:00'")
        conn.commit()
    except pymysql.err.Error as exc:
        conn.close()
        raise _mysql_translate(exc, server.where, server.secrets) from exc
    return conn


def _mysql_leads_an_index(conn: Any, table: str, column: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM information_schema.statistics WHERE table_schema = "
                    "DATABASE() AND table_name = %s AND seq_in_index = 1 AND column_name = %s "
                    "LIMIT 1", (table, column))
        row = cur.fetchone()
    conn.rollback()
    return row is not None


def _mysql_code(exc: BaseException) -> int | None:
    args: tuple[Any, ...] = exc.args
    return args[0] if args and isinstance(args[0], int) else None


def _mysql_missing(exc: BaseException) -> bool:
    import pymysql

    return isinstance(exc, pymysql.err.Error) and _mysql_code(exc) == 1146


def _mysql_translate(exc: BaseException, where: str, secrets: list[str]) -> BridgeError:
    import pymysql

    args: tuple[Any, ...] = exc.args
    text = str(args[1]) if len(args) > 1 else str(exc)
    detail = _detail(Exception(text), secrets)
    if _UNKNOWN_HOST.search(text):
        return ConfigError(f"source database {where}: the host is not known ({detail}); "
                           f"check the url: write {URL_FORMS}")
    if _mysql_code(exc) in MYSQL_CONFIG_CODES or isinstance(
            exc, RuntimeError | pymysql.err.ProgrammingError):
        return ConfigError(f"source database {where} refused the bridge: {detail}")
    return TransientError(f"source database {where} is unreachable or the connection was "
                          f"lost ({detail}); the next read reconnects")


# --- URLs -----------------------------------------------------------------------------

def _sqlite() -> Dialect:
    return Dialect("sqlite", "?", _connect_sqlite, _sqlite_leads_an_index, _sqlite_missing,
                   (sqlite3.Error,), _sqlite_translate, False)


def _postgresql() -> Dialect:
    import psycopg

    return Dialect("postgresql", "%s", _connect_pg, _pg_leads_an_index, _pg_missing,
                   (psycopg.Error,), _pg_translate, True)


def _mysql() -> Dialect:
    import pymysql

    return Dialect("mysql", "%s", _connect_mysql, _mysql_leads_an_index, _mysql_missing,
                   (pymysql.err.Error, OSError), _mysql_translate, True)


_FACTORIES: dict[str, Callable[[], Dialect]] = {
    "sqlite": _sqlite, "postgresql": _postgresql, "mysql": _mysql}


@functools.cache
def dialect(name: str) -> Dialect:
    """The dialect by name; a server driver is imported on first use only, so a SQLite
    deployment never loads psycopg or PyMySQL."""
    return _FACTORIES[name]()
