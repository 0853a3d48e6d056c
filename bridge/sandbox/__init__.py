"""The national platform sandbox: a real HTTP server implementing spec/national-api.md.

It is the tests' oracle, so it shares no validation code with `mappings/` (it only reads
the code-table CSVs packaged there as data). Importing this package is cheap: the server
modules load only when used.

Without an apps file the sandbox knows one documented demo app:
"""

from __future__ import annotations

DEMO_APP_ID = "haicang-demo"
DEMO_APP_SECRET = "haicang-demo-secret"
DEMO_JURISDICTION = "3502"
BASE_PATH = "/openapi/v1"

__all__ = ["BASE_PATH", "DEMO_APP_ID", "DEMO_APP_SECRET", "DEMO_JURISDICTION"]
