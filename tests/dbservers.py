"""Real PostgreSQL and MariaDB servers for the tests (session fixtures `pg_url`,
`mysql_url`, and `pg_server`, `mysql_server` when a test must restart one).

With ZYB_TEST_PG_URL / ZYB_TEST_MYSQL_URL set (a role that may create databases), each
session works in a fresh database on that server. Otherwise a private server is started
in a temporary folder: PostgreSQL from /usr/lib/postgresql/*/bin (as the `postgres` OS
user when we are root, which PostgreSQL requires), MariaDB's mariadbd; each listens on
127.0.0.1 on a free port and on a unix socket in its folder, without fsync, and is
stopped at the end of the session. A test role `zyb` logs in with a password that a URL
must percent-encode. Missing server binaries, or a server that cannot start, skip the
tests that need it with the reason and how to install it; nothing else skips them.

With ZYB_REQUIRE_TOOLS=1 (CI sets it when it installed the servers) each of those skips
is an error instead: a server that is installed but does not start fails the run rather
than turning its tests into quiet skips. ZYB_TEST_PG_BINDIR names the folder of initdb
and postgres to use instead of the installed ones.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pymysql
import pytest

PG_ENV = "ZYB_TEST_PG_URL"
MYSQL_ENV = "ZYB_TEST_MYSQL_URL"
USER = "zyb"
PASSWORD = "pa:ss@w/rd%20"     # every character a URL must percent-encode
DATABASE = "zyb"
READY_S = 30.0
PG_INSTALL = "apt-get install postgresql (or set ZYB_TEST_PG_URL)"
MYSQL_INSTALL = "apt-get install mariadb-server (or set ZYB_TEST_MYSQL_URL)"
REQUIRE_ENV = "ZYB_REQUIRE_TOOLS"
PG_BINDIR_ENV = "ZYB_TEST_PG_BINDIR"


def unavailable(reason: str) -> NoReturn:
    """Skip the tests that need a server, or fail them when the run requires the tools."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: a server the run expects is unavailable)",
                    pytrace=False)
    pytest.skip(reason)


@dataclass
class DbServer:
    """A server the tests use: the URL of this session's database, the socket folder of
    a private server, and `restart` (kill the server, start it again) when it is ours."""

    kind: str
    url: str
    socket_dir: str | None = None
    port: int | None = None
    restart: Callable[[], None] | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def url_for(kind: str, port: int, database: str = DATABASE) -> str:
    return f"{kind}://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/{database}"


def _wait(ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, what: str
          ) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    with contextlib.suppress(Exception):
        proc.kill()
    unavailable(f"{what} could not start (see its log below); {tail}")


# --- PostgreSQL -----------------------------------------------------------------------

def _pg_bindir() -> Path | None:
    if chosen := os.environ.get(PG_BINDIR_ENV):
        return Path(chosen)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("postgres") else None


class PgProcess:
    """A private PostgreSQL cluster in a temporary folder."""

    def __init__(self, bindir: Path) -> None:
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                unavailable("PostgreSQL refuses to run as root and there is no 'postgres' "
                            f"OS user: {PG_INSTALL}")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="zyb-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.as_owner: list[str] = []
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_owner = ["runuser", "-u", "postgres", "--"]

    @property
    def socket_dir(self) -> str:
        """The folder of its socket (DbServer.socket_dir)."""
        return str(self.root)

    def init(self) -> None:
        done = subprocess.run(
            [*self.as_owner, str(self.bindir / "initdb"), "-D", str(self.data), "-U",
             "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
             "--locale=C.UTF-8", "--no-sync", "--no-instructions"],
            capture_output=True, check=False)
        if done.returncode != 0:
            unavailable("PostgreSQL initdb failed: "
                        f"{done.stderr.decode(errors='replace')[-800:]}")

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self.as_owner, str(self.bindir / "postgres"), "-D", str(self.data), "-p",
                 str(self.port), "-k", str(self.root), "-c", "listen_addresses=127.0.0.1",
                 "-c", "fsync=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=50"],
                stdout=out, stderr=subprocess.STDOUT)
        _wait(lambda: self.admin().close() is None, self.proc, self.log, "PostgreSQL")

    def admin(self, dbname: str = "postgres") -> Any:
        return psycopg.connect(host=str(self.root), port=self.port, user="postgres",
                               dbname=dbname, autocommit=True, connect_timeout=2)

    def create_role(self) -> None:
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{PASSWORD}'")
            conn.execute(f"CREATE DATABASE {DATABASE} OWNER {USER}")

    def _signal(self, sig: signal.Signals) -> None:
        pidfile = self.data / "postmaster.pid"
        if self.proc is None or self.proc.poll() is not None or not pidfile.exists():
            return
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().split()[0]), sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        """An immediate shutdown (SIGQUIT: no checkpoint, recovery at the next start)."""
        self._signal(signal.SIGQUIT)
        self.start()

    def stop(self) -> None:
        self._signal(signal.SIGINT)
        shutil.rmtree(self.root, ignore_errors=True)


# --- MariaDB --------------------------------------------------------------------------

def _mysql_binaries() -> tuple[str, str] | None:
    def find(*names: str) -> str | None:
        for name in names:
            path = shutil.which(name) or next(
                (p for d in ("/usr/sbin", "/usr/bin", "/usr/local/bin")
                 if os.access(p := f"{d}/{name}", os.X_OK)), None)
            if path:
                return path
        return None

    server, install = find("mariadbd", "mysqld"), find("mariadb-install-db", "mysql_install_db")
    return (server, install) if server and install else None


class MariaProcess:
    """A private MariaDB server in a temporary folder."""

    OPTIONS = ("--skip-name-resolve", "--innodb-buffer-pool-size=32M",
               "--innodb-log-file-size=16M", "--innodb-flush-log-at-trx-commit=2",
               "--innodb-doublewrite=0", "--innodb-file-per-table=0",
               "--innodb-flush-method=nosync", "--skip-sync-frm")

    def __init__(self, server: str, install: str) -> None:
        self.server, self.install = server, install
        self.root = Path(tempfile.mkdtemp(prefix="zyb-my-"))
        self.data = self.root / "data"
        self.socket = str(self.root / "mysqld.sock")
        self.log = self.root / "mariadb.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.user = ["--user=root"] if os.geteuid() == 0 else []
        self.admin_user = pwd.getpwuid(os.geteuid()).pw_name

    @property
    def socket_dir(self) -> str:
        """Its socket, which is what DbServer.socket_dir holds for MariaDB."""
        return self.socket

    def init(self) -> None:
        done = subprocess.run(
            [self.install, "--no-defaults", f"--datadir={self.data}", *self.user,
             "--auth-root-authentication-method=socket", "--skip-test-db", *self.OPTIONS],
            capture_output=True, check=False)
        if done.returncode != 0:
            unavailable("MariaDB install-db failed: "
                        f"{(done.stdout + done.stderr).decode(errors='replace')[-800:]}")

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.server, "--no-defaults", f"--datadir={self.data}",
                 f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
                 f"--pid-file={self.root / 'mysqld.pid'}", f"--tmpdir={self.root}",
                 "--skip-log-bin", *self.user,
                 *self.OPTIONS], stdout=out, stderr=subprocess.STDOUT)
        _wait(lambda: self.admin().close() is None, self.proc, self.log, "MariaDB")

    def admin(self) -> Any:
        return pymysql.connect(unix_socket=self.socket, user=self.admin_user,
                               autocommit=True, connect_timeout=2)

    def create_role(self) -> None:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE USER '{USER}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
                cur.execute(f"GRANT ALL ON *.* TO '{USER}'@'%'")
                cur.execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
        finally:
            conn.close()

    def restart(self) -> None:
        """SIGKILL, then a start with InnoDB's crash recovery."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


# --- a fresh database on a server named by the environment -----------------------------

def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextlib.contextmanager
def _external(kind: str, url: str) -> Iterator[DbServer]:
    from bridge.testing import sampledb

    name = f"zyb_test_{uuid.uuid4().hex[:10]}"
    options = " CHARACTER SET utf8mb4" if kind == "mysql" else ""
    force = " WITH (FORCE)" if kind == "postgresql" else ""
    sampledb.execute(url, f"CREATE DATABASE {name}{options}", autocommit=True)
    try:
        yield DbServer(kind, _with_database(url, name))
    finally:
        sampledb.execute(url, f"DROP DATABASE IF EXISTS {name}{force}", autocommit=True)


# --- fixtures -------------------------------------------------------------------------

class _Local(Protocol):
    """A private server process: PgProcess or MariaProcess."""

    port: int

    @property
    def socket_dir(self) -> str: ...
    def init(self) -> None: ...
    def start(self) -> None: ...
    def create_role(self) -> None: ...
    def restart(self) -> None: ...
    def stop(self) -> None: ...


def _serve(kind: str, env: str, local: Callable[[], _Local | None],
           missing: str) -> Iterator[DbServer]:
    """The server the environment variable `env` names, else a private one started for
    the session (skipped with `missing` when its binaries are not installed)."""
    external = os.environ.get(env)
    if external:
        with _external(kind, external) as server:
            yield server
        return
    process = local()
    if process is None:
        unavailable(missing)
    try:
        process.init()
        process.start()
        process.create_role()
        yield DbServer(kind, url_for(kind, process.port), process.socket_dir, process.port,
                       process.restart)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[DbServer]:
    def local() -> PgProcess | None:
        bindir = _pg_bindir()
        return PgProcess(bindir) if bindir is not None else None

    yield from _serve("postgresql", PG_ENV, local,
                      "PostgreSQL server not installed (no initdb and postgres under "
                      f"/usr/lib/postgresql/*/bin or on PATH): {PG_INSTALL}")


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[DbServer]:
    def local() -> MariaProcess | None:
        binaries = _mysql_binaries()
        return MariaProcess(*binaries) if binaries is not None else None

    yield from _serve("mysql", MYSQL_ENV, local,
                      "MariaDB server not installed (no mariadbd/mysqld and "
                      f"mariadb-install-db): {MYSQL_INSTALL}")


@pytest.fixture(scope="session")
def pg_url(pg_server: DbServer) -> str:
    return pg_server.url


@pytest.fixture(scope="session")
def mysql_url(mysql_server: DbServer) -> str:
    return mysql_server.url
