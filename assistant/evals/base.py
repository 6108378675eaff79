"""What every part of the eval package shares: the repository root, exit codes, progress callbacks, the error."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent.parent

EXIT_OK, EXIT_GATE, EXIT_USER = 0, 1, 2

Progress = Callable[[str], None]


class EvalSetError(ValueError):
    """A set or thresholds file that cannot be used as it is; the message names the file and the item."""
