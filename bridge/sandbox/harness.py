"""SandboxProcess: the sandbox as a child process on 127.0.0.1, for tests, the demo and
the benchmarks.

    with SandboxProcess() as sandbox:
        client = NationalClient(sandbox.base_url, DEMO_APP_ID, DEMO_APP_SECRET)
        ...
        sandbox.records("volunteers")
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from bridge.sandbox import BASE_PATH
from bridge.sandbox.cli import CONTROL_TOKEN_ENV


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SandboxError(RuntimeError):
    """The sandbox did not start (the message carries its stderr)."""


class SandboxProcess:
    def __init__(self, db_path: Path | str | None = None, *, port: int | None = None,
                 host: str = "127.0.0.1", extra_args: Sequence[str] = (),
                 apps: Path | str | None = None, env: Mapping[str, str] | None = None,
                 startup_timeout_s: float = 20.0) -> None:
        self._tmp: Path | None = None
        if db_path is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="zy-sandbox-"))
            db_path = self._tmp / "sandbox.db"
        self.db_path = Path(db_path).resolve()  # the server may run in another folder
        self.host = host
        self._fixed_port = port
        self.port = port or 0
        self.extra_args = list(extra_args)
        self.apps = Path(apps) if apps is not None else None
        self.env = dict(env or {})
        self.startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        # the control endpoints are on (for the tests' oracle) unless --no-control is given
        self.control = "--no-control" not in self.extra_args
        self._token = secrets.token_hex(16)
        self._http = httpx.Client(timeout=10.0,
                                  headers={"Authorization": f"Bearer {self._token}"})

    # urls -----------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + BASE_PATH

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # life -----------------------------------------------------------------------------
    def start(self) -> SandboxProcess:
        if self.running:
            return self
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            if not self._fixed_port:
                self.port = free_port(self.host)
            try:
                self._spawn()
                return self
            except SandboxError:
                if attempt == attempts - 1:
                    raise
        return self

    def _spawn(self) -> None:
        args = [sys.executable, "-m", "bridge.sandbox", "serve", "--host", self.host,
                "--port", str(self.port), "--db", str(self.db_path), *self.extra_args]
        if self.control:
            args.append("--control")
        if self.apps is not None:
            args += ["--apps", str(self.apps)]
        # lives as long as the child; closed in stop()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                      env={**os.environ, **self.env,
                                           CONTROL_TOKEN_ENV: self._token})
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SandboxError(f"the sandbox exited with {self._proc.returncode}:\n"
                                   + self._stderr_text())
            with contextlib.suppress(httpx.HTTPError):
                if self._http.get(self.base_url + "/health", timeout=1.0).status_code == 200:
                    if self.control:
                        self.reset_stats()
                    return
            time.sleep(0.05)
        self.stop()
        raise SandboxError(f"the sandbox did not answer /health within "
                           f"{self.startup_timeout_s:.0f} s:\n{self._stderr_text()}")

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return str(self._stderr.read().decode("utf-8", "replace"))[-4000:]

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.stop()

    def restart(self) -> None:
        """Stop and start again on the same db file and port."""
        self.stop()
        self._fixed_port = self._fixed_port or self.port
        self.start()

    def close(self) -> None:
        self.stop()
        self._http.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # control endpoints ---------------------------------------------------------------
    def _control(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._http.request(method, f"{self.root_url}/_sandbox{path}", json=body)
        if response.status_code == 400:
            raise ValueError(response.json().get("error", "refused"))
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        return dict(self._control("GET", "/stats"))

    def reset_stats(self) -> None:
        self._control("POST", "/stats/reset")

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Change faults or rate: seed, latency_ms, pre_error_rate, post_error_rate,
        drop_rate, burst_429, slow_rate, slow_ms, rate_per_s, burst, reads, reset."""
        return dict(self._control("POST", "/faults", settings))

    def records(self, entity: str) -> list[dict[str, Any]]:
        """Every record of every app: `organizations`, `volunteers`, `projects` or
        `service-records` (`service_record` and the other singular names work too)."""
        plural = {"organization": "organizations", "volunteer": "volunteers",
                  "project": "projects", "service_record": "service-records"}
        return list(self._control("GET", f"/records/{plural.get(entity, entity)}"))
