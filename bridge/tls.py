"""TLS for the platform client: a government intranet's own CA bundle and a client
certificate for mutual TLS, and the loopback rule (`national.base_url` must be
`https://` unless its host is a loopback address)."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import ConfigError


@dataclass(frozen=True)
class TlsFiles:
    """A government intranet's own CA (PEM) and a client certificate for mutual TLS."""

    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    def verify(self) -> ssl.SSLContext | bool:
        """What httpx verifies the server with: the system's CAs (True) unless a bundle
        is given; with a client certificate, a context that presents it."""
        if self.ca_bundle is None and self.client_cert is None:
            return True
        try:
            context = ssl.create_default_context(
                cafile=str(self.ca_bundle) if self.ca_bundle else None)
            if self.client_cert is not None:
                context.load_cert_chain(str(self.client_cert),
                                        str(self.client_key) if self.client_key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"national TLS files cannot be used: {exc}") from exc
        return context


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
