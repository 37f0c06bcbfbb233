"""The QApplication: Fusion style, a dark or light palette that follows the system, the app icon, and an
exception hook that shows an error in the window instead of ending the app."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from sketchpad import paths

ICONS = paths.RESOURCES_DIR / "icons"


def icon(name: str) -> QIcon:
    """resources/icons/<name>.svg, or an empty icon."""
    p = ICONS / f"{name}.svg"
    return QIcon(str(p)) if p.is_file() else QIcon()


def is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None:
        s = scheme()
        if s == Qt.ColorScheme.Dark:
            return True
        if s == Qt.ColorScheme.Light:
            return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(37, 37, 40), QColor(48, 48, 52), QColor(225, 225, 228)
    for role, c in {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: window,
        QPalette.ColorRole.ToolTipBase: QColor(60, 60, 64),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(58, 58, 62),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 80, 80),
        QPalette.ColorRole.Highlight: QColor(64, 128, 220),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(100, 160, 255),
        QPalette.ColorRole.PlaceholderText: QColor(140, 140, 146),
        QPalette.ColorRole.Mid: QColor(70, 70, 75),
        QPalette.ColorRole.Dark: QColor(30, 30, 33),
    }.items():
        p.setColor(role, c)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 125))
    return p


def apply_theme(app: QApplication, theme: str = "system") -> None:
    """'system' (follow the OS), 'dark' or 'light'."""
    dark = is_dark() if theme == "system" else theme == "dark"
    app.setPalette(dark_palette() if dark else app.style().standardPalette())


def make_app(argv: list[str] | None = None, *, theme: str = "system") -> QApplication:
    """The one QApplication (made if needed), styled, and following the system's colour scheme."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Sketchpad")
    app.setOrganizationName("Sketchpad")
    app.setApplicationDisplayName("Sketchpad")
    app.setWindowIcon(icon("app"))
    app.setStyle("Fusion")
    apply_theme(app, theme)
    if theme == "system" and not getattr(app, "_sketchpad_scheme_hooked", False):
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(lambda *_: apply_theme(app, "system"))
        app._sketchpad_scheme_hooked = True
    return app


def install_excepthook(report: Callable[[str], None]) -> Callable:
    """Route uncaught exceptions (e.g. in a slot) to `report(one_line)` and stderr; returns the old hook."""
    old = sys.excepthook

    def hook(etype, value, tb):
        if issubclass(etype, KeyboardInterrupt):
            old(etype, value, tb)
            return
        traceback.print_exception(etype, value, tb, file=sys.stderr)
        first = (str(value).strip().splitlines() or [""])[0][:200]
        try:
            report(
                f"Unexpected error: {etype.__name__}: {first}"
                if first
                else f"Unexpected error: {etype.__name__}"
            )
        except Exception:  # the hook itself must never raise
            pass

    sys.excepthook = hook
    return old
