"""``python -m dashboards [OUT_DIR [IMPORT_DIR]]``: write the dashboards without the driftline CLI."""

from __future__ import annotations

import sys

from dashboards.build import main

if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
