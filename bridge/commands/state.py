"""`zybridge state …`: keep the state file safe (docs/reliability.md).

- `state backup FILE`   a consistent copy made with SQLite's backup API, safe while a
                        daemon runs; written beside FILE, checked, then renamed into place.
- `state restore FILE`  refuses while another process holds the lock or when FILE is not
                        a healthy state file; keeps the current file aside first.
- `state check [FILE]`  `PRAGMA integrity_check`, foreign keys, the schema version and the
                        audit chain: exit 0 healthy, 2 broken (with what to do).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bridge.commands.render import Sub
from bridge.ops.state import Health, backup_state, check_state, restore_state
from bridge.runtime import load_config

OK, BROKEN = 0, 2
WHAT_TO_DO = ("stop the daemon, then `zybridge state restore BACKUP` with your latest good "
              "backup and run `zybridge sync` (docs/reliability.md, \"Recovery\")")


def register(subparsers: Sub) -> None:
    st = subparsers.add_parser("state", help="back up, restore or check the state file",
                               description="Keep the SQLite state file safe: backups, "
                                           "restores and an integrity check.")
    sub = st.add_subparsers(dest="state_command", metavar="ACTION", required=True)
    b = sub.add_parser("backup", help="a consistent copy of the state file (safe while a "
                                      "daemon runs)",
                       description="Copies the state file with SQLite's backup API into FILE "
                                   "(mode 0600), checks the copy, then renames it into place.")
    b.add_argument("file", help="where to write the backup")
    b.add_argument("--force", action="store_true", help="replace FILE if it exists")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser("restore", help="replace the state file with a backup",
                       description="Refuses while another zybridge process holds the state "
                                   "file, or when FILE is not a healthy state file. The "
                                   "current file is kept beside it as "
                                   "<state>.before-restore-<time>.")
    r.add_argument("file", help="the backup to restore")
    r.set_defaults(func=cmd_restore)
    c = sub.add_parser("check", help="integrity, foreign keys, schema version, audit chain",
                       description="Exit 0: healthy. Exit 2: broken, with what to do.")
    c.add_argument("file", nargs="?", help="a backup to check instead of the state file")
    c.add_argument("--json", action="store_true", help="one JSON object: ok, path, "
                   "schema_version, audit_entries, problems, what_to_do")
    c.set_defaults(func=cmd_check)


# commands ---------------------------------------------------------------------------------
def cmd_backup(args: argparse.Namespace) -> int:
    state = _state_path(args)
    target = Path(args.file)
    health = backup_state(state, target, force=args.force)
    print(f"backed up {state} to {target}: schema version {health.version}, "
          f"{health.audit_entries} audit entries, integrity ok")
    return OK


def cmd_restore(args: argparse.Namespace) -> int:
    state = _state_path(args)
    source = Path(args.file)
    done = restore_state(source, state)
    if not done.done:
        _print_problems(done.health)
        print(f"zybridge: {source} is not a healthy state file: restore refused; "
              "try an older backup", flush=True)
        return BROKEN
    print(f"restored {source} into {state}")
    if done.kept is not None:
        print(f"the state file as it was is kept in {done.kept}")
    print("next: run `zybridge sync`; rows changed since the backup are sent again as "
          "updates (the platform upserts by external_ref, so nothing is doubled)")
    return OK


def cmd_check(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else _state_path(args)
    health = check_state(path)
    if args.json:
        print(json.dumps({"ok": health.ok, "path": str(path), "schema_version": health.version,
                          "audit_entries": health.audit_entries,
                          "problems": list(health.problems),
                          "what_to_do": None if health.ok else WHAT_TO_DO},
                         ensure_ascii=False, indent=2))
        return OK if health.ok else BROKEN
    if health.ok:
        print(f"state file {path} is healthy: schema version {health.version}, "
              f"integrity ok, foreign keys ok, audit chain intact "
              f"({health.audit_entries} entries)")
        return OK
    _print_problems(health)
    print(f"what to do: {WHAT_TO_DO}")
    return BROKEN


# helpers ---------------------------------------------------------------------------------
def _state_path(args: argparse.Namespace) -> Path:
    return load_config(args.config).state.path


def _print_problems(health: Health) -> None:
    print(f"state file {health.path} is broken:")
    for problem in health.problems:
        print(f"  {problem}")
