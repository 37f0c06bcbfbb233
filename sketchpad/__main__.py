"""`sketchpad` and `python -m sketchpad`: the app with no arguments, else a subcommand."""

from __future__ import annotations

import sys

from sketchpad.cli import main

if __name__ == "__main__":
    sys.exit(main())
