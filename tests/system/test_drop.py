"""A row an admin dropped stays dropped through re-reads until the source changes it."""

from __future__ import annotations

from pathlib import Path

from bridge.runtime import open_runtime
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, update_rows
from state.admin import AdminQueries
from tests.system.helpers import cycle, make_config, state_rows


def status_of(cfg: object, entity: str, local_id: str) -> str:
    rows = state_rows(cfg)  # type: ignore[arg-type]
    return next(r["status"] for r in rows if (r["entity"], r["local_id"]) == (entity, local_id))


def test_a_dropped_row_survives_the_reconcile_and_returns_when_changed(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, manifest = sample
    cfg = make_config(tmp_path, sandbox, store)
    cycle(cfg)
    entity, lid = next(k for k, v in manifest.expected.items()
                       if v == "quarantined" and k[0] == "volunteer")
    with open_runtime(cfg) as rt, rt.store.transaction():
        AdminQueries(rt.store).mark_dropped(("haicang", entity, lid))
    with open_runtime(cfg) as rt:
        rt.engine.cycle(full=True, kind="reconcile")
    assert status_of(cfg, entity, lid) == "skipped"
    update_rows(store, entity, [lid], {"email": "changed@example.org"})
    cycle(cfg)
    assert status_of(cfg, entity, lid) == "quarantined"
