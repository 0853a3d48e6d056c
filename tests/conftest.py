"""Fixtures every test folder may use: the real database servers of tests/dbservers.py.

The order of the run: the files that take longest go first (LONG_FILES, measured with
`--durations`), each file's tests keeping their order, so that under pytest-xdist
(`make test`) the long ones start at once on their own worker instead of ending the run
alone. Serially the order changes nothing a test may rely on."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.dbservers"]

# the files of more than ~20 s of one serial run (a 2-core machine, December 2026),
# longest first
LONG_FILES = (
    "tests/system/test_state_machine.py",
    "tests/system/test_output_safety.py",
    "tests/system/test_federation_machine.py",
    "tests/system/test_sync.py",
    "tests/system/test_pump.py",
    "tests/system/test_admin.py",
    "tests/system/test_crash_points.py",
    "tests/system/test_faults.py",
    "tests/system/test_state_faults.py",
    "tests/system/test_daemon.py",
    "tests/system/test_install_transcript.py",
    "tests/system/test_hostile.py",
    "tests/system/test_daemon_progress.py",
    "tests/system/test_admin_output.py",
    "tests/system/test_safety.py",
    "tests/contract/test_sql_servers.py",
    "tests/system/test_hostile_sources.py",
)
_RANK = {path: rank for rank, path in enumerate(LONG_FILES)}


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """The long files first, in LONG_FILES' order; the rest as collected (a stable sort)."""
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return _RANK.get(path, len(LONG_FILES))

    items.sort(key=rank)
