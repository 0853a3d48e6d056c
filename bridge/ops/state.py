"""State backup, restore and check as operations: the refusals an operator must see
(no state file, a backup over the state file itself, an unhealthy backup) decided here,
the file work done by state/files.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bridge.errors import ConfigError, StateError
from state.files import Health, backup, inspect, restore
from state.lock import StateLock

__all__ = ["Health", "Restored", "backup_state", "check_state", "restore_state"]


@dataclass(frozen=True)
class Restored:
    """A restore's outcome: the backup's health; `kept` is where the file before it went."""
    health: Health
    done: bool
    kept: Path | None = None


def backup_state(state: Path, target: Path, *, force: bool = False) -> Health:
    """A checked copy of the state file at `target` (safe while a daemon runs)."""
    if not state.is_file():
        raise StateError(f"no state file at {state}: nothing to back up")
    if target.exists() and not force:
        raise ConfigError(f"{target} exists: choose another name, or pass --force")
    if target.resolve() == state.resolve():
        raise ConfigError("the backup cannot be the state file itself")
    return backup(state, target)


def restore_state(source: Path, state: Path) -> Restored:
    """Replace the state file with a healthy backup, under the state lock (LockHeld while
    another process holds it); nothing is done when the backup is not healthy."""
    health = inspect(source)
    if not health.ok:
        return Restored(health, done=False)
    with StateLock(state):
        kept = restore(source, state)
    return Restored(health, done=True, kept=kept)


def check_state(path: Path) -> Health:
    """Integrity, foreign keys, schema version and audit chain; the damage in `problems`."""
    return inspect(path)
