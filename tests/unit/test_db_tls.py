"""Database sources take their TLS options in the URL (issue 18); a CA given means the
server's certificate and name are verified unless the URL says otherwise."""

from __future__ import annotations

from pathlib import Path

from adapters.sqldialects import Server, mysql_kwargs, pg_kwargs
from adapters.sqlurl import parse_url


def server(url: str) -> Server:
    _, found = parse_url(url, Path("."))
    assert isinstance(found, Server)
    return found


def test_a_postgres_ca_means_verify_full() -> None:
    kwargs = pg_kwargs(server("postgresql://u@db.local/zyy?sslrootcert=/etc/ca.pem"))
    assert kwargs["sslmode"] == "verify-full"


def test_a_postgres_sslmode_in_the_url_is_kept() -> None:
    kwargs = pg_kwargs(server("postgresql://u@db.local/zyy?sslrootcert=/etc/ca.pem"
                              "&sslmode=verify-ca"))
    assert kwargs["sslmode"] == "verify-ca"


def test_a_mysql_ca_means_the_certificate_and_the_name_are_verified() -> None:
    kwargs = mysql_kwargs(server("mysql://u@db.local/zyy?ssl_ca=/etc/ca.pem"))
    assert kwargs["ssl_verify_cert"] is True and kwargs["ssl_verify_identity"] is True


def test_a_mysql_url_may_turn_the_name_check_off() -> None:
    kwargs = mysql_kwargs(server("mysql://u@db.local/zyy?ssl_ca=/etc/ca.pem"
                                 "&ssl_verify_identity=false"))
    assert kwargs["ssl_verify_identity"] is False
