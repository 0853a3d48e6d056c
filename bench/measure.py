"""Measuring a contender as its own process: wall time, CPU time and peak RSS of exactly
that child (os.wait4 returns its rusage alone), and the sandbox's CPU from /proc.

No psutil: Linux's /proc and os.wait4 are enough, and the benchmark must not need more
than the bench extra installs.
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Usage:
    """What one child process cost, and what it printed."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_child(args: Sequence[str], *, env: Mapping[str, str] | None = None,
              cwd: Path | None = None, timeout_s: float = 7200.0) -> Usage:
    """Run `args` to the end and return its own usage. Output goes to temporary files,
    so a chatty child never blocks on a full pipe; the wall clock includes its start-up
    (interpreter and imports), as a user running the command sees it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(args), stdout=out, stderr=err, cwd=cwd,
                                env={**os.environ, **(env or {})})
        status, usage, peak = _wait(proc, timeout_s)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    return Usage(wall, usage.ru_utime + usage.ru_stime, peak or usage.ru_maxrss / 1024,
                 os.waitstatus_to_exitcode(status), stdout, stderr)


def _wait(proc: subprocess.Popen[bytes],
          timeout_s: float) -> tuple[int, resource.struct_rusage, float]:
    """Wait for the child; its rusage and its peak RSS as /proc's VmHWM showed it while it
    ran. wait4's ru_maxrss alone would do, but for vfork: a child spawned by a big
    parent (pytest) carries the parent's peak into its own until exec."""
    deadline = time.monotonic() + timeout_s
    peak = 0.0
    while True:
        peak = max(peak, proc_peak_rss_mb(proc.pid))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, usage, peak
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise TimeoutError(f"{proc.args!r} ran longer than {timeout_s:.0f} s")
        time.sleep(0.02)


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (0.0 when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def proc_peak_rss_mb(pid: int) -> float:
    """VmHWM (the peak resident set) of a live process, in MB (0.0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child_pid(marker: str, parent: int | None = None) -> int | None:
    """The pid of a child of `parent` (default: this process) whose command line holds
    every word of `marker`; None when there is none."""
    parent = os.getpid() if parent is None else parent
    words = marker.split()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        args = [a.decode("utf-8", "replace") for a in argv]
        if ppid == parent and all(w in args for w in words):
            return int(entry.name)
    return None


def load_average() -> float:
    """The 1-minute load average (to tell whether the machine is otherwise idle)."""
    return os.getloadavg()[0]
