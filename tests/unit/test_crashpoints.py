"""The crash-point hook: a named point kills the process at the pass it names, a typo
is an error, and without the variable nothing happens."""

from __future__ import annotations

import os
import signal

import pytest

from bridge import crashpoints
from bridge.crashpoints import ENV, crashpoint, parse


def run_in_child(value: str, calls: list[tuple[str, bool]]) -> int:
    """Fork; the child sets $ZYB_CRASH_AT, passes the points, exits 0 if still alive.
    Returns the child's wait status."""
    pid = os.fork()
    if pid == 0:
        try:
            os.environ[ENV] = value
            crashpoints._passes.clear()
            for name, when in calls:
                crashpoint(name, when=when)
        finally:
            os._exit(0)
    return os.waitpid(pid, 0)[1]


def test_a_bare_name_is_its_first_pass() -> None:
    assert parse("after_apply") == ("after_apply", 1)


def test_a_name_with_a_number_is_that_pass() -> None:
    assert parse("after_persist_batch:3") == ("after_persist_batch", 3)


@pytest.mark.parametrize("value", ["after_aply", "after_apply:0", "after_apply:x", ":2"])
def test_an_unknown_point_or_pass_is_an_error(value: str) -> None:
    with pytest.raises(ValueError, match=ENV):
        parse(value)


def test_without_the_variable_no_point_kills(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    for name in crashpoints.POINTS:
        crashpoint(name)


def test_the_named_pass_kills_the_process() -> None:
    status = run_in_child("after_stage_page:2", [("after_stage_page", True)] * 2)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_an_earlier_pass_or_another_point_does_not_kill() -> None:
    status = run_in_child("after_stage_page:2", [("after_stage_page", True),
                                                 ("after_apply", True)])
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_a_pass_where_the_step_did_nothing_does_not_count() -> None:
    status = run_in_child("after_persist_batch", [("after_persist_batch", False)])
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
