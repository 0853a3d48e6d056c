"""The sources' input limits in the config (operator-interface.md: a `files` source takes
`max_file_mb`, `max_rows` and `receipts`; an `http` source `timeout_s` and
`max_page_mb`), and how the runtime hands them to the adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.files import FilesSource
from adapters.http import HttpSource
from bridge import config
from bridge.errors import ConfigError
from bridge.runtime import open_adapter

NATIONAL = {"base_url": "http://127.0.0.1:8750/openapi/v1", "app_id": "a",
            "app_secret": "s"}


def parse(tmp_path: Path, **source: Any) -> config.Config:
    (tmp_path / "inbox").mkdir(exist_ok=True)
    files = {"name": "taibao", "kind": "files", "path": "inbox", "mapping": "taiwan_sheets",
             "projects_from": "taibao", "ref_key": "k"}
    http = {"name": "shegong", "kind": "http", "url": "http://127.0.0.1:1",
            "mapping": "shegong", "token": "t"}
    kind = source.pop("kind", "files")
    return config.parse({"national": NATIONAL,
                         "sources": [{**(files if kind == "files" else http), **source}]},
                        tmp_path, {})


def test_the_defaults_are_the_specs(tmp_path: Path) -> None:
    (src,) = parse(tmp_path).sources
    assert (src.max_file_mb, src.max_rows, src.receipts) == (20.0, 100_000, "receipts")
    (agency,) = parse(tmp_path, kind="http").sources
    assert (agency.timeout_s, agency.max_page_mb) == (30.0, 16.0)


@pytest.mark.parametrize(("key", "value"), [
    ("max_file_mb", 0), ("max_rows", 0), ("receipts", "/tmp/elsewhere"),
    ("receipts", "../out")])
def test_a_bad_files_limit_is_a_config_error_naming_the_key(
        tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        parse(tmp_path, **{key: value})


@pytest.mark.parametrize(("key", "value"), [("timeout_s", 0), ("max_page_mb", -1)])
def test_a_bad_http_limit_is_a_config_error_naming_the_key(
        tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        parse(tmp_path, kind="http", **{key: value})


def test_the_runtime_gives_the_files_adapter_its_limits(tmp_path: Path) -> None:
    cfg = parse(tmp_path, max_file_mb=2.5, max_rows=7)
    adapter = open_adapter(cfg, cfg.sources[0])
    assert isinstance(adapter, FilesSource)
    assert (adapter.limits.max_file_mb, adapter.limits.max_rows) == (2.5, 7)


def test_the_runtime_gives_the_http_adapter_its_budget(tmp_path: Path) -> None:
    cfg = parse(tmp_path, kind="http", timeout_s=3, max_page_mb=0.5)
    adapter = open_adapter(cfg, cfg.sources[0])
    assert isinstance(adapter, HttpSource)
    assert adapter._budget.timeout_s == 3 and adapter._budget.max_bytes == 512 * 1024
    adapter.close()
