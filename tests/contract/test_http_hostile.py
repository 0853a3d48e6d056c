"""The HTTP adapter against a hostile agency (local-sources.md §B): an overall deadline
however slowly bytes arrive, a size cap on the body, JSON nested too deep for a parser.
The fake agency runs as a real server on 127.0.0.1 (bridge/sandbox/agency.py)."""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator

import pytest

from adapters.http import HttpSource, RetryPolicy, open_http_source
from bridge.errors import TransientError
from bridge.testing.agency import AgencyServer

TOKEN = "agency-hostile-token"


@pytest.fixture(scope="module")
def server() -> Iterator[AgencyServer]:
    with AgencyServer(token=TOKEN) as agency:
        yield agency


@pytest.fixture
def agency(server: AgencyServer) -> Iterator[AgencyServer]:
    if not server.running:
        server.start()
    server.clear()
    yield server
    server.set_faults(hostile={})


def source(agency: AgencyServer, *, timeout_s: float = 30.0,
           max_page_mb: float = 16.0) -> HttpSource:
    return open_http_source(agency.url, TOKEN, timeout_s=timeout_s, max_page_mb=max_page_mb,
                            retry=RetryPolicy(attempts=3), sleep=lambda s: None)


def read_all(src: HttpSource) -> None:
    for _ in src.read_changes("volunteer", None, 0, 50):
        pass


def test_a_dripping_page_fails_within_its_deadline(agency: AgencyServer) -> None:
    agency.set_faults(hostile={"drip_s": 1.5})
    started = time.monotonic()
    with pytest.raises(TransientError, match="deadline"):
        read_all(source(agency, timeout_s=3.0))
    assert time.monotonic() - started < 3.0 + 1.0


def test_a_page_silent_past_its_deadline_fails_at_the_deadline(agency: AgencyServer) -> None:
    agency.set_faults(hostile={"drip_s": 60})
    started = time.monotonic()
    with pytest.raises(TransientError, match="deadline"):
        read_all(source(agency, timeout_s=2.0))
    assert time.monotonic() - started < 2.0 + 1.0


def test_deeply_nested_json_is_a_failed_read_not_a_recursion_error(
        agency: AgencyServer) -> None:
    agency.set_faults(hostile={"nested": 200_000})
    with pytest.raises(TransientError, match="nested too deep"):
        read_all(source(agency))


def test_a_page_over_the_size_cap_is_refused_before_it_is_read_whole(
        agency: AgencyServer) -> None:
    agency.set_faults(hostile={"huge_mb": 400})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(TransientError, match="max_page_mb"):
        read_all(source(agency, max_page_mb=16))
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 100 * 1024


def test_a_read_waiting_when_the_deadline_passes_is_cut_at_the_deadline(
        agency: AgencyServer) -> None:
    """Bytes at 0 s and 1.9 s, the next at 3.8 s: the read waiting from 1.9 s is cut by
    the watchdog at the 3 s deadline, not by the next byte nor by the per-read timeout."""
    agency.set_faults(hostile={"drip_s": 1.9})
    started = time.monotonic()
    with pytest.raises(TransientError, match="deadline"):
        read_all(source(agency, timeout_s=3.0))
    assert time.monotonic() - started < 3.5
