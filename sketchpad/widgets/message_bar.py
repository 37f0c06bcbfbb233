"""A non-blocking message strip (errors, the restore offer), as Krita and IDEs show them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget


class MessageBar(QFrame):
    """A non-blocking message strip at the top of the window, with optional action buttons."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 4, 4)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self._buttons: list[QPushButton] = []
        self._close = QToolButton(self)
        self._close.setText("✕")
        self._close.setAutoRaise(True)
        self._close.setToolTip("Dismiss")
        self._close.clicked.connect(self.hide)
        lay.addWidget(self._close)
        self.hide()

    def show_message(self, text: str, *, error: bool = False, actions: list[tuple[str, object]] = ()) -> None:
        for b in self._buttons:
            b.deleteLater()
        self._buttons = []
        self.label.setText(text)
        color = "#b3261e" if error else "#2f6fbf"
        self.setStyleSheet(f"#messageBar {{ border: 1px solid {color}; border-radius: 4px; }}")
        lay = self.layout()
        for text_, slot in actions:
            b = QPushButton(text_, self)
            b.clicked.connect(slot)
            b.clicked.connect(self.hide)
            lay.insertWidget(lay.count() - 1, b)
            self._buttons.append(b)
        self.show()

    def button(self, text: str) -> QPushButton | None:
        return next((b for b in self._buttons if b.text() == text), None)
