"""`zybridge console serve` and `zybridge console user add|list|remove`."""

from __future__ import annotations

import argparse
import getpass
import sys
import threading
from typing import TypeAlias

from bridge.config import Config, find_config_path
from bridge.console import accounts, data
from bridge.errors import ConfigError

Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(subparsers: Sub) -> None:
    c = subparsers.add_parser(
        "console", help="the web console for auditors and admins (its own process)",
        description="Serves the console ([console] listen, loopback by default; `zybridge "
        "console` alone is `zybridge console serve`) or manages its accounts ([console] "
        "users_file). Needs no platform or source secret.")
    c.add_argument("--listen", help="HOST:PORT (default: [console] listen)")
    c.set_defaults(func=cmd_serve)
    sub = c.add_subparsers(dest="console_command", metavar="ACTION")
    s = sub.add_parser("serve", help="serve the console until SIGTERM",
                       description="Serves the web console on [console] listen (loopback by "
                       "default; docs/console.md shows it behind a TLS proxy).")
    s.add_argument("--listen", help="HOST:PORT (default: [console] listen)")
    s.set_defaults(func=cmd_serve)
    u = sub.add_parser("user", help="console accounts",
                       description="Add, list or remove the console's accounts "
                       "([console] users_file, 0600, scrypt hashes).")
    us = u.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    a = us.add_parser("add", help="add or replace an account",
                      description="Adds or replaces an account with a role; the password is "
                      "read from the terminal (twice), or one line of stdin when it is not "
                      "a terminal; never from an argument. At least 10 characters.")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=accounts.ROLES)
    a.set_defaults(func=cmd_user_add)
    ls = us.add_parser("list", help="the accounts and their roles",
                       description="Prints each account's name and role (never a hash).")
    ls.set_defaults(func=cmd_user_list)
    rm = us.add_parser("remove", help="remove an account",
                       description="Removes the account; a session it has open ends at "
                       "its next request.")
    rm.add_argument("name")
    rm.set_defaults(func=cmd_user_remove)


def _config(args: argparse.Namespace) -> Config:
    cfg = data.load_config(find_config_path(args.config))
    if cfg.console is None:
        raise ConfigError("the config has no [console] section: add one with listen and "
                          "users_file (config.example.toml)")
    return cfg


def _password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ConfigError("the two passwords differ: nothing was changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user_add(args: argparse.Namespace) -> int:
    cfg = _config(args)
    assert cfg.console is not None
    accounts.add(cfg.console.users_file, args.name, args.role, _password())
    print(f"console user {args.name} ({args.role}) saved in {cfg.console.users_file}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    cfg = _config(args)
    assert cfg.console is not None
    for user in sorted(accounts.load(cfg.console.users_file).values(), key=lambda u: u.name):
        print(f"{user.name:<32} {user.role}")
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    cfg = _config(args)
    assert cfg.console is not None
    accounts.remove(cfg.console.users_file, args.name)
    print(f"console user {args.name} removed")
    return 0


def _warm(cfg: Config, cache: data.Cache) -> None:
    from bridge.console.pages import CHART_DAYS, chart_data

    data.status(cfg, cache)
    cache.get(f"charts:{CHART_DAYS}", lambda: chart_data(cfg, CHART_DAYS))


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bridge import logs
    from bridge.console.app import create_app

    cfg = _config(args)
    assert cfg.console is not None
    logs.setup(cfg.log.path, cfg.log.level, max_bytes=cfg.log.max_bytes,
               backups=cfg.log.backups)
    host, _, port = (args.listen or cfg.console.listen).rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"console listen {args.listen!r}: give HOST:PORT")
    if not cfg.state.path.exists():
        raise ConfigError(f"no state file at {cfg.state.path}: run `zybridge sync` first")
    app = create_app(cfg)
    # count the state file's rows by status now, not at the first visitor's overview
    threading.Thread(target=_warm, args=(cfg, app.state.cache), daemon=True).start()
    print(f"zybridge console on http://{host.strip('[]')}:{port}/", flush=True)
    uvicorn.run(app, host=host.strip("[]"), port=int(port), log_level="warning",
                access_log=False, proxy_headers=cfg.console.https,
                server_header=False)
    return 0
