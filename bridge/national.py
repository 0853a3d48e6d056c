"""NationalClient: signed requests to the national interface; responses become typed
results or errors of the one exception tree (national-api.md §1–§9).

No retries here: they live in push.py. The transport is injectable (tests use the real
sandbox; respx only for failure shapes a server cannot produce on demand).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from bridge import signing
from bridge.errors import ConfigError, RejectedError, TransientError
from bridge.tls import TlsFiles

RETRYABLE_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
# national-api.md §5 (batch upsert) and §7 (revocation): anything else is a protocol error
ITEM_STATUSES = frozenset({"created", "updated", "unchanged", "matched", "rejected",
                           "revoked", "not_found"})




@dataclass(frozen=True)
class ItemResult:
    external_ref: str
    status: str
    national_id: str | None
    errors: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class BatchResponse:
    status: int
    results: tuple[ItemResult, ...]
    replayed: bool
    request_id: str
    duration_ms: float


class NationalClient:
    def __init__(self, base_url: str, app_id: str, app_secret: str, *, timeout_s: float = 10.0,
                 transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], float] = time.time, max_connections: int = 8,
                 tls: TlsFiles | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.base_path = urlsplit(self.base_url).path.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self._clock = clock
        self._options: dict[str, Any] = {
            "timeout": timeout_s, "transport": transport,
            "limits": httpx.Limits(max_connections=max_connections,
                                   max_keepalive_connections=max_connections),
            "headers": {"User-Agent": "zhiyuan-bridge/0.1"},
            "verify": (tls or TlsFiles()).verify()}
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    @property
    def _http(self) -> httpx.Client:
        """The HTTP client, made at the first request (building its TLS context costs
        about 0.1 s, which a cycle with nothing to send does not spend). TLS
        verification stays on (httpx's default) for every https endpoint."""
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(**self._options)
            return self._client

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __repr__(self) -> str:  # never show the secret
        return f"NationalClient({self.base_url!r}, app_id={self.app_id!r})"

    # requests ------------------------------------------------------------------
    def post_batch(self, path: str, body: bytes, key: str) -> BatchResponse:
        started = time.monotonic()
        response = self._send("POST", path, body=body, extra={"Idempotency-Key": key})
        envelope = _envelope(response)
        results = _results(envelope)
        return BatchResponse(response.status_code, results,
                             response.headers.get("Idempotent-Replayed") == "true",
                             str(envelope.get("request_id", "")),
                             (time.monotonic() - started) * 1000)

    def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any] | None:
        """A signed read; None for 404 NOT_FOUND."""
        response = self._send("GET", path, params=dict(params or {}))
        if response.status_code == 404:
            return None
        data = _envelope(response).get("data")
        return data if isinstance(data, dict) else {}

    def health(self) -> bool:
        try:
            response = self._http.get(self.base_url + "/health")
        except httpx.HTTPError as exc:
            raise TransientError(f"the platform is unreachable: {type(exc).__name__}") from exc
        return response.status_code == 200

    def _send(self, method: str, path: str, *, body: bytes = b"",
              params: dict[str, str] | None = None,
              extra: Mapping[str, str] | None = None) -> httpx.Response:
        items = sorted((params or {}).items())
        full_path = self.base_path + path
        headers = signing.sign_headers(self.app_id, self._secret, method, full_path, items, body,
                                       now=self._clock())
        headers["Content-Type"] = "application/json"
        headers.update(extra or {})
        query = "&".join(f"{signing.encode(k)}={signing.encode(v)}" for k, v in items)
        url = self.base_url + path + (f"?{query}" if query else "")
        try:
            response = self._http.request(method, url, content=body if body else None,
                                          headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{method} {path}: timed out") from exc
        except httpx.ConnectError as exc:
            raise Unreachable(self.base_url, exc) from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"{method} {path}: {type(exc).__name__}") from exc
        self._raise_for_status(method, path, response)
        return response

    def _raise_for_status(self, method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status in (200, 404):
            return
        code = _code(response)
        where = f"{method} {path}"
        if status in (401, 403):
            raise ConfigError(self._auth_message(code, response))
        if status in RETRYABLE_STATUSES:
            raise TransientError(f"{where}: HTTP {status} {code}".rstrip(),
                                 retry_after=_retry_after(response), status=status)
        if status in (400, 413, 422):
            raise RejectedError(f"{where}: HTTP {status} {code}", status, code)
        if 500 <= status < 600:
            raise TransientError(f"{where}: HTTP {status}", status=status)
        raise RejectedError(f"{where}: unexpected HTTP {status} {code}", status, code)

    def _auth_message(self, code: str, response: httpx.Response) -> str:
        text = (f"the national platform refused the credentials of app {self.app_id!r} "
                f"({code or 'HTTP ' + str(response.status_code)})")
        if code == "AUTH_EXPIRED":
            skew = clock_skew(response, self._clock())
            if skew is not None:
                text += f": this machine's clock is off by {skew:+.0f} s from the platform's"
            text += "; fix the clock (NTP), the platform allows 300 s"
        elif code in ("AUTH_SIGNATURE", "AUTH_UNKNOWN_APP"):
            text += "; check national.app_id and the app_secret's environment variable"
        return text


class Unreachable(TransientError):
    """No connection to the platform at all (refused, no route, no such host): retried a
    few times only, and one batch's attempts speak for every batch of the cycle."""

    def __init__(self, base_url: str, cause: Exception) -> None:
        text = str(cause).lower()
        why = ("connection refused" if "refused" in text else
               "no such host" if "name or service" in text or "nodename" in text else
               f"cannot connect ({type(cause).__name__})")
        super().__init__(f"cannot reach {base_url} : {why}")
        self.base_url = base_url


def clock_skew(response: httpx.Response, now: float) -> float | None:
    """Local clock minus the server's, from the Date header, if it has one."""
    date = response.headers.get("Date")
    if not date:
        return None
    try:
        return now - parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return None


def _code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _envelope(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TransientError(f"HTTP {response.status_code} with a body that is not JSON",
                             status=response.status_code) from exc
    if not isinstance(body, dict):
        raise TransientError("a response that is not a JSON object", status=response.status_code)
    return body


def _results(envelope: dict[str, Any]) -> tuple[ItemResult, ...]:
    data = envelope.get("data")
    raw = data.get("results") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise TransientError("a batch response without data.results")
    out = []
    for item in raw:
        if not isinstance(item, dict) or "external_ref" not in item or "status" not in item:
            raise TransientError("a batch response with a malformed result")
        if not isinstance(item["status"], str) or item["status"] not in ITEM_STATUSES:
            raise TransientError(f"a batch response with an unknown item status "
                                 f"{str(item['status'])[:24]!r}: a protocol error, not data")
        if not isinstance(item.get("national_id"), str | None):
            raise TransientError("a batch response whose national_id is not a string")
        errors: Sequence[Any] = item.get("errors") or ()
        out.append(ItemResult(str(item["external_ref"]), str(item["status"]),
                              item.get("national_id"),
                              tuple(e for e in errors if isinstance(e, dict))))
    return tuple(out)
