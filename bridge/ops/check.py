"""`zybridge check` as operations: the state file, each source, the platform's health and
one signed read, each a finding (what, the problem or None, the detail or what to do, the
exit code it asks for). Problems are masked (they may quote a source's data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge import logs
from bridge.config import Config, SourceConfig
from bridge.errors import BridgeError, ConfigError, TransientError
from state.store import StateStore

if TYPE_CHECKING:
    from bridge.national import NationalClient

Check = tuple[str, str | None, str, int]   # what, problem (None: ok), detail or fix, exit


def check_machine(cfg: Config) -> list[Check]:
    """The checks `run` makes at start-up: secrets set, files writable, listen free."""
    from bridge import configcheck
    from bridge.config import unset_message
    from state.lock import holder

    found = [unset_message(k, v) for k, v in cfg.unset_env]
    found += configcheck.problems(cfg, listen=holder(cfg.state.path) is None)
    return [("config", logs.scrub(x), "fix the config file or the environment", 2)
            for x in found]


def check_state(cfg: Config) -> Check:
    from state.lock import holder

    if not cfg.state.path.exists():
        return ("state", None, f"no state file yet at {cfg.state.path}: the first sync "
                "creates it", 0)
    try:
        StateStore.open(cfg.state.path, readonly=True).close()
    except BridgeError as exc:
        return ("state", logs.scrub(str(exc)), "restore the state file from a backup", 2)
    pid = holder(cfg.state.path)
    return ("state", None, f"{cfg.state.path}" + (f", locked by pid {pid}" if pid else ""), 0)


def check_source(cfg: Config, src: SourceConfig) -> Check:
    from adapters.base import ENTITIES
    from bridge.runtime import open_adapter

    what = f"source {src.name}"
    try:
        adapter = open_adapter(cfg, src)
        try:
            for entity in ENTITIES:
                next(iter(adapter.scan(entity, 1)), None)
        finally:
            adapter.close()
    except Exception as exc:  # any failure to open or read is the finding
        return (what, logs.scrub(f"{type(exc).__name__}: {exc}"),
                f"check sources.{src.name} (url or path) and that it is readable", 2)
    return (what, None, f"{src.kind}, every entity readable", 0)


def check_platform(cfg: Config) -> list[Check]:
    from bridge.national import NationalClient  # httpx: only when the check runs

    n = cfg.national
    client = NationalClient(n.base_url, n.app_id, n.app_secret.get_secret_value(),
                            timeout_s=n.timeout_s, tls=n.tls)
    try:
        try:
            healthy = client.health()
        except TransientError as exc:
            return [("platform health", logs.scrub(str(exc)),
                     f"check national.base_url ({n.base_url}) and the network", 1)]
        if not healthy:
            return [("platform health", "the health check did not answer 200",
                     "the platform is down or base_url is wrong; try again later", 1)]
        return [("platform health", None, n.base_url, 0), signed_read(client, n.app_id)]
    finally:
        client.close()


def signed_read(client: NationalClient, app_id: str) -> Check:
    try:
        client.get("/volunteers", {"external_ref": "zybridge-check:volunteer:0"})
    except ConfigError as exc:
        return ("signed read", logs.scrub(str(exc)), "fix national.app_id / app_secret", 2)
    except BridgeError as exc:
        return ("signed read", logs.scrub(str(exc)),
                "the platform refused a read; try again later", 1)
    return ("signed read", None, f"app {app_id} accepted", 0)
