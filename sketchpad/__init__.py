"""Sketchpad: draw, and see your drawing translated live (pix2pix / CycleGAN)."""

__version__ = "0.1.0"

# PySide6 6.12 on CPython < 3.12 leaks references to None until the interpreter aborts (see the module).
from sketchpad.none_refcount import immortalize_none  # noqa: E402

immortalize_none()
