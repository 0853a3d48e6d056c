from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, build_sample_store


@pytest.fixture(scope="session")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """One sandbox process (rate limit off) for the session, or for each xdist worker:
    started on first use; `sandbox` empties it before each test."""
    sb = SandboxProcess(db_path=tmp_path_factory.mktemp("shared-sandbox") / "sandbox.db",
                        extra_args=["--rate-per-s", "0"])
    try:
        yield sb
    finally:
        sb.close()


@pytest.fixture
def sandbox(shared_sandbox: SandboxProcess) -> SandboxProcess:
    """The shared sandbox, emptied (records, idempotency keys, stats, faults, rate state:
    `SandboxProcess.reset`) as if this test had started its own. A test that needs other
    command-line options starts its own SandboxProcess."""
    if not shared_sandbox.running:  # first use, or a test stopped it
        shared_sandbox.start()
    shared_sandbox.reset()
    return shared_sandbox


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, SampleManifest]:
    path = tmp_path / "haicang.db"
    return path, build_sample_store(path)
