"""Fixtures of the sandbox conformance tests: a running sandbox with a few apps, a signing
client over loopback (plain httpx + bridge.signing), and builders of valid records.

`sandbox` (session): apps app-a (3502, its secret from ${ZY_SANDBOX_TEST_SECRET}), app-b
(3502), app-fz (3501) and the demo app (DEMO_APP_ID/DEMO_APP_SECRET, 3502); rate limiting
off; secrets in APPS. Use distinct external_refs per test (the `uid` fixture)."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge import signing
from bridge.sandbox import BASE_PATH, DEMO_APP_ID, DEMO_APP_SECRET, DEMO_JURISDICTION
from bridge.testing.harness import SandboxProcess

SECRET_ENV = "ZY_SANDBOX_TEST_SECRET"
APPS = {"app-a": ("secret-a-from-env", "3502"), "app-b": ("secret-b", "3502"),
        "app-fz": ("secret-fz", "3501"), DEMO_APP_ID: (DEMO_APP_SECRET, DEMO_JURISDICTION)}
APPS_TOML = f"""
[[apps]]
id = "{DEMO_APP_ID}"
secret = "{DEMO_APP_SECRET}"
jurisdiction = "{DEMO_JURISDICTION}"

[[apps]]
id = "app-a"
secret = "${{ZY_SANDBOX_TEST_SECRET}}"
jurisdiction = "3502"

[[apps]]
id = "app-b"
secret = "secret-b"
jurisdiction = "3502"

[[apps]]
id = "app-fz"
secret = "secret-fz"
jurisdiction = "3501"
"""
AREA = "350205000000000000"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_people = itertools.count()


def id_number(birth: date | None = None, male: bool = True) -> str:
    """A valid 18-digit ID, distinct in the session (the test's own GB 11643 arithmetic)."""
    n = next(_people)
    born = birth or date(1950, 1, 1) + timedelta(days=n // 400)
    seq = (n % 400) * 2 + (1 if male else 0)
    body = f"350205{born:%Y%m%d}{seq:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _WEIGHTS,
                                                                  strict=True)) % 11]


def write_apps(directory: Path) -> Path:
    path = directory / "apps.toml"
    path.write_text(APPS_TOML, encoding="utf-8")
    return path


def start_sandbox(directory: Path, *extra: str) -> SandboxProcess:
    apps = write_apps(directory)
    sandbox = SandboxProcess(directory / "sandbox.db", apps=apps,
                             env={SECRET_ENV: APPS["app-a"][0]},
                             extra_args=["--rate-per-s", "0", *extra])
    return sandbox.start()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    sb = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield sb
    finally:
        sb.close()


@dataclass
class Api:
    """A signing client of one app."""
    sandbox: SandboxProcess
    app_id: str = "app-a"
    http: httpx.Client | None = None

    @property
    def secret(self) -> str:
        return APPS[self.app_id][0]

    def client(self) -> httpx.Client:
        if self.http is None:
            self.http = httpx.Client(timeout=10.0)
        return self.http

    def as_app(self, app_id: str) -> Api:
        return Api(self.sandbox, app_id, self.client())

    def headers(self, method: str, path: str, params: Sequence[tuple[str, str]] = (),
                body: bytes = b"", **kw: Any) -> dict[str, str]:
        return signing.sign_headers(self.app_id, self.secret, method, BASE_PATH + path,
                                    params, body, **kw)

    def post(self, path: str, doc: Any = None, *, key: str | None = None,
             raw: bytes | None = None, headers: Mapping[str, str] | None = None,
             timeout: float | None = None) -> httpx.Response:
        body = raw if raw is not None else json.dumps(doc, ensure_ascii=False).encode()
        h = self.headers("POST", path, (), body)
        h["Content-Type"] = "application/json"
        h["Idempotency-Key"] = key or uuid.uuid4().hex
        h.update(headers or {})
        return self.client().post(self.sandbox.base_url + path, content=body, headers=h,
                                  timeout=timeout or 10.0)

    def batch(self, path: str, *items: dict[str, Any], key: str | None = None
              ) -> list[dict[str, Any]]:
        """POST a batch that must succeed as a request; its item results."""
        response = self.post(path, {"items": list(items)}, key=key)
        assert response.status_code == 200, response.text
        return list(response.json()["data"]["results"])

    def one(self, path: str, item: dict[str, Any]) -> dict[str, Any]:
        return self.batch(path, item)[0]

    def get(self, path: str, params: Sequence[tuple[str, str]] = ()) -> httpx.Response:
        h = self.headers("GET", path, params)
        query = "&".join(f"{signing.encode(k)}={signing.encode(v)}" for k, v in params)
        url = self.sandbox.base_url + path + (f"?{query}" if query else "")
        return self.client().get(url, headers=h)


@pytest.fixture
def api(sandbox: SandboxProcess) -> Iterator[Api]:
    client = Api(sandbox)
    yield client
    if client.http is not None:
        client.http.close()


@pytest.fixture
def uid() -> str:
    """A prefix that makes this test's external_refs its own."""
    return "t" + uuid.uuid4().hex[:10]


def org(ref: str, **kw: Any) -> dict[str, Any]:
    return {"external_ref": ref, "name": "海沧区志愿服务队", "org_type": "1",
            "area_code": AREA, "service_categories": ["0001", "0006"],
            "contact_name": "陈明", "contact_phone": "0592-6051234", "status": "active", **kw}


def volunteer(ref: str, number: str | None = None, **kw: Any) -> dict[str, Any]:
    number = number or id_number()
    birth = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
    return {"external_ref": ref, "name": "林志贵", "id_type": "01", "id_number": number,
            "gender": "1" if int(number[16]) % 2 else "2", "birth_date": birth,
            "nationality": "156", "ethnicity": "01", "mobile": "13800138000",
            "area_code": AREA, "registered_at": "2024-03-01T09:00:00+08:00",
            "status": "active", **kw}


def project(ref: str, org_ref: str, **kw: Any) -> dict[str, Any]:
    return {"external_ref": ref, "name": "社区环境整治", "organization_external_ref": org_ref,
            "service_categories": ["0006"], "area_code": AREA, "address": "海沧街道",
            "start_at": "2025-01-01T00:00:00+08:00", "end_at": "2025-12-31T23:59:59+08:00",
            "recruit_count": 30, "description": "每周六上午\n清理海沧湾公园",
            "contact_name": "陈明", "contact_phone": "13900139000", "status": "running", **kw}


def record(ref: str, vol_ref: str, project_ref: str, day: str = "2025-06-01",
           start: str = "09:00:00", end: str = "11:00:00", hours: Any = 2, **kw: Any
           ) -> dict[str, Any]:
    return {"external_ref": ref, "volunteer_external_ref": vol_ref,
            "project_external_ref": project_ref, "start_at": f"{day}T{start}+08:00",
            "end_at": f"{day}T{end}+08:00", "hours": hours, "content": "清理海滩垃圾",
            "recorder": "王芳", "recorded_at": f"{day}T23:00:00+08:00",
            "entry_method": "1", **kw}


@dataclass(frozen=True)
class World:
    """An organization, a project and a volunteer of one test, all created."""
    uid: str
    org: str
    project: str
    volunteer: str
    volunteer_id: str


@pytest.fixture
def world(api: Api, uid: str) -> World:
    o, p, v = f"{uid}:organization:1", f"{uid}:project:1", f"{uid}:volunteer:1"
    assert api.one("/organizations/batch", org(o))["status"] == "created"
    assert api.one("/projects/batch", project(p, o))["status"] == "created"
    result = api.one("/volunteers/batch", volunteer(v))
    assert result["status"] == "created", result
    return World(uid, o, p, v, result["national_id"])


def codes(result: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(e["field"], e["code"]) for e in result["errors"]}
