"""The model picker: shipped models, the user's runs, opened files, and "Open checkpoint…"."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QWidget

from sketchpad.models_list import KIND_NAMES, ModelEntry

OPEN_ITEM = "__open__"
_SOURCE_NAMES = {"shipped": "Shipped", "run": "Your runs", "opened": "Opened files", "builtin": "Built in"}


class ModelPicker(QComboBox):
    """A combo box of ModelEntry; emits `model_chosen(id)` or `open_requested()` on user choice."""

    model_chosen = Signal(str)
    open_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumContentsLength(26)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setToolTip("Model: the network that translates the drawing")
        self._entries: list[ModelEntry] = []
        self._current = ""
        self.activated.connect(self._on_activated)

    def entries(self) -> list[ModelEntry]:
        return list(self._entries)

    def set_entries(self, entries: list[ModelEntry], current_id: str = "") -> None:
        self.blockSignals(True)
        self.clear()
        self._entries = list(entries)
        last_source = None
        for e in entries:
            if last_source is not None and e.source != last_source:
                self.insertSeparator(self.count())
            last_source = e.source
            tip = f"{_SOURCE_NAMES.get(e.source, e.source)} · translates {KIND_NAMES.get(e.input_kind, e.input_kind)}"
            if e.live_path:
                tip += " · with a live model"
            if e.damaged:
                tip += f"\nDamaged: {e.damaged}"
            self.addItem(e.label, e.id)
            self.setItemData(self.count() - 1, tip + (f"\n{e.path}" if e.path else ""), 3)  # ToolTipRole
        self.insertSeparator(self.count())
        self.addItem("Open checkpoint…", OPEN_ITEM)
        self.blockSignals(False)
        self.set_current(current_id or self._current)

    def set_current(self, model_id: str) -> None:
        self._current = model_id
        i = self.findData(model_id)
        if i >= 0:
            self.blockSignals(True)
            self.setCurrentIndex(i)
            self.blockSignals(False)

    def current_id(self) -> str:
        return self._current

    def _on_activated(self, index: int) -> None:
        data = self.itemData(index)
        if data == OPEN_ITEM:
            self.set_current(self._current)  # the old choice stays until a file is opened
            self.open_requested.emit()
        elif data and data != self._current:
            self.model_chosen.emit(str(data))
