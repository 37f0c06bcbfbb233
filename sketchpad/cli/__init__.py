"""The command line. Each subcommand lives in its own module with `add_parser(subparsers)` and `run(args)`;
`COMMANDS` lists them. Every user error ends in one line on stderr and exit code 2: a `SketchpadError`,
an output that cannot be written (a read-only or full disk, a path under a file), running out of memory.
A reader that closes the pipe early (`sketchpad eval --json | head -c 10`) ends the command quietly."""

from __future__ import annotations

import argparse
import codecs
import errno
import importlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

from models.errors import SketchpadError
from models.stdio import silence_stdout

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
EXIT_BROKEN_PIPE = 141  # what a shell reports for a writer killed by SIGPIPE (`yes | head -1`)
SEED_MAX = 2**63 - 1


class UsageError(SketchpadError):
    """A wrong combination of arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------- argument types


def int_in(lo: int, hi: int):
    """An argparse `type`: an integer in [lo, hi], refused with the limits in the message."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is out of range: give {lo} to {hi:,}")
        return v

    parse.__name__ = "integer"
    return parse


seed_type = int_in(0, SEED_MAX)


# ---------------------------------------------------------------- output paths


def is_folder(p: str | os.PathLike) -> bool:
    """Path.is_dir that says False, not raises, for a name too long to look up."""
    try:
        return Path(p).is_dir()
    except OSError:
        return False


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path: str | os.PathLike, *, inputs=(), overwrite: bool = False, flag: str = "-o") -> Path:
    """Refuse, before any work, an output file that cannot be written: an existing folder or device, a
    parent that is a file or cannot be created, a folder we may not write in (read-only, /proc, /sys), a
    name too long for the file system, or one of the `inputs` (unless `overwrite`). Creates the folder."""
    out = Path(path)
    shown = printable_path(out)
    for p in inputs:
        if same_file(out, Path(p)) and not overwrite:
            raise UsageError(
                f"{shown}: the output is an input; give another name, or --overwrite to replace it"
            )
    if len(os.fsencode(out.name)) > 255:  # before any stat: that would fail with ENAMETOOLONG
        raise UsageError(f"{shown}: the file name is longer than 255 bytes")
    if out.is_dir():
        raise UsageError(f"{shown}: is a folder; give a file name")
    if out.exists() and not out.is_file():
        raise UsageError(f"{shown}: not a regular file (a device or a pipe); give a file name")
    check_folder(out.parent, what=shown)
    try:
        limit = os.pathconf(out.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    if len(os.fsencode(out.name)) > limit:
        raise UsageError(f"{shown}: the file name is longer than {limit} bytes, the limit of that disk")
    return out


def check_folder(folder: str | os.PathLike, *, what: str | None = None) -> Path:
    """Create `folder` if needed and prove we can create files in it (a probe file, removed at once)."""
    folder = Path(folder)
    what = what or printable_path(folder)
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{what}: {printable_path(parent)} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".sketchpad-", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise output_error(e, folder, what=what) from None
    return folder


_REASONS = {
    errno.ENOSPC: "the disk is full",
    getattr(errno, "EDQUOT", -1): "the disk quota is used up",
    errno.EFBIG: "the file would be larger than this system allows",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "not permitted",
    errno.ENOENT: "no such file or folder, or files cannot be created there",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EEXIST: "a part of the path is a file, not a folder",
}


def output_error(e: OSError, path: str | os.PathLike, *, what: str | None = None) -> UsageError:
    """One line for an OSError met while writing `path`."""
    reason = _REASONS.get(e.errno or 0) or (e.strerror or type(e).__name__).lower()
    return UsageError(f"{what or printable_path(path)}: cannot write there ({reason})")


def printable_path(p: str | os.PathLike) -> str:
    """A path for a one-line message: undecodable bytes and control characters escaped."""
    from models.checkpoint import printable

    text = os.fspath(p)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return printable(text)


# ---------------------------------------------------------------- main


def _escape_or_raw(e: UnicodeError):
    """Encoding error handler: a file name's undecodable bytes go out as those bytes (a path printed on
    stdout can be pasted back), anything else the stream cannot encode as a backslash escape."""
    if not isinstance(e, UnicodeEncodeError):
        raise e
    out = bytearray()
    for c in e.object[e.start : e.end]:
        o = ord(c)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(o - 0xDC00)
        else:
            out += c.encode("ascii", "backslashreplace")
    return bytes(out), e.end


codecs.register_error("sketchpad", _escape_or_raw)


def _robust_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="sketchpad")
        except (AttributeError, ValueError):  # replaced by a test harness, or already closed
            pass


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


def _error(message: str) -> int:
    print(f"sketchpad: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        argv = ["app"]
    _robust_streams()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse's one-line error (2), or --help / --version (0): a code to return
        return e.code if isinstance(e.code, int) else EXIT_USER_ERROR
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR
    try:
        with warnings.catch_warnings():
            if not sys.warnoptions:  # a library's warning is not a line the user should have to read
                for category in (UserWarning, FutureWarning, DeprecationWarning, RuntimeWarning):
                    warnings.filterwarnings("ignore", category=category)
            rc = int(args._run(args) or 0)
        sys.stdout.flush()  # a full disk or a closed pipe behind stdout shows here, not at exit
        return rc
    except SketchpadError as e:
        return _error(str(e))
    except BrokenPipeError:
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("sketchpad: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        return _error("out of memory (the input is too large for this machine)")
    except OSError as e:
        # A file system refusing what we asked (full, read-only, permissions): the user's to fix.
        if e.errno not in _REASONS:
            raise
        reason = _REASONS[e.errno]
        if e.filename is None:  # a stream: stdout on a full disk
            silence_stdout()
            return _error(f"cannot write the output ({reason})")
        return _error(f"{printable_path(e.filename)}: {reason}")
