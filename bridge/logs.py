"""structlog set-up: JSON lines to a rotating file or stderr, with a redaction processor
that masks ID numbers, mobiles, names and secrets anywhere in a line (PIPL), exception
text and tracebacks included."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

import structlog

from mappings.mask import mask_name, redact

_SECRETS: set[str] = set()
NAME_KEYS = frozenset({"name", "real_name", "fullName", "contact_name", "linkman", "姓名"})


def register_secrets(values: Iterable[str]) -> None:
    """Secrets (app secret, tokens, ref keys) that must never appear in a line."""
    _SECRETS.update(v for v in values if v and len(v) >= 4)


# the password of a URL's userinfo (`scheme://user:password@host`): never shown, whether or
# not the URL came from the config (a driver's error may quote one it was given)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s/?#@:]*:)[^\s/?#]*@")


def scrub(text: str) -> str:
    """`text` with registered secrets, URL passwords, ID numbers, phones masked."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1***@", text)
    return redact(text)


def _clean(value: Any, key: str = "") -> Any:
    if isinstance(value, str):
        return mask_name(value) if key in NAME_KEYS else scrub(value)
    if isinstance(value, dict):
        return {k: _clean(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_clean(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


def redaction(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for k in list(event):
        event[k] = _clean(event[k], k)
    return event


def setup(path: str = "-", level: str = "info", *, max_bytes: int = 50_000_000,
          backups: int = 5) -> None:
    handler: logging.Handler
    if path == "-":
        handler = logging.StreamHandler(sys.stderr)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = PrivateRotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                             encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("zybridge")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # APScheduler's own warnings (e.g. an overlapping run skipped, which is by design)
    # go to the same handler; only its errors are worth a line.
    scheduler_log = logging.getLogger("apscheduler")
    scheduler_log.handlers[:] = [handler]
    scheduler_log.setLevel(logging.ERROR)
    scheduler_log.propagate = False
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redaction,
            structlog.processors.JSONRenderer(serializer=_dumps, ensure_ascii=False),
        ],
        logger_factory=_Factory(root),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=False,
    )


# json.dumps escapes C0 but, with ensure_ascii=False, writes DEL, C1 and the bidirectional
# controls as they are: escaped here too, so that `tail -f` of a log line holding a hostile
# source value cannot drive or reorder the admin's terminal (the data is unchanged)
_TERMINAL_UNSAFE = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                              r"\u2028\u2029]")


def _dumps(obj: Any, **kwargs: Any) -> str:
    text = json.dumps(obj, **kwargs)
    return _TERMINAL_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def reopen() -> None:
    """Reopen the log file at its path (after logrotate moved it away): the next line
    goes to a new file of that name, created 0600."""
    for handler in logging.getLogger("zybridge").handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                handler.stream = handler._open()
            finally:
                handler.release()


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Log files (the current one and each one rotated) are created 0600: their lines are
    masked, but they still name refs, sources and hosts."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


class _Factory:
    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def __call__(self, *args: Any) -> Any:
        return _Line(self.logger)


class _Line:
    """Hands the rendered JSON line to the stdlib handler (which rotates files)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def msg(self, message: str) -> None:
        self._logger.log(self._logger.level or logging.INFO, message)

    debug = info = warning = warn = error = critical = exception = log = msg
