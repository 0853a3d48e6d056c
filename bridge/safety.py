"""Safety stops: the checks that protect the platform from a bad day (operator-interface.md
`[safety]`; the API Engagement hazard of an empty feed soft-deleting everything).

Checked after staging and before anything is sent: a cycle that would revoke or
deactivate more than `max_revoke_share` of what the platform holds (but always allowing
`max_revoke_min`), or a full read that saw fewer rows than `min_read_share` of the
ledger's live rows, stops with exit 3 until an admin passes it with --force. In the
daemon only the tripped source pauses (a row in `paused`), until such a forced run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bridge.config import SafetyConfig
from bridge.errors import SafetyStop
from state.store import StateStore

ENDING_STATUSES = {"volunteer": "inactive", "organization": "dissolved",
                   "project": "cancelled"}


def destructive_count(store: StateStore, sources: Sequence[str]) -> int:
    """Revocations and deactivations waiting in the outbox for sources."""
    revokes = store.revokes_waiting(sources)
    endings = 0
    for entity, new_text, old_text in store.upserts_over_synced(sources):
        ending = ENDING_STATUSES.get(entity)
        new, old = json.loads(new_text), json.loads(old_text or "{}")
        if new.get("status") == ending and old.get("status") != ending:
            endings += 1
    return int(revokes) + endings


def live_count(store: StateStore, sources: Sequence[str]) -> int:
    """Records of these sources the platform holds (owner or alias); counted on the
    ledger_live index, not by reading every ledger row (every cycle asks)."""
    return store.live_of_sources(sources)


def check_destructive(store: StateStore, cfg: SafetyConfig, sources: Sequence[str],
                      live_before: int | None = None) -> None:
    """`live_before`: the live count when the cycle began (creations sent while it
    staged must not raise the limit for its revocations)."""
    count = destructive_count(store, sources)
    live = live_before if live_before is not None else live_count(store, sources)
    allowed = max(cfg.max_revoke_min, int(cfg.max_revoke_share * live))
    if count > allowed:
        raise SafetyStop(
            f"this cycle would revoke or deactivate {count} of {live} live records on the "
            f"platform (the limit is {allowed}: max_revoke_share {cfg.max_revoke_share}, "
            f"max_revoke_min {cfg.max_revoke_min}); nothing was sent. Check the source, then "
            "run it once with --force to send them")


def check_full_read(store: StateStore, cfg: SafetyConfig, source: str, seen: int) -> None:
    live = store.live_bases(source)
    if live and seen < cfg.min_read_share * live:
        raise SafetyStop(
            f"a full read of source {source} saw {seen} rows, fewer than "
            f"{cfg.min_read_share:.0%} of the {live} records it has on the platform; nothing "
            "was sent. Check the source, then run it once with --force")


def pause(store: StateStore, source: str, reason: str) -> None:
    store.pause(source, reason)


def unpause(store: StateStore, sources: Sequence[str]) -> None:
    store.unpause(sources)


def paused(store: StateStore) -> dict[str, str]:
    return store.paused()
