"""Commands handed to a running daemon travel as typed requests (a kind and its arguments
as JSON), run in the daemon's runtime, their output and exit code kept in the state file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge import cli
from bridge.commands import admin
from bridge.errors import ConfigError
from bridge.ops import handoff
from bridge.runtime import Runtime
from state.store import StateStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore.open(tmp_path / "state.db")
    yield s
    s.close()


def daemon_runtime(store: StateStore) -> Runtime:
    return Runtime(cfg=None, store=store, client=None, adapters={},  # type: ignore[arg-type]
                   engine=None)  # type: ignore[arg-type]  # serve() uses the store only


def parse(*argv: str) -> Any:
    return cli.build_parser().parse_args(["--config", "z.toml", *argv])


def test_a_handed_command_becomes_a_request_of_its_kind_with_json_arguments() -> None:
    request = admin.handed_request(parse("quarantine", "retry", "--all", "--source", "h"))
    assert request is not None and request.kind == "quarantine retry"
    assert request.args["all"] is True and request.args["source"] == "h"
    assert "func" not in request.args
    assert handoff.Request.from_json(json.loads(json.dumps(request.to_json()))) == request


def test_a_command_the_daemon_does_not_run_gives_no_request() -> None:
    assert admin.handed_request(parse("status")) is None
    assert admin.handed_request(parse("quarantine", "list")) is None


def test_a_request_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="not a request"):
        handoff.Request("sync", {})


def test_serve_runs_the_queued_requests_in_order_and_keeps_their_answers(
        store: StateStore) -> None:
    first = store.queue_request(handoff.Request("resync", {"source": "h"}).to_json(), "ops")
    second = store.queue_request(handoff.Request("dead-letters drop", {}).to_json(), "ops")
    seen: list[str] = []

    def run(request: handoff.Request, rt: Runtime) -> int:
        assert rt.store is store
        seen.append(request.kind)
        print(f"ran {request.kind}")
        return 0 if request.kind == "resync" else 3

    assert handoff.serve(daemon_runtime(store), run) == 2
    assert seen == ["resync", "dead-letters drop"]
    assert store.request_outcome(first) == ("done", 0, "ran resync\n")
    assert store.request_outcome(second) == ("done", 3, "ran dead-letters drop\n")
    assert store.queued_requests() == []


def test_a_failing_request_is_failed_with_its_error_and_the_next_still_runs(
        store: StateStore) -> None:
    bad = store.queue_request(handoff.Request("resync", {}).to_json(), "ops")
    good = store.queue_request(handoff.Request("quarantine retry", {}).to_json(), "ops")

    def run(request: handoff.Request, rt: Runtime) -> int:
        if request.kind == "resync":
            raise ConfigError("no source h")
        return 0

    handoff.serve(daemon_runtime(store), run)
    status, code, output = store.request_outcome(bad) or ("", None, None)
    assert (status, code) == ("failed", 2) and "no source h" in str(output)
    assert store.request_outcome(good) == ("done", 0, "")


def test_a_request_queued_by_an_older_zybridge_is_refused_with_a_clear_error(
        store: StateStore) -> None:
    old = store.queue_request(["resync", "--source", "h"], "ops")  # a replayed argv

    def run(request: handoff.Request, rt: Runtime) -> int:
        raise AssertionError("not run")

    handoff.serve(daemon_runtime(store), run)
    status, code, output = store.request_outcome(old) or ("", None, None)
    assert (status, code) == ("failed", 2)
    assert "older" in str(output) and "run the command again" in str(output)
