"""A guard against a reference-count bug in PySide6 6.12 on CPython 3.11 and older.

Each call of a Qt method that returns nothing (`widget.update()`, `event.accept()`, `timer.stop()`, ...)
gives back a reference to `None` it never took. CPython before 3.12 counts references to `None` like any
other object, so after a few thousand such calls, minutes of drawing, the count reaches zero and the
interpreter aborts ("Fatal Python error: none_dealloc"). CPython 3.12 made `None` immortal; this does the
same for older versions by raising its count far out of reach. `None` is a static object that is never
freed, so the larger count changes nothing else. Found by `sketchpad bench --soak` (issue 7).
"""

from __future__ import annotations

import sys

_done = False


def immortalize_none() -> bool:
    """Make `None`'s reference count unreachable from zero, where the interpreter needs it (CPython < 3.12,
    release build). Returns True if it did so (now or before)."""
    global _done
    if _done:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if hasattr(sys, "gettotalrefcount"):  # a debug build: another object layout, and nobody ships one
        return False
    import ctypes

    refcnt = ctypes.c_ssize_t.from_address(id(None))  # ob_refcnt, PyObject's first field
    refcnt.value += 1 << 60  # ~10^18 leaked references: centuries of Qt calls
    _done = True
    return True
