"""ChildServer: one lifecycle for the servers the tests, the benchmarks and the demo run as
child processes on 127.0.0.1 (the sandbox platform, the fake agency): spawn, wait for the
health URL, stop (SIGTERM, then SIGKILL), kill as a crash would, restart on the same port
and files, clean the temporary folder up."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerError(RuntimeError):
    """The child server did not start (the message carries its stderr)."""


class ChildServer:
    """A server in a child process; subclasses say how to start it and where it is healthy."""

    what = "the server"
    error: type[ServerError] = ServerError

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None,
                 startup_timeout_s: float = 20.0, tmp_prefix: str | None = None) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix)) if tmp_prefix else None
        self.host = host
        self._fixed_port = port
        self.port = port or 0
        self.startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._http = httpx.Client(timeout=10.0)

    # what a subclass says -------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def health_url(self) -> str:
        raise NotImplementedError

    def child_env(self) -> dict[str, str]:
        return {}

    def child_cwd(self) -> Path | None:
        return None

    def ready(self) -> None:
        """Called once the health URL answers 200."""

    # life -----------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        attempts = 1 if self._fixed_port else 3  # a free port may be taken before we bind
        for attempt in range(attempts):
            if not self._fixed_port:
                self.port = free_port(self.host)
            try:
                self._spawn()
                return self
            except ServerError:
                if attempt == attempts - 1:
                    raise
        return self

    def _spawn(self) -> None:
        # lives as long as the child; closed in stop()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc = subprocess.Popen(self.command(), cwd=self.child_cwd(),
                                      stdout=subprocess.DEVNULL, stderr=self._stderr,
                                      env={**os.environ, **self.child_env()})
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise self.error(f"{self.what} exited with {self._proc.returncode}:\n"
                                 + self._stderr_text())
            with contextlib.suppress(httpx.HTTPError):
                if self._http.get(self.health_url(), timeout=1.0).status_code == 200:
                    self.ready()
                    return
            time.sleep(0.05)
        self.stop()
        raise self.error(f"{self.what} did not answer {self.health_url()} within "
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
        """Stop and start again on the same files and port."""
        self.stop()
        self._fixed_port = self._fixed_port or self.port
        self.start()

    def close(self) -> None:
        self.stop()
        self._http.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
