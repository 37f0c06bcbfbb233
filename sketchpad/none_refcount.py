"""A guard against a reference-count bug in PySide6 6.12 on CPython 3.11 and older.

Each call of a Qt method that returns nothing (`widget.update()`, `event.accept()`, `timer.stop()`, ...)
gives back a reference to `None` it never took, and each `signal.emit()` one to `True` or `False`.
CPython before 3.12 counts references to these like any other object, so after a few thousand such calls,
a minute or two of drawing, a count reaches zero and the interpreter aborts ("Fatal Python error:
none_dealloc" / "bool_dealloc"). CPython 3.12 made them immortal; this does the same for older versions
by raising their counts far out of reach. They are static objects that are never freed, so the larger
counts change nothing else. Found by `sketchpad bench --soak` (issue 7); a probe of small ints, empty
tuple/str/bytes and one-character strings over strokes, undo, signals and painting found no other leak.
"""

from __future__ import annotations

import sys

_done = False


def immortalize_singletons() -> bool:
    """Make the reference counts of None, True and False unreachable from zero, where the interpreter
    needs it (CPython < 3.12, release build). Returns True if it did so (now or before)."""
    global _done
    if _done:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if hasattr(sys, "gettotalrefcount"):  # a debug build: another object layout, and nobody ships one
        return False
    import ctypes

    for obj in (None, True, False):
        refcnt = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt, PyObject's first field
        refcnt.value += 1 << 60  # ~10^18 leaked references: centuries of Qt calls
    _done = True
    return True
