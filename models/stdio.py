"""Standard streams after their reader went away (a closed pipe, a full disk): light, no torch."""

from __future__ import annotations

import os
import sys


def silence_stdout() -> None:
    """Point stdout at devnull so that later writes and the exit-time flush do not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
