from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, build_sample_store


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    with SandboxProcess(db_path=tmp_path / "sandbox.db",
                        extra_args=["--rate-per-s", "0"]) as sb:
        yield sb


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, SampleManifest]:
    path = tmp_path / "haicang.db"
    return path, build_sample_store(path)
