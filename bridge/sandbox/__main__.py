"""`python -m bridge.sandbox serve …`"""

from __future__ import annotations

import sys

from bridge.sandbox.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
