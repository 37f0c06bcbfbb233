"""System libraries Qt needs on Linux that pip cannot install: checked before any QApplication exists, so a
missing one is one line naming it and the command that installs it, not Qt's page and an abort.

Qt 6.5+ loads its X11 platform plugin (xcb) only when every library below is present; a stock desktop
often lacks libxcb-cursor0, and minimal systems libxcb-icccm4 and libxcb-keysyms1. No Qt import here."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping

# soname -> Debian/Ubuntu package: what PySide6's libqxcb.so and libQt6XcbQpa.so.6 link against and the
# wheel does not bundle (read with ldd).
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
# Libraries PySide6's own modules need at import (a headless container may lack them).
IMPORT_LIBRARIES = {
    **XCB_LIBRARIES,
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libOpenGL.so.0": "libopengl0",
    "libxkbfile.so.1": "libxkbfile1",
}
# Every Debian/Ubuntu package the app's window can need (the README lists the same).
DEBIAN_PACKAGES = sorted(set(XCB_LIBRARIES.values()))


def loadable(soname: str) -> bool:
    """True when the dynamic loader finds `soname` (the same search Qt's plugin load does)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def uses_xcb(env: Mapping[str, str]) -> bool:
    """Whether Qt will load its xcb plugin: QT_QPA_PLATFORM says xcb, or is unset under X11 (a Wayland
    session may use the wayland plugin instead, which needs none of these)."""
    platform = env.get("QT_QPA_PLATFORM", "").strip()
    if platform:
        return platform.split(";")[0].split(":")[0] == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def missing_xcb_libraries(lookup: Callable[[str], bool] = loadable) -> list[str]:
    """The sonames of XCB_LIBRARIES that `lookup` cannot find."""
    return [name for name in XCB_LIBRARIES if not lookup(name)]


def install_hint(sonames: list[str], *, packages: Mapping[str, str] = IMPORT_LIBRARIES) -> str:
    """'install it with: sudo apt-get install PKG...' (or the Debian package names where apt is absent)."""
    pkgs = " ".join(dict.fromkeys(packages.get(s, s) for s in sonames))
    if shutil.which("apt-get"):
        return f"install {'it' if len(sonames) == 1 else 'them'} with: sudo apt-get install {pkgs}"
    return (
        f"install the packages that provide {'it' if len(sonames) == 1 else 'them'} (Debian/Ubuntu: {pkgs})"
    )


def xcb_problem(
    env: Mapping[str, str] | None = None,
    *,
    lookup: Callable[[str], bool] = loadable,
    platform: str | None = None,
) -> str | None:
    """One line naming the missing libraries and how to install them, or None when Qt's xcb plugin can
    load (or will not be used)."""
    env = os.environ if env is None else env
    if not (platform or sys.platform).startswith("linux") or not uses_xcb(env):
        return None
    missing = missing_xcb_libraries(lookup)
    if not missing:
        return None
    return (
        f"Qt's X11 platform plugin cannot load: {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} missing; {install_hint(missing)}"
    )


def import_problem(error: ImportError) -> str | None:
    """One line for a PySide6 import that failed on a missing system library, else None."""
    m = re.search(r"(lib[\w.+-]+\.so(?:\.\d+)*): cannot open shared object file", str(error))
    if not m:
        return None
    soname = m.group(1)
    return f"Qt cannot start: the system library {soname} is missing; {install_hint([soname])}"
