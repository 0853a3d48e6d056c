from __future__ import annotations

from pathlib import Path

import pytest

from bridge import config
from bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """
[national]
base_url = "http://127.0.0.1:8750/openapi/v1"
app_id = "haicang-demo"
app_secret = "${SECRET}"

[[sources]]
name = "haicang"
kind = "sql"
url = "sqlite:///var/haicang.db"
mapping = "zhiyuanyun"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zybridge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_with_its_environment() -> None:
    env = {"ZYBRIDGE_APP_SECRET": "s3cret-value", "SHEGONG_TOKEN": "t0ken-value",
           "TAIBAO_REF_KEY": "k3y-value"}
    cfg = config.load(ROOT / "config.example.toml", env)
    assert cfg.national.app_secret.get_secret_value() == "s3cret-value"
    assert cfg.sources[0].name == "haicang"
    assert cfg.state.path.is_absolute()


def test_secret_comes_from_the_environment(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, MINIMAL), {"SECRET": "abc123"})
    assert cfg.national.app_secret.get_secret_value() == "abc123"
    assert "abc123" not in repr(cfg)


def test_missing_variable_names_the_key_not_the_value(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, MINIMAL), {})   # only its use needs it
    with pytest.raises(ConfigError) as err:
        cfg.national.app_secret.get_secret_value()
    assert "national.app_secret" in str(err.value)
    assert "SECRET is not set" in str(err.value)


def test_unknown_keys_are_errors_and_all_problems_are_reported(tmp_path: Path) -> None:
    text = MINIMAL.replace('mapping = "zhiyuanyun"',
                           'mapping = "zhiyuanyun"\ncolour = "red"\nevery = "5 minutes"')
    text = text.replace("[national]", "[national]\nbatch_size = 500")
    with pytest.raises(ConfigError) as err:
        config.load(write(tmp_path, text), {"SECRET": "x"})
    message = str(err.value)
    assert "sources[0].colour: unknown key" in message
    assert "national.batch_size" in message
    assert "every must look like" in message


def test_relative_paths_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, MINIMAL), {"SECRET": "x"})
    assert cfg.state.path == tmp_path / "var" / "zybridge.db"
    assert cfg.base_dir == tmp_path


def test_missing_file_and_bad_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config file"):
        config.load(tmp_path / "absent.toml", {})
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[national\n"), {})


def test_duplicate_source_names_are_refused(tmp_path: Path) -> None:
    text = MINIMAL + MINIMAL[MINIMAL.index("[[sources]]"):]
    with pytest.raises(ConfigError, match="unique"):
        config.load(write(tmp_path, text), {"SECRET": "x"})


def test_every_is_parsed_to_seconds(tmp_path: Path) -> None:
    text = MINIMAL.replace('mapping = "zhiyuanyun"', 'mapping = "zhiyuanyun"\nevery = "2h"')
    cfg = config.load(write(tmp_path, text), {"SECRET": "x"})
    assert cfg.sources[0].every_seconds == 7200


def test_a_database_password_from_the_environment_is_a_secret_the_logs_redact(
        tmp_path: Path) -> None:
    from bridge.runtime import secrets_of
    text = MINIMAL.replace('url = "sqlite:///var/haicang.db"',
                           'url = "${HAICANG_DB_URL}"')
    cfg = config.load(write(tmp_path, text), {
        "SECRET": "abc123", "HAICANG_DB_URL": "postgresql://bridge:s3cr3t@db.internal:5432/zyy"})
    assert {"abc123", "s3cr3t"} <= set(secrets_of(cfg))
    encoded = MINIMAL.replace('url = "sqlite:///var/haicang.db"',
                              'url = "postgresql://bridge:p%40ss@db.internal/zyy"')
    assert {"p@ss", "p%40ss"} <= set(secrets_of(config.load(write(tmp_path, encoded),
                                                            {"SECRET": "abc123"})))
