"""Fixtures every test folder may use: the real database servers of tests/dbservers.py."""

from __future__ import annotations

pytest_plugins = ["tests.dbservers"]
