"""What a config asks of this machine, checked before anything starts: the files it
writes can be created and written, the metrics address can be bound (operator-interface.md
"Configuration, checked once"). `zybridge run`, `sync` and `check` run the same checks;
each problem is a config error (exit 2) naming the key, so a service manager does not
restart a daemon that cannot work.

Nothing is created here: a path is writable when it is a writable file, or when its
nearest existing ancestor is a writable folder (the bridge makes the folders between).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterable
from pathlib import Path

from bridge.config import Config
from bridge.errors import ConfigError


def writable_paths(cfg: Config) -> list[tuple[str, Path]]:
    """(key, path) of every file the bridge writes that the config names."""
    paths = [("state.path", cfg.state.path)]
    if cfg.log.path != "-":
        paths.append(("log.path", Path(cfg.log.path)))
    audit = getattr(cfg, "audit", None)   # [audit] anchor_path, where the config has it
    anchor = getattr(audit, "anchor_path", None)
    if anchor is not None:
        paths.append(("audit.anchor_path", Path(anchor)))
    for i, src in enumerate(cfg.sources):
        receipts = getattr(src, "receipts", None)   # a files source's receipts folder
        if receipts is not None:
            paths.append((f"sources[{i}].receipts", Path(receipts) / "receipt"))
    return paths


def path_problem(path: Path) -> str | None:
    """Why `path` cannot be created or written, or None when it can."""
    if path.exists():
        if path.is_dir():
            return f"{path} is a folder, not a file"
        if not os.access(path, os.W_OK):
            return f"{path} is not writable by this user (uid {os.getuid()})"
        return None
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        return f"cannot create {path}: {folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (f"cannot create {path}: the folder {folder} is not writable by this user "
                f"(uid {os.getuid()})")
    return None


def listen_problem(listen: str) -> str | None:
    """Why `host:port` cannot be bound now, or None when it can (it is released at once)."""
    host, _, port_text = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    port = int(port_text)
    if not 0 < port < 65536:
        return f"port {port} is not between 1 and 65535"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"{host} is not an address of this machine ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return describe_bind_error(listen, exc)
    return None


def describe_bind_error(listen: str, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"{listen} is in use by another process (pick a free port)"
    if exc.errno == errno.EACCES:
        return f"{listen} is not allowed for this user (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{listen}: the host is not an address of this machine"
    return f"{listen} cannot be bound: {exc.strerror or exc}"


def problems(cfg: Config, *, listen: bool = True) -> list[str]:
    """Every problem at once, each `key: what is wrong`."""
    found = [f"{key}: {why}" for key, path in writable_paths(cfg)
             if (why := path_problem(path)) is not None]
    if listen and cfg.metrics is not None:
        why = listen_problem(cfg.metrics.listen)
        if why is not None:
            found.append(f"metrics.listen: {why}")
    return found


def preflight(cfg: Config, *, listen: bool = True) -> None:
    """Raise one config error naming every key this machine cannot serve."""
    raise_all(problems(cfg, listen=listen))


def raise_all(found: Iterable[str]) -> None:
    found = list(found)
    if found:
        raise ConfigError("invalid config: " + "; ".join(found))
