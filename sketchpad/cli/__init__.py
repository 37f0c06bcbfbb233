"""The command line. Each subcommand lives in its own module with `add_parser(subparsers)` and `run(args)`;
`COMMANDS` lists them. Every user error ends in one line on stderr and a non-zero exit code."""

from __future__ import annotations

import argparse
import importlib
import sys

from models.errors import SketchpadError

# name -> module under sketchpad.cli (imported only when that command runs, so `translate` never loads Qt)
COMMANDS = {
    "app": "app",
    "translate": "translate",
    "train": "train",
    "eval": "evaluate",
    "data": "data",
    "convert": "convert",
    "export": "export",
    "bench": "bench",
}

EXIT_USER_ERROR = 2


class UsageError(SketchpadError):
    """A wrong combination of arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sketchpad", description="Draw, and see it translated live.")
    parser.add_argument("--version", action="version", version=f"sketchpad {_version()}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for module in COMMANDS.values():
        try:
            mod = importlib.import_module(f"sketchpad.cli.{module}")
        except ModuleNotFoundError as e:
            if e.name == f"sketchpad.cli.{module}":
                continue  # a command not built yet
            raise
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def _version() -> str:
    from sketchpad import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = ["app"]
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR
    try:
        return int(args._run(args) or 0)
    except SketchpadError as e:
        print(f"sketchpad: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("sketchpad: interrupted", file=sys.stderr)
        return 130
