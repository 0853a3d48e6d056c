"""One exception tree, grouped by how the caller reacts (DESIGN.md, "Style")."""

from __future__ import annotations


class BridgeError(Exception):
    """Root of every error zhiyuan-bridge raises on purpose."""

    exit_code = 1


class ConfigError(BridgeError):
    """The configuration or the credentials are wrong: a human must act. Never retried."""

    exit_code = 2


class LockHeld(ConfigError):
    """Another process holds the state file's lock."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class TransientError(BridgeError):
    """Worth retrying later with the same request: timeouts, 5xx, 429, 409."""

    def __init__(self, message: str, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class RejectedError(BridgeError):
    """The platform refused a whole request (400/413/422): a bug or an oversize batch."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class StateError(BridgeError):
    """The state file is unusable (corrupt, from a newer version, not writable)."""

    exit_code = 2


class SafetyStop(BridgeError):
    """A safety stop refused the cycle; pass it with --force after reading why."""

    exit_code = 3
