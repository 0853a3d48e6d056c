"""The federation state machine (issue #8): three sources feeding one sandbox — the 志愿云
sample store (sql), the social-work agency server (http), a folder of Taiwan teams' sheets
(files) — changed, crashed and faulted step by step: workers and logs added, changed,
voided, revived (a worker who is a 志愿云 volunteer is `matched`); the agency server dying
mid-page and restarted from the adapter's retry wait, its pages shifting; half-written CSV
and XLSX files completed later; XLSX with merged cells and formula hours; corrected files;
one new person from two sources in one cycle; cycles, sandbox faults, a forked bridge
SIGKILLed mid-cycle. The multi-source oracle (fedoracle.py) checks after every step.

CI: a fixed seed, no new run after CI_BUDGET_S. `ZYB_SOAK=1`: random, longer
(`ZYB_FED_EXAMPLES`, `ZYB_FED_STEPS`); the tally is printed with -s.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from adapters.base import SourceAdapter
from adapters.http import RetryPolicy, open_http_source
from bridge import config as config_mod
from bridge import runtime
from bridge.national import NationalClient
from bridge.sandbox import DEMO_APP_ID, DEMO_APP_SECRET
from bridge.testing.agency import AgencyServer, wire
from bridge.testing.harness import SandboxProcess
from bridge.testing.sample import SampleManifest, build_sample_store, local_stamp
from mappings.result import Mapped
from tests.system import fedoracle as fed
from tests.system.helpers import cycle, ledger, state_rows
from tests.system.machine import SOAK, sigkill_a_cycle
from tests.system.oracle import check_converged, check_no_duplicates, state_intact

EXAMPLES = int(os.environ.get("ZYB_FED_EXAMPLES", "30" if SOAK else "24"))
STEPS = int(os.environ.get("ZYB_FED_STEPS", "40" if SOAK else "12"))
CI_BUDGET_S = 40.0       # no new run starts after this; the last one ends within ~10 s
TALLY: Counter[str] = Counter()
CLOCK = {"started": 0.0}
NAMES = ("陈晓云", "林建国", "黄丽华", "王海燕", "张佳颖", "吴俊杰", "刘秀英", "郑宏伟")
SEED = st.integers(0, 2**32 - 1)
AGENCY_CHANGES = ("worker", "shared_worker", "bad_worker", "log", "log", "move", "fix",
                  "summary", "void", "revive", "deactivate", "reactivate")
FOLDER_CHANGES = ("csv", "half_written", "complete", "xlsx", "corrected")


def live(fn: Callable[..., None]) -> Callable[..., None]:
    """A rule that does nothing once the CI budget is spent. Not a precondition: which
    rules may run must not depend on the clock, or hypothesis sees the same choices
    lead to different trees (FlakyStrategyDefinition)."""
    @functools.wraps(fn)
    def run(self: Any, *args: Any, **kwargs: Any) -> None:
        if not self.spent:
            fn(self, *args, **kwargs)
    return run


class Numbers:
    """Identity numbers no sample volunteer holds: 台胞证, 身份证, Taiwan residents' 居住证."""

    def __init__(self, taken: set[str]) -> None:
        self.taken, self.n = taken, 0

    def next(self, kind: str) -> str:
        while True:
            self.n += 1
            number = f"{60_000_000 + 7919 * self.n:08d}" if kind == "mtp" else \
                fed.mainland_id(self.n, "350212" if kind == "mainland" else "830000")
            if number not in self.taken:
                self.taken.add(number)
                return number


@contextmanager
def agency_restarted_on_retry(agency: AgencyServer) -> Iterator[None]:
    """Cycles opened inside open the agency source with a retry wait that starts the
    server again once it has died (in this process only, never in a forked bridge)."""
    real, parent = runtime.open_adapter, os.getpid()

    def wait(seconds: float) -> None:
        if os.getpid() == parent:
            deadline = time.monotonic() + 2.0
            while agency.running and time.monotonic() < deadline:
                time.sleep(0.02)
            if not agency.running:
                agency.start()
                TALLY["agency_restarts"] += 1
        time.sleep(min(seconds, 0.05))

    def open_adapter(cfg: config_mod.Config, src: config_mod.SourceConfig) -> SourceAdapter:
        if src.kind != "http":
            return real(cfg, src)
        assert src.url is not None
        return open_http_source(src.url, src.token, mapping=src.mapping, sleep=wait,
                                retry=RetryPolicy(attempts=6, base_s=0.05, cap_s=0.2))

    with mock.patch.object(runtime, "open_adapter", open_adapter):
        yield


class FederationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.spent = not SOAK and time.monotonic() - CLOCK["started"] > CI_BUDGET_S
        if self.spent:
            return
        TALLY["runs"] += 1
        self.dir = Path(tempfile.mkdtemp(prefix="zyb-fed-"))
        self.store, self.inbox = self.dir / "haicang.db", self.dir / "inbox"
        self.inbox.mkdir()
        self.manifest = build_sample_store(self.store, volunteers=20, seed=11 + TALLY["runs"])
        self.sandbox = SandboxProcess(self.dir / "sandbox.db", extra_args=[
            "--rate-per-s", "0", "--latency-ms", "10"]).start()
        self.agency = AgencyServer(self.dir / "agency.db", token=fed.TOKEN).start()
        self.cfg = fed.three_sources(self.dir, self.sandbox, self.store, self.agency,
                                     self.inbox, timeout_s=0.5, max_attempts=3, batch_size=20)
        self.client = NationalClient(self.sandbox.base_url, DEMO_APP_ID, DEMO_APP_SECRET)
        taken, self.shareable = self.zyy_people()
        self.slots, self.numbers = fed.Slots(), Numbers(taken)
        self.folder = fed.Folder(self.inbox)
        self.half: list[tuple[str, list[dict[str, Any]]]] = []
        self.sheet_people: list[dict[str, Any]] = []
        self.serial, self.converged = 0, False
        rng = random.Random(TALLY["runs"])
        for kind in ("shared_worker", "worker"):     # an alias of a 志愿云 volunteer, a new one
            self.change_agency(kind, rng)
            self.step(f"agency:{kind}")
        for kind in ("csv", "xlsx", "half_written"):
            self.step(f"folder:{self.change_folder(kind, rng)}")
        self.same_person_from_two_sources(("agency+sheet", "zyy+agency")[TALLY["runs"] % 2],
                                          TALLY["runs"])

    def teardown(self) -> None:
        """Every run ends the same way, whichever rules it drew: the half-written files
        completed, a corrected file, a bridge killed mid-cycle, a cycle in which the agency
        restarts mid-page, cycles until one is clean, and the full check."""
        if self.spent:
            return
        try:
            rng = random.Random(TALLY["runs"])
            for kind in ("complete",) * len(self.half) + ("corrected",):
                self.step(f"folder:{self.change_folder(kind, rng)}")
            self.crash(0.02 + 0.03 * (TALLY["runs"] % 4))
            self.agency_restarts_mid_read(TALLY["runs"] % 3, shift=True)
            for _ in range(3):
                if cycle(self.cfg).ok:
                    break
            self.converged = True
            self.invariants_hold()
        finally:
            self.client.close()
            self.agency.close()
            self.sandbox.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def step(self, name: str, *, changed: bool = True) -> None:
        TALLY["steps"] += 1
        TALLY[name] += 1
        if changed:
            self.converged = False

    # the 志愿云 store --------------------------------------------------------------------
    def zyy_people(self) -> tuple[set[str], list[str]]:
        """Every sample volunteer's number, and the `01` numbers of the synced ones whose
        records never run at 04:00-06:00 (volunteer 2's spans two nights): those a worker
        may share."""
        rows = fed.expectations(self.cfg, "haicang", fed.zyy_rows(self.store, ("volunteer",)),
                                lambda _: False, self.manifest.expected)
        mapped = {local: e.result.parts[0].payload for (_, local), e in rows.items()
                  if isinstance(e.result, Mapped)}
        taken = {str(e.row.data["cert_no"]).replace(" ", "").upper() for e in rows.values()}
        return taken | {str(p["id_number"]) for p in mapped.values()}, [
            str(p["id_number"]) for local, p in sorted(mapped.items())
            if rows[("volunteer", local)].synced and local != "2" and p["id_type"] == "01"]

    def zyy_add_volunteer(self, number: str) -> None:
        """A new 志愿云 volunteer: volunteer 1's row under a new id and this number."""
        conn = sqlite3.connect(self.store)
        try:
            with conn:
                conn.execute("CREATE TEMP TABLE v AS SELECT * FROM zyy_volunteer WHERE vol_id = 1")
                conn.execute("UPDATE v SET vol_id = (SELECT MAX(vol_id) + 1 FROM zyy_volunteer), "
                             "cert_no = ?, sex = NULL, birthday = NULL, gmt_modified = ?",
                             (number, local_stamp()))
                conn.execute("INSERT INTO zyy_volunteer SELECT * FROM v")
        finally:
            conn.close()

    # the agency ----------------------------------------------------------------------
    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def add_worker(self, rng: random.Random, *, number: str | None = None,
                   bad: bool = False) -> None:
        """A new worker (a 志愿云 volunteer's number when `number` is "shared") and a log."""
        if number == "shared":
            number = self.shareable.pop(rng.randrange(len(self.shareable))) \
                if self.shareable else None
        number = number or self.numbers.next("mainland")
        if bad:
            number = number[:-1] + ("0" if number[-1] != "0" else "1")
        wid = self.next_id("W")
        self.agency.put("workers", [fed.worker(wid, number, fullName=rng.choice(NAMES),
                                               phone=f"1395923{rng.randrange(10**4):04d}")])
        self.add_log(rng, wid)

    def add_log(self, rng: random.Random, wid: str | None = None) -> None:
        """A log; one in five waits for approval, names an unknown activity or has no
        number for its hours."""
        wid = wid or str(rng.choice(self.agency.docs("workers"))["workerId"])
        extra = rng.choice(({}, {}, {}, {}, {}, {"approvedAt": None},
                            {"activityCode": "99999"}, {"durationHours": "两小时"}))
        self.agency.put("service-logs", [fed.service_log(
            self.next_id("L"), wid, self.slots.take(rng.random() < 0.3), **extra)])

    def change_agency(self, kind: str, rng: random.Random) -> None:
        if kind in ("worker", "shared_worker", "bad_worker"):
            self.add_worker(rng, number="shared" if kind == "shared_worker" else None,
                            bad=kind == "bad_worker")
            return
        if kind == "log":
            self.add_log(rng)
            return
        if kind in ("deactivate", "reactivate"):
            wid = str(rng.choice(self.agency.docs("workers"))["workerId"])
            self.agency.update("workers", wid, active=kind == "reactivate",
                               phone=f"1385923{rng.randrange(10**4):04d}")
            return
        doc = rng.choice(self.agency.docs("service-logs"))
        start, end = (datetime.fromisoformat(doc[k].replace("Z", "+00:00"))
                      for k in ("startTime", "endTime"))
        if kind == "move":      # to another day, maybe across midnight: parts change
            start, end = (t.replace(tzinfo=fed.CST) for t in self.slots.take(rng.random() < .5))
        changes: dict[str, dict[str, Any]] = {
            "summary": {"summary": f"社工入户探访第{rng.randint(1, 99)}次"},
            "void": {"voided": True}, "revive": {"voided": False},
            "move": {"startTime": wire(start), "endTime": wire(end), "durationHours": "1.25"},
            "fix": {"durationHours": f"{(end - start).total_seconds() / 3600:.2f}",
                    "approvedAt": wire(end + timedelta(hours=1))}}
        self.agency.update("service-logs", str(doc["logId"]), **changes[kind])

    # the sheets folder ---------------------------------------------------------------
    def sheet_rows_for(self, rng: random.Random, people: int) -> list[dict[str, Any]]:
        """A row each for new or known 台胞证 holders; one in five claims 2.5 h of a 2 h
        span (quarantined until a corrected file fixes it)."""
        rows = []
        for _ in range(people):
            if self.sheet_people and rng.random() < 0.4:
                person = rng.choice(self.sheet_people)
            else:
                person = fed.sheet_person(self.numbers.next("mtp"))
                self.sheet_people.append(person)
            rows.append(fed.sheet_record(person, self.slots.take(),
                                         hours="2.5" if rng.random() < 0.2 else None))
        return rows

    def drop_csv(self, rng: random.Random, rows: list[dict[str, Any]],
                 name: str | None = None) -> None:
        self.folder.csv(name or f"{self.next_id('sheet-')}.csv", rows,
                        title=rng.choice((None, "海沧台胞志工队服务记录")),
                        encoding=rng.choice(("utf-8-sig", "gb18030")))

    def change_folder(self, kind: str, rng: random.Random) -> str:
        """Returns what was done (a completion or correction with nothing to complete or
        correct drops a new file instead)."""
        csvs = [f for f in self.folder.files if f.name.endswith(".csv")]
        if kind == "half_written":
            rows = self.sheet_rows_for(rng, 2)
            name = f"{self.next_id('partial-')}.{('csv', 'xlsx')[TALLY['folder:' + kind] % 2]}"
            self.folder.half(name, rows)
            self.half.append((name, rows))
        elif kind == "complete" and self.half:
            name, rows = self.half.pop(0)
            if name.endswith(".xlsx"):
                self.folder.xlsx(name, rows, tricks=False)
            else:
                self.drop_csv(rng, rows, name)
        elif kind == "xlsx":    # merged cells, formula hours, real dates
            self.folder.xlsx(f"{self.next_id('book-')}.xlsx",
                             self.sheet_rows_for(rng, rng.randint(1, 3)), tricks=True)
        elif kind == "corrected" and csvs:  # over-long hours fixed, one content changed
            old = rng.choice(csvs)
            rows = [{**r, "服务时长(小时)": "2"} for r in old.rows]
            rows[rng.randrange(len(rows))]["服务内容"] = f"社区环保宣传（更正{rng.randint(1, 9)}）"
            self.drop_csv(rng, rows, f"{old.name[:-4]}-更正{self.next_id('')}.csv")
        else:
            self.drop_csv(rng, self.sheet_rows_for(rng, rng.randint(1, 3)))
            return "csv"
        return kind

    # rules -----------------------------------------------------------------------------
    @rule(kind=st.sampled_from(AGENCY_CHANGES), seed=SEED)
    @live
    def agency_changes(self, kind: str, seed: int) -> None:
        self.change_agency(kind, random.Random(seed))
        self.step(f"agency:{kind}")

    @rule(kind=st.sampled_from(FOLDER_CHANGES), seed=SEED)
    @live
    def folder_changes(self, kind: str, seed: int) -> None:
        self.step(f"folder:{self.change_folder(kind, random.Random(seed))}")

    @rule(pair=st.sampled_from(("agency+sheet", "zyy+agency")), seed=SEED)
    @live
    def same_person_from_two_sources(self, pair: str, seed: int) -> None:
        rng = random.Random(seed)
        if pair == "agency+sheet":
            number = self.numbers.next("resident")
            self.drop_csv(rng, [fed.sheet_record(fed.sheet_person(number), self.slots.take())])
        else:
            number = self.numbers.next("mainland")
            self.zyy_add_volunteer(number)
        self.add_worker(rng, number=number)
        self.step("two_source_people")

    @rule(crash_after=st.integers(0, 3), shift=st.booleans())
    @live
    def agency_restarts_mid_read(self, crash_after: int, shift: bool) -> None:
        """A cycle during which the agency server dies in the middle of a page (and its
        pages shift under the read); the adapter's retry finds it started again."""
        for kind, key in (("workers", "workerId"), ("service-logs", "logId")):
            for doc in self.agency.docs(kind)[:6]:      # enough to read for a few pages
                self.agency.update(kind, str(doc[key]))
        before = TALLY["agency_restarts"]
        self.agency.set_faults(crash_after=crash_after, shift=shift)
        try:
            with agency_restarted_on_retry(self.agency):
                report = cycle(self.cfg)
        finally:
            if self.agency.running:
                self.agency.set_faults(crash_after=None, shift=False)
            else:
                self.agency.start()
        assert report.ok, report.as_dict()
        TALLY["restart_cycles_landed"] += TALLY["agency_restarts"] > before
        self.step("agency_restart_cycles", changed=False)
        self.converged = True

    @rule(crash_first=st.booleans(), delay_ms=st.integers(0, 150))
    @live
    def run_cycle(self, crash_first: bool, delay_ms: int) -> None:
        if crash_first:
            self.crash(delay_ms / 1000)
        report = cycle(self.cfg)
        assert report.ok, report.as_dict()
        self.step("cycles", changed=False)
        self.converged = True

    @rule(seed=st.integers(0, 2**16))
    @live
    def cycle_with_faults(self, seed: int) -> None:
        self.sandbox.set_faults(seed=seed, pre_error_rate=0.2, post_error_rate=0.15,
                                drop_rate=0.1, burst_429=2, slow_rate=0.05, slow_ms=800)
        try:
            cycle(self.cfg)
        finally:
            self.sandbox.set_faults(reset=True)
        self.step("fault_cycles")

    @rule(delay_ms=st.integers(0, 150), seed=SEED)
    @live
    def kill_and_restart(self, delay_ms: int, seed: int) -> None:
        self.add_log(random.Random(seed))
        self.crash(delay_ms / 1000)
        for _ in range(3):
            if cycle(self.cfg).ok:
                break
        self.step("kill_steps", changed=False)
        self.converged = True


    def crash(self, delay_s: float) -> None:
        """SIGKILL a forked bridge inside a cycle (if the cycle ended first: add a log and
        try again sooner, at most 3 times); then the state file must be whole."""
        for n in range(3):
            if sigkill_a_cycle(self.cfg, delay_s):
                TALLY["kills"] += 1
                break
            self.add_log(random.Random(n))
            delay_s /= 2
        state_intact(self.cfg)

    # the oracle ------------------------------------------------------------------------
    def expected(self) -> dict[str, dict[fed.Key, fed.Expect]]:
        def project_synced(ref: str) -> bool:
            return self.manifest.expected.get(("project", ref.split(":")[2])) == "synced"

        key = fed.REF_KEY.encode("utf-8")
        return {
            "haicang": fed.expectations(self.cfg, "haicang", fed.zyy_rows(self.store),
                                        project_synced, self.manifest.expected),
            "shegong": fed.expectations(self.cfg, "shegong", fed.agency_rows(self.agency),
                                        project_synced),
            "taibao": fed.expectations(self.cfg, "taibao", fed.sheet_rows(self.folder.files, key),
                                       project_synced)}

    @invariant()
    def invariants_hold(self) -> None:
        if self.spent:
            return
        held = check_no_duplicates(self.sandbox)
        state_intact(self.cfg)
        book = ledger(self.cfg) if self.cfg.state.path.exists() else {}
        expected = self.expected()
        persons = fed.people(expected.values())
        volunteers = list({r["national_id"]: r for r in held.values()
                           if r["_entity"] == "volunteer"}.values())
        nids = fed.check_people(persons, book, volunteers, converged=self.converged)
        TALLY["checks"] += 1
        if not self.converged:
            return
        check_converged(self.cfg, self.sandbox, self.store)
        rows = state_rows(self.cfg)
        for source, rows_expected in expected.items():
            fed.check_source(rows_expected, [r for r in rows if r["source"] == source],
                             held, book)
        want = fed.expected_hours(persons, expected.values())
        records = {r["national_id"]: r for r in held.values()
                   if r["_entity"] == "service_record"}
        TALLY["hours_asked"] += fed.check_hours(persons, nids, want, list(records.values()),
                                                self.client)
        TALLY["full_checks"] += 1


# a hang guard, not a budget: the run takes 1-3 minutes, more on a loaded machine
@pytest.mark.timeout(900)
def test_three_sources_keep_every_invariant_through_crashes_and_faults() -> None:
    TALLY.clear()
    CLOCK["started"] = time.monotonic()
    run_state_machine_as_test(FederationMachine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
        derandomize=not SOAK, database=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck)))
    seconds = time.monotonic() - CLOCK["started"]
    print(f"\nfederation machine: {dict(TALLY)} in {seconds:.0f} s")
    assert TALLY["runs"] >= 2 and TALLY["full_checks"] >= 10, dict(TALLY)
    for event in ("restart_cycles_landed", "kills", "folder:complete", "folder:xlsx",
                  "folder:corrected", "agency:shared_worker", "two_source_people",
                  "hours_asked"):
        assert TALLY[event] >= 1, f"no {event} in {dict(TALLY)}"


def test_an_alias_stays_an_alias_in_the_ledger_when_its_worker_changes(
        tmp_path: Path, sandbox: SandboxProcess, sample: tuple[Path, SampleManifest]) -> None:
    store, _ = sample
    (tmp_path / "inbox").mkdir()
    with AgencyServer(tmp_path / "agency.db", token=fed.TOKEN) as agency:
        number = fed.zyy_rows(store, ("volunteer",))[0].data["cert_no"]
        agency.put("workers", [fed.worker("W1", str(number))])
        cfg = fed.three_sources(tmp_path, sandbox, store, agency, tmp_path / "inbox")
        assert cycle(cfg).ok
        assert ledger(cfg)["shegong:volunteer:W1"]["status"] == "alias"
        agency.update("workers", "W1", phone="13859230000")
        assert cycle(cfg).ok
        assert ledger(cfg)["shegong:volunteer:W1"]["status"] == "alias"
