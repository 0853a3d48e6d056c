"""TLS to the national platform (issue 18, operator-interface.md "Configuration"):
`https://` off loopback, a government intranet's own CA (`national.ca_bundle`) and
mutual TLS (`client_cert`/`client_key`), against a real HTTPS server on 127.0.0.1 with a
throw-away CA (trustme); and platform answers outside the protocol are errors, not data."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import trustme

from bridge import config, configcheck
from bridge.errors import ConfigError, TransientError
from bridge.national import NationalClient, TlsFiles

BASE = "/openapi/v1"
CONFIG = """
[national]
base_url = "{url}"
app_id = "haicang-demo"
app_secret = "s3cret-value-0001"
{extra}
[[sources]]
name = "haicang"
kind = "sql"
url = "sqlite:///haicang.db"
mapping = "zhiyuanyun"
"""


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"code":"OK"}'
        self.send_response(200 if self.path == BASE + "/health" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def https_server(ca: trustme.CA, *, client_ca: trustme.CA | None = None) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}{BASE}"
    finally:
        server.shutdown()
        server.server_close()


def client(url: str, tls: TlsFiles | None = None) -> NationalClient:
    return NationalClient(url, "haicang-demo", "s3cret-value-0001", timeout_s=5, tls=tls)


@pytest.fixture
def ca(tmp_path: Path) -> trustme.CA:
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "intranet-ca.pem"))
    return authority


def load(tmp_path: Path, url: str, extra: str = "") -> config.Config:
    path = tmp_path / "zybridge.toml"
    path.write_text(CONFIG.format(url=url, extra=extra), encoding="utf-8")
    return config.load(path, {})


# configuration --------------------------------------------------------------------------------
def test_plain_http_to_another_host_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"national\.base_url: .*https://"):
        load(tmp_path, "http://platform.example.gov.cn/openapi/v1")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8750/openapi/v1",
                                 "http://localhost:8750/openapi/v1",
                                 "http://[::1]:8750/openapi/v1",
                                 "https://platform.example.gov.cn/openapi/v1"])
def test_https_or_a_loopback_host_is_accepted(tmp_path: Path, url: str) -> None:
    assert load(tmp_path, url).national.base_url == url


def test_a_missing_ca_bundle_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"national\.ca_bundle: no file at"):
        load(tmp_path, "https://platform.example.gov.cn/openapi/v1",
             'ca_bundle = "certs/none.pem"')


def test_a_ca_bundle_is_relative_to_the_config_file(tmp_path: Path, ca: trustme.CA) -> None:
    cfg = load(tmp_path, "https://platform.example.gov.cn/openapi/v1",
               'ca_bundle = "intranet-ca.pem"')
    assert cfg.national.ca_bundle == tmp_path / "intranet-ca.pem"


def test_a_client_certificate_without_its_key_is_a_config_error(tmp_path: Path,
                                                                ca: trustme.CA) -> None:
    with pytest.raises(ConfigError, match=r"national\.client_cert: .*together"):
        load(tmp_path, "https://platform.example.gov.cn/openapi/v1",
             'client_cert = "intranet-ca.pem"')


# a real HTTPS server ---------------------------------------------------------------------------
def test_a_server_signed_by_the_ca_bundle_is_trusted(tmp_path: Path, ca: trustme.CA) -> None:
    with https_server(ca) as url:
        assert client(url, TlsFiles(ca_bundle=tmp_path / "intranet-ca.pem")).health()


def test_without_the_ca_bundle_the_intranet_server_is_refused(ca: trustme.CA) -> None:
    with https_server(ca) as url, pytest.raises(TransientError, match="unreachable"):
        client(url).health()


def test_mutual_tls_presents_the_client_certificate(tmp_path: Path, ca: trustme.CA) -> None:
    ours = ca.issue_cert("zybridge-haicang")
    ours.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    ours.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    with_cert = TlsFiles(tmp_path / "intranet-ca.pem", tmp_path / "client.pem",
                         tmp_path / "client.key")
    with https_server(ca, client_ca=ca) as url:
        assert client(url, with_cert).health()
        with pytest.raises(TransientError):
            client(url, TlsFiles(ca_bundle=tmp_path / "intranet-ca.pem")).health()


def test_unusable_tls_files_are_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="TLS files"):
        client("https://127.0.0.1:1/openapi/v1", TlsFiles(ca_bundle=tmp_path / "junk.pem"))


# answers outside the protocol ------------------------------------------------------------------
def answering(results: list[dict[str, object]]) -> NationalClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(
            {"code": "OK", "request_id": "r1", "data": {"results": results}}))

    return NationalClient("http://127.0.0.1:1/openapi/v1", "haicang-demo", "s3cret-value-0001",
                          transport=httpx.MockTransport(handler))


def test_an_item_status_outside_the_known_set_is_a_protocol_error() -> None:
    odd = answering([{"external_ref": "haicang:volunteer:1", "status": "=HYPERLINK(\"x\")",
                      "national_id": None, "errors": []}])
    with pytest.raises(TransientError, match="unknown item status"):
        odd.post_batch("/volunteers/batch", b'{"items":[]}', "k" * 32)


def test_a_national_id_that_is_not_a_string_is_a_protocol_error() -> None:
    odd = answering([{"external_ref": "haicang:volunteer:1", "status": "created",
                      "national_id": {"x": 1}, "errors": []}])
    with pytest.raises(TransientError, match="national_id"):
        odd.post_batch("/volunteers/batch", b'{"items":[]}', "k" * 32)


def test_every_known_item_status_is_data() -> None:
    known = ["created", "updated", "unchanged", "matched", "rejected", "revoked", "not_found"]
    response = answering([{"external_ref": f"haicang:volunteer:{i}", "status": s,
                           "national_id": None, "errors": []} for i, s in enumerate(known)]
                         ).post_batch("/volunteers/batch", b'{"items":[]}', "k" * 32)
    assert [r.status for r in response.results] == known


# the anchor path ---------------------------------------------------------------------------------
def test_an_anchor_path_under_a_file_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("")
    cfg = load(tmp_path, "http://127.0.0.1:8750/openapi/v1",
               '[audit]\nanchor_path = "var/anchor.jsonl"')
    with pytest.raises(ConfigError, match=r"audit\.anchor_path"):
        configcheck.preflight(cfg, listen=False)


def test_an_anchor_path_in_a_folder_yet_to_be_made_is_accepted(tmp_path: Path) -> None:
    cfg = load(tmp_path, "http://127.0.0.1:8750/openapi/v1",
               '[audit]\nanchor_path = "var/log/anchor.jsonl"')
    assert cfg.audit.anchor_path == tmp_path / "var" / "log" / "anchor.jsonl"
