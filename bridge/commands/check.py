"""`zybridge check`: config, sources, platform health and a signed read, each on its own
line with what to do (bridge/ops/check.py finds, this module prints)."""

from __future__ import annotations

import argparse
import json

from bridge import logs
from bridge.commands.render import Sub, scrub
from bridge.errors import ConfigError
from bridge.ops.check import Check, check_machine, check_platform, check_source, check_state
from bridge.runtime import load_config, secrets_of


def register(subparsers: Sub) -> None:
    c = subparsers.add_parser("check", help="config, sources, platform health and a signed read",
                              description="Validates the config, opens every source, calls "
                              "the platform's health and one signed read; prints each "
                              "problem on its own line with what to do. Exit 0 all well, "
                              "1 the platform is unreachable, 2 a config or source problem.")
    c.add_argument("--json", action="store_true", help="one JSON object")
    c.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        lines = getattr(exc, "problems", None) or [str(exc)]
        checks: list[Check] = [("config", scrub(x), "fix the config file (see config.example."
                                "toml) or set the environment variable it names", 2)
                               for x in lines]
        return _print_checks(checks, args.json)
    logs.register_secrets(secrets_of(cfg))
    checks = [("config", None, f"{len(cfg.sources)} source(s)", 0), *check_machine(cfg),
              check_state(cfg)]
    if cfg.unset_env:   # what `run` and `sync` would refuse; the rest needs the secrets
        return _print_checks(checks, args.json)
    checks += [check_source(cfg, src) for src in cfg.sources]
    checks += check_platform(cfg)
    return _print_checks(checks, args.json)


def _print_checks(checks: list[Check], as_json: bool) -> int:
    """Each check on its line (or one JSON object), its words scrubbed: a URL's password
    (national.base_url, a source's url), a registered secret, an ID number never shows."""
    code = max(c[3] for c in checks)
    checks = [(scrub(w), None if p is None else scrub(p), scrub(d), c) for w, p, d, c in checks]
    if as_json:
        print(json.dumps({"ok": code == 0, "exit_code": code, "checks": [
            {"check": w, "ok": p is None, "problem": p, "detail" if p is None else "fix": d}
            for w, p, d, _ in checks]}, ensure_ascii=False, indent=2))
        return code
    for what, problem, detail, _ in checks:
        print(f"ok    {what}: {detail}" if problem is None
              else f"FAIL  {what}: {problem} (what to do: {detail})")
    return code
