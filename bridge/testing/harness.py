"""SandboxProcess: the sandbox as a child process on 127.0.0.1, for tests, the demo and
the benchmarks.

    with SandboxProcess() as sandbox:
        client = NationalClient(sandbox.base_url, DEMO_APP_ID, DEMO_APP_SECRET)
        ...
        sandbox.records("volunteers")
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.sandbox import BASE_PATH
from bridge.sandbox.cli import CONTROL_TOKEN_ENV
from bridge.testing.process import ChildServer, ServerError, free_port

__all__ = ["SandboxError", "SandboxProcess", "free_port"]


class SandboxError(ServerError):
    """The sandbox did not start (the message carries its stderr)."""


class SandboxProcess(ChildServer):
    what = "the sandbox"
    error = SandboxError

    def __init__(self, db_path: Path | str | None = None, *, port: int | None = None,
                 host: str = "127.0.0.1", extra_args: Sequence[str] = (),
                 apps: Path | str | None = None, env: Mapping[str, str] | None = None,
                 startup_timeout_s: float = 20.0) -> None:
        super().__init__(host=host, port=port, startup_timeout_s=startup_timeout_s,
                         tmp_prefix=None if db_path is not None else "zy-sandbox-")
        if db_path is None:
            db_path = Path(self._tmp or ".") / "sandbox.db"
        self.db_path = Path(db_path).resolve()  # the server may run in another folder
        self.extra_args = list(extra_args)
        self.apps = Path(apps) if apps is not None else None
        self.env = dict(env or {})
        # the control endpoints are on (for the tests' oracle) unless --no-control is given,
        # behind a bearer token of this process's own
        self.control = "--no-control" not in self.extra_args
        self._token = secrets.token_hex(16)
        self._http.headers["Authorization"] = f"Bearer {self._token}"

    @property
    def base_url(self) -> str:
        return self.root_url + BASE_PATH

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "bridge.sandbox", "serve", "--host", self.host,
                "--port", str(self.port), "--db", str(self.db_path), *self.extra_args]
        if self.apps is not None:
            args += ["--apps", str(self.apps)]
        if self.control:
            args.append("--control")
        return args

    def health_url(self) -> str:
        return self.base_url + "/health"

    def child_env(self) -> dict[str, str]:
        return {**self.env, CONTROL_TOKEN_ENV: self._token}

    def ready(self) -> None:
        if self.control:
            self.reset_stats()

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

    def reset(self) -> None:
        """Empty the platform as if it were new (records, idempotency keys, nonces, stats)
        and put faults and rate back to this process's command line: a test reuses a
        running sandbox instead of starting its own."""
        self._control("POST", "/reset")

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Change faults or rate: seed, latency_ms, pre_error_rate, post_error_rate,
        drop_rate, burst_429, slow_rate, slow_ms, rate_per_s, burst, reads, reset."""
        return dict(self._control("POST", "/faults", settings))

    def counts(self) -> dict[str, int]:
        """How many records of each entity (`organization`, …) the platform holds, counted
        by the sandbox: cheap where `records` would carry every record over HTTP."""
        return {str(k): int(v) for k, v in self._control("GET", "/counts").items()}

    def records(self, entity: str) -> list[dict[str, Any]]:
        """Every record of every app: `organizations`, `volunteers`, `projects` or
        `service-records` (`service_record` and the other singular names work too)."""
        plural = {"organization": "organizations", "volunteer": "volunteers",
                  "project": "projects", "service_record": "service-records"}
        return list(self._control("GET", f"/records/{plural.get(entity, entity)}"))
