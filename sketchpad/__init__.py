"""Sketchpad: draw, and see your drawing translated live (pix2pix / CycleGAN)."""

__version__ = "0.1.0"

# PySide6 6.12 on CPython < 3.12 leaks references to None/True/False until the interpreter aborts.
from sketchpad.none_refcount import immortalize_singletons  # noqa: E402

immortalize_singletons()
