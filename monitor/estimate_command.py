"""``driftline estimate``: a model's performance estimated on a current file without its labels.

Imported only when the command runs (:mod:`monitor.cli` keeps ``--help`` free of pandas and SciPy).
"""

from __future__ import annotations

import argparse
from typing import TextIO

from monitor import errors as e

__all__ = ["estimate_command"]


def estimate_command(args: argparse.Namespace, out: TextIO) -> int:
    """``driftline estimate``: the table or the JSON contract of docs/json-output.md."""
    raise e.FeatureDisabled("driftline estimate", "not implemented yet")
