"""A one-line label that elides its text ("run: facades-fine…") instead of widening its layout."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Shows as much of its text as fits, with '…'; `full_text()` and the tooltip keep all of it.

    `max_width` caps how wide it asks to be (a status-bar field); 0 lets it take what the layout gives."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, max_width: int = 0):
        super().__init__(parent)
        self._full = ""
        self._max_width = max_width
        self._tip = ""
        self.setSizePolicy(
            QSizePolicy.Policy.Preferred if max_width else QSizePolicy.Policy.Ignored,
            QSizePolicy.Policy.Fixed,
        )
        self.setText(text)

    def setText(self, text: str) -> None:
        self._full = str(text)
        self._update_tip()
        self.updateGeometry()
        self._elide()

    def text(self) -> str:
        """The whole text (what is shown may be elided: `shown_text`)."""
        return self._full

    def full_text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        return super().text()

    def set_extra_tip(self, tip: str) -> None:
        """A second tooltip line under the full text (a path, a note)."""
        self._tip = tip
        self._update_tip()

    def is_elided(self) -> bool:
        return self.shown_text() != self._full

    def _update_tip(self) -> None:
        self.setToolTip("\n".join(t for t in (self._full, self._tip) if t))

    def _elide(self) -> None:
        fm = self.fontMetrics()
        m = self.contentsMargins()
        width = max(0, self.width() - m.left() - m.right())
        shown = fm.elidedText(self._full, Qt.TextElideMode.ElideRight, width) if self._full else ""
        super().setText(shown)

    def sizeHint(self) -> QSize:
        m = self.contentsMargins()
        w = self.fontMetrics().horizontalAdvance(self._full) + m.left() + m.right() + 2
        if self._max_width:
            w = min(w, self._max_width)
        return QSize(w, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        m = self.contentsMargins()
        w = self.fontMetrics().horizontalAdvance("…") * 3 + m.left() + m.right()
        return QSize(min(w, self.sizeHint().width()), super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:
        self._elide()
        super().resizeEvent(event)
