"""The main window: the canvas and its live translation side by side, tools, model and device pickers,
files, autosave and restore. It composes the parts and wires them together: drawing lives in the Canvas,
scheduling in sketchpad.live, model discovery in sketchpad.models_list, loading models and choosing the
device in sketchpad.model_loader, actions, toolbars and menus in sketchpad.actions, autosave recovery in
sketchpad.recovery, and the document side (files, examples, drops) in sketchpad.window_files."""

from __future__ import annotations

import os
import random
import time
from collections import deque
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMainWindow, QMessageBox, QVBoxLayout, QWidget

from models.errors import SketchpadError
from models.palette import FACADES
from sketchpad import actions, models_list, settings
from sketchpad.app import icon
from sketchpad.autosave import Autosaver, AutosaveStore, Recovered
from sketchpad.live import LiveController
from sketchpad.model_loader import LOAD_ERRORS, LoadedModel, ModelLoader, one_line
from sketchpad.models_list import ModelEntry
from sketchpad.recovery import Recovery
from sketchpad.widgets.canvas import KIND_NAMES, Canvas
from sketchpad.widgets.elided_label import ElidedLabel
from sketchpad.widgets.message_bar import MessageBar
from sketchpad.widgets.palette_bar import PaletteBar
from sketchpad.widgets.result_view import ResultView
from sketchpad.widgets.variations import VariationsDialog
from sketchpad.window_files import DocumentActions

DEFAULT_SIZE = (256, 256)
PANE_MIN = 256  # the drawing and the result each get at least this many pixels, the training dock open
LARGEST_DEFAULT = (1400, 860)  # the default window on a large screen
STATUS_NAME_MAX = 260  # the status bar's model name elides beyond this width
FPS_WINDOW_S = 2.0


def default_window_size(available: tuple[int, int]) -> tuple[int, int]:
    """The window's first size on a screen whose free area is `available` (w, h): room for the drawing,
    the result and the training dock side by side (a 1366x768 screen gives 1342x688), capped on large
    screens, and never larger than the screen (less its frame)."""
    aw, ah = available
    w = min(LARGEST_DEFAULT[0], aw - 24)
    h = min(LARGEST_DEFAULT[1], ah - 40)
    return max(min(640, aw), w), max(min(480, ah), h)


def _available_screen() -> tuple[int, int]:
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return (1366, 728)
    g = screen.availableGeometry()
    return (g.width(), g.height())


def _pane(title: QLabel, body: QWidget) -> QWidget:
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(4)
    title.setContentsMargins(2, 0, 2, 0)
    lay.addWidget(title)
    lay.addWidget(body, 1)
    return w


class MainWindow(DocumentActions, QMainWindow):
    """Sketchpad's window; the API other parts use is in briefs/protocol.md (Main window API)."""

    translation_shown = Signal(dict)  # {"tier", "ms", "request_id", "model_id", "digest"}
    model_changed = Signal(str)  # the model id now in use

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        backend: str | None = None,
        prompts: bool | None = None,
        autosave: AutosaveStore | None = None,
        restore: str = "ask",
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        # Dialogs that block (save changes?) are off in tests and scripts.
        self.prompts = os.environ.get("SKETCHPAD_NO_PROMPTS", "") != "1" if prompts is None else prompts
        # "auto": ONNX Runtime on the CPU / CUDA graphs on a GPU where they fit (models.fast), else PyTorch.
        backend = backend or os.environ.get("SKETCHPAD_BACKEND", "auto")
        self.model_loader = ModelLoader(device=device, backend=backend)  # no parent: its thread holds it
        self.document: Path | None = None
        self.suggested_name: str | None = None  # the name Save proposes for an unsaved drawing
        self.example: Path | None = None  # the example the drawing started from, while unsaved
        self._kept_documents: dict[str, tuple] = {}  # per drawing kind put away: (document, name, example)
        self._swapping_kind = False
        self.errors: list[str] = []  # every message shown, newest last (tests and scripts read it)
        self._opened: list[str] = [
            p for p in settings.get_list("models/opened") if settings.exists(p, file=True)
        ]
        self._shown_times: deque[float] = deque(maxlen=240)
        self._fps_timer = QTimer(self)  # the rate decays to nothing once results stop
        self._fps_timer.setInterval(500)
        self._fps_timer.timeout.connect(self._update_fps)
        self.last_result: np.ndarray | None = None
        self._variations: VariationsDialog | None = None
        self._closing_clean = False

        self.setWindowTitle("Sketchpad")
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.resize(*default_window_size(_available_screen()))

        self.canvas = Canvas(DEFAULT_SIZE)
        self.result_view = ResultView()
        self.result_view.follow(self.canvas)
        self.live = LiveController(self)
        self.recovery = Recovery(self)
        self.autosaver = Autosaver(
            self.canvas.image_array,
            self.recovery.meta,
            should_save=self.canvas.is_modified,
            store=autosave,
            parent=self,
        )

        self._build_central()
        actions.build_actions(self)
        actions.build_toolbars(self)
        actions.build_menus(self)
        self._build_statusbar()
        self._connect()

        self.entries: list[ModelEntry] = []
        self.refresh_models()
        if model is None:
            model = settings.get_str("model", None)
            try:  # a remembered model that is gone is no error: use the default instead
                models_list.resolve(model, self.entries)
            except SketchpadError:
                model = None
        # The window opens with its model: asked for, else the default, else the built-in one.
        if not self.load_model(model, wait=True) and not self.load_model(None, wait=True):
            self.load_model(models_list.BUILTIN_ID, wait=True)
        if self.canvas.is_pristine():
            self._open_first_drawing()
        self._update_title()
        self._restore_geometry()
        self.recovery.offer(restore)
        if not self.statusBar().currentMessage():
            self.statusBar().showMessage("Draw on the left; the translation follows. F1 lists the shortcuts.")

    # ------------------------------------------------------------------ building

    def _build_central(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(10, 8, 10, 6)
        outer.setSpacing(6)
        self.message_bar = MessageBar(central)
        outer.addWidget(self.message_bar)
        self.palette_bar = PaletteBar(central)
        outer.addWidget(self.palette_bar)
        panes = QHBoxLayout()
        panes.setSpacing(10)
        self.drawing_title = ElidedLabel("Drawing")
        self.result_title = ElidedLabel("Translation")  # a run's long name elides, never widens the pane
        for t in (self.drawing_title, self.result_title):
            f = t.font()
            f.setBold(True)
            t.setFont(f)
        panes.addWidget(_pane(self.drawing_title, self.canvas), 1)
        panes.addWidget(_pane(self.result_title, self.result_view), 1)
        outer.addLayout(panes, 1)
        self.setCentralWidget(central)

    def _build_statusbar(self) -> None:
        sb = self.statusBar()
        self.status_model = ElidedLabel(max_width=STATUS_NAME_MAX)
        self.status_device = QLabel()
        self.status_tier = QLabel("—")
        self.status_ms = QLabel("— ms")
        self.status_fps = QLabel("— fps")
        self.status_tier.setToolTip(
            "live: the fast model while you draw; full: the full model once the pen rests"
        )
        for w in (self.status_model, self.status_device, self.status_tier, self.status_ms, self.status_fps):
            w.setContentsMargins(6, 0, 6, 0)
            sb.addPermanentWidget(w)
        fm = self.fontMetrics()
        self.status_tier.setMinimumWidth(fm.horizontalAdvance("Shown: full (live model)") + 12)
        self.status_ms.setMinimumWidth(fm.horizontalAdvance("00000 ms") + 12)
        self.status_fps.setMinimumWidth(fm.horizontalAdvance("000.0 fps") + 12)

    def _connect(self) -> None:
        c = self.canvas
        c.changed.connect(self._on_canvas_changed)
        c.stroke_started.connect(self.live.pen_down)
        c.stroke_finished.connect(self.live.pen_up)
        # A first stroke makes the drawing modified only once it is on the undo stack (pen up).
        c.stroke_finished.connect(self.autosaver.schedule)
        c.tool_changed.connect(self._on_tool_changed)
        c.brush_size_changed.connect(self._on_brush_size_changed)
        c.color_changed.connect(self.palette_bar.set_current)
        c.undo_group.cleanChanged.connect(lambda _clean: self._update_title())
        self.palette_bar.color_selected.connect(c.set_color)
        self.size_box.valueChanged.connect(c.set_brush_size)
        self.underlay_slider.valueChanged.connect(lambda v: c.set_underlay_opacity(v / 100))
        self.live.result_ready.connect(self._on_result)
        self.live.errored.connect(self.show_error)
        self.model_loader.loaded.connect(self._on_model_loaded)
        self.model_loader.failed.connect(self._on_model_failed)
        self.model_picker.model_chosen.connect(self.load_model)
        self.model_picker.open_requested.connect(self._open_checkpoint_dialog)
        i = self.device_box.findData(self.device_name)
        self.device_box.setCurrentIndex(max(0, i))
        self.device_box.currentIndexChanged.connect(lambda _i: self.set_device(self.device_box.currentData()))
        self.dropout_box.toggled.connect(self._on_options)
        self.seed_box.valueChanged.connect(self._on_options)
        self.bn_box.currentIndexChanged.connect(self._on_options)
        self.seed_box.setEnabled(False)
        self.act_reroll.setEnabled(False)
        self.autosaver.failed.connect(self.show_error)

    # ------------------------------------------------------------------ models

    def refresh_models(self) -> None:
        """Re-read weights/, the runs folder and opened files into the picker and the Model menu."""
        self.entries = models_list.discover(self._opened)
        if self.model_entry is not None and all(e.id != self.model_entry.id for e in self.entries):
            self.entries.append(self.model_entry)
        self.model_picker.set_entries(self.entries, self.model_entry.id if self.model_entry else "")
        actions.rebuild_model_menu(self)

    @property
    def model_entry(self) -> ModelEntry | None:
        """The model in use (None only before the first one has loaded)."""
        return self.model_loader.entry

    @property
    def checkpoint_meta(self) -> dict:
        m = self.model_loader.current
        return dict(m.checkpoint.meta) if m else {}

    @property
    def device_name(self) -> str:
        return self.model_loader.device_name

    @property
    def backend(self) -> str:
        return self.model_loader.backend

    def load_model(self, path_or_name: str | os.PathLike | None, *, wait: bool = False) -> bool:
        """Switch to a model (shipped name, entry id, or checkpoint path); the drawing is kept. The
        checkpoint is read off the UI thread: the drawing stays editable and the model in use keeps
        translating until the new one is ready (`model_changed`). A failure shows one line and keeps the
        previous model. Returns False at once for a name that is no model, else True; with `wait`
        (startup, scripts, tests: never a user's action) it blocks and returns whether the model loaded."""
        try:
            entry = models_list.resolve(path_or_name, self.entries)
        except LOAD_ERRORS as e:
            self._on_model_failed(f"Could not load the model: {one_line(e)}")
            return False
        self.model_loader.load(entry)
        if wait:
            return self.model_loader.wait()
        self.statusBar().showMessage(f"Loading {entry.label}…")
        return True

    def _on_model_loaded(self, m: LoadedModel) -> None:
        """The loaded model takes over: the drawing follows its kind and is translated by it."""
        entry = m.entry
        if entry.source == "opened" and entry.path is not None and str(entry.path) not in self._opened:
            self._opened.append(str(entry.path))
            settings.put("models/opened", self._opened[-10:])
        self._show_dropout_support(m.has_dropout)
        # The drawing may change with the model: it is translated once, by the new model.
        self._swapping_kind = True
        try:
            self._apply_kind(m.checkpoint.input_kind, m.checkpoint.palette)
        finally:
            self._swapping_kind = False
        if entry.id != self.live.model_id:  # another model, not another device: the statistics it prefers
            self.bn_box.blockSignals(True)
            self.bn_box.setCurrentIndex(max(0, self.bn_box.findData(m.preferred_bn_stats)))
            self.bn_box.blockSignals(False)
        self.live.set_model(
            entry.id, m.full, m.live, image=self.canvas.image_array(), bn_stats=self.bn_box.currentData()
        )
        if entry.id not in {e.id for e in self.entries}:
            self.entries.append(entry)
        self.model_picker.set_entries(self.entries, entry.id)
        self._show_device()
        if not entry.is_builtin:
            settings.put("model", entry.id if entry.source != "shipped" else entry.path.stem)
        self.status_model.setText(f"Model: {entry.label}")
        self.status_model.set_extra_tip(str(entry.path or m.checkpoint.meta.get("description", "")))
        dev = str(m.full.device)
        self.status_device.setText(f"Device: {dev}" + (" (fallback)" if m.full.device_note else ""))
        self.result_title.setText(f"Translation — {entry.label}")
        if m.note:
            self.statusBar().showMessage(m.note, 10_000)
            self.status_device.setToolTip(m.note)
        elif self.statusBar().currentMessage().startswith("Loading "):
            self.statusBar().clearMessage()
        self.model_changed.emit(entry.id)

    def _on_model_failed(self, message: str) -> None:
        """The model in use stays: the message, and the picker, menu and device box back on it."""
        self.show_error(message)
        self.model_picker.set_current(self.model_entry.id if self.model_entry else "")
        self._show_device()

    def _show_device(self) -> None:
        """The device box and the Model menu show the device in use."""
        i = self.device_box.findData(self.device_name)
        if i >= 0 and self.device_box.currentIndex() != i:
            self.device_box.blockSignals(True)
            self.device_box.setCurrentIndex(i)
            self.device_box.blockSignals(False)
        actions.rebuild_model_menu(self)

    def _apply_kind(self, kind: str, palette) -> None:
        """The drawing follows the model's kind: each kind keeps its own drawing (and undo), which comes
        back on switching back; a kind seen for the first time opens the model's example."""
        if kind == "labels" and not palette:
            palette = FACADES
        old = self.canvas.kind()
        if kind != old:
            self._kept_documents[old] = (self.document, self.suggested_name, self.example)
        kept = self.canvas.set_kind(kind, palette if kind == "labels" else None)
        if kind != old:
            back = self._kept_documents.pop(kind, None)
            back = back if kept else None
            self.document, self.suggested_name, self.example = back or (None, None, None)
            if not kept:
                self._open_first_drawing()
        self.palette_bar.set_palette(palette if kind == "labels" else None)
        if kind == "labels":  # for line art, set_current would file black under "recent colours"
            self.palette_bar.set_current(self.canvas.color())
        self._update_convert_actions()
        self._update_drawing_title()
        self._update_title()

    def _update_convert_actions(self) -> None:
        here = KIND_NAMES[self.canvas.kind()]
        kept = self.canvas.kept_kinds()
        for kind, a in self.convert_actions.items():
            a.setText(f"Convert {KIND_NAMES[kind]} drawing to {here}")
            a.setVisible(kind in kept)

    def convert_drawing_from(self, kind: str) -> bool:
        """Edit > Convert: this kind's drawing replaced by the kept drawing of `kind`, converted (undoable)."""
        if not self.canvas.convert_from(kind):
            self.show_error(f"There is no {KIND_NAMES.get(kind, kind)} drawing to convert.")
            return False
        self.statusBar().showMessage(
            f"Converted the {KIND_NAMES[kind]} drawing; Undo brings this one back", 5000
        )
        return True

    def set_device(self, name: str, *, wait: bool = False) -> bool:
        """auto / cpu / cuda / mps: the model is read again onto it, off the UI thread, and the choice is
        saved once it runs there; an unavailable device falls back to the CPU with a note. A failure keeps
        the device in use. With `wait` (scripts, tests) it blocks and returns whether the model loaded."""
        if name == self.device_name and not self.model_loader.busy():
            return True
        self.model_loader.set_device(name)
        if not self.model_loader.busy():  # no model yet: the next one loads there
            self._show_device()
            return True
        i = self.device_box.findData(name)  # the box shows the choice while the model moves
        if i >= 0 and self.device_box.currentIndex() != i:
            self.device_box.blockSignals(True)
            self.device_box.setCurrentIndex(i)
            self.device_box.blockSignals(False)
        return self.model_loader.wait() if wait else True

    def _show_dropout_support(self, has_dropout: bool) -> None:
        self.has_dropout = has_dropout
        self.dropout_box.setEnabled(has_dropout)
        self.act_variations.setEnabled(has_dropout)
        if has_dropout:
            self.dropout_box.setToolTip(actions.DROPOUT_TIP)
        else:
            self.dropout_box.setChecked(False)
            self.dropout_box.setToolTip("This model has no dropout layers: its output is always the same")

    def _on_options(self, *_):
        dropout = self.dropout_box.isChecked()
        self.seed_box.setEnabled(dropout)
        self.act_reroll.setEnabled(dropout)
        self.live.set_options(dropout=dropout, seed=self.seed_box.value(), bn_stats=self.bn_box.currentData())

    def reroll(self) -> int:
        """A new random dropout seed (turns dropout on)."""
        seed = random.randrange(1, 2**31 - 1)
        self.dropout_box.setChecked(True)
        self.seed_box.setValue(seed)
        return seed

    # ------------------------------------------------------------------ live results

    def _on_canvas_changed(self) -> None:
        if not self._swapping_kind:  # load_model submits the swapped-in drawing with the new model
            self.live.submit(self.canvas.image_array())
        self.autosaver.schedule()
        self._update_drawing_title()

    def _on_result(self, image: np.ndarray, info: dict) -> None:
        self.last_result = image
        self.result_view.set_result(image, badge=info["tier"])
        self._shown_times.append(time.monotonic())
        self.status_tier.setText(f"Shown: {info['tier']}")
        self.status_ms.setText(f"{info['ms']:.0f} ms")
        self.status_ms.setToolTip(f"Last translation time ({info.get('runner', 'torch')} runner)")
        self._update_fps()
        if not self._fps_timer.isActive():
            self._fps_timer.start()
        self.translation_shown.emit(dict(info))

    def frame_rate(self) -> float:
        """Results shown per second over the last two seconds."""
        now = time.monotonic()
        return sum(1 for t in self._shown_times if now - t <= FPS_WINDOW_S) / FPS_WINDOW_S

    def _update_fps(self) -> None:
        fps = self.frame_rate()
        self.status_fps.setText(f"{fps:.1f} fps" if fps else "— fps")
        if not fps:
            self._fps_timer.stop()

    def current_result(self) -> np.ndarray | None:
        return self.result_view.result_array()

    # ------------------------------------------------------------------ variations

    def show_variations(self) -> VariationsDialog:
        if self._variations is None:
            d = VariationsDialog(self)
            d.reroll_requested.connect(self._request_variations)
            d.seed_chosen.connect(self._use_seed)
            self.live.variations_ready.connect(d.show_results)
            self._variations = d
        self._variations.show()
        self._variations.raise_()
        self._request_variations()
        return self._variations

    def _request_variations(self) -> None:
        d = self._variations
        if d is not None:
            self.live.request_variations(self.canvas.image_array(), d.new_seeds())

    def _use_seed(self, seed: int) -> None:
        self.dropout_box.setChecked(True)
        self.seed_box.setValue(seed)

    # ------------------------------------------------------------------ docks (training panel)

    def add_dock(self, widget: QWidget, title: str, area=Qt.DockWidgetArea.RightDockWidgetArea):
        from PySide6.QtWidgets import QDockWidget

        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def show_training_panel(self):
        """The training panel, made and docked on first use (its imports are not paid at startup). It never
        calls the window: it is given the canvas, the prompts and the live model, and asks through signals."""
        if getattr(self, "training_panel", None) is None:
            from sketchpad.widgets.training_panel import TrainingPanel

            panel = TrainingPanel(prompts=self.prompts)
            panel.set_canvas(self.canvas)
            panel.set_live_model(self.model_entry)
            self.model_changed.connect(lambda *_: panel.set_live_model(self.model_entry))
            panel.use_model_requested.connect(self.load_model)
            panel.underlay_shown.connect(self.set_underlay)
            panel.runs_changed.connect(self.refresh_models)
            panel.message.connect(lambda m: self.statusBar().showMessage(m, 5000))
            self.training_panel = panel
            self.training_dock = self.add_dock(panel, "Training")
        self.training_dock.show()
        self.training_dock.raise_()
        self._fit_training_dock()
        return self.training_panel

    # ------------------------------------------------------------------ layout

    def _central_min_width(self) -> int:
        """The central area's width with the drawing and the result at PANE_MIN each."""
        lay = self.centralWidget().layout()
        m = lay.contentsMargins()
        return 2 * PANE_MIN + m.left() + m.right() + 10 + 4  # pane spacing, a little slack

    def _fit_training_dock(self) -> None:
        """Open the dock as wide as it likes while the drawing and the result keep PANE_MIN each; grow the
        window (within the screen) when it cannot."""
        dock = getattr(self, "training_dock", None)
        if dock is None or dock.isFloating() or self.isMaximized() or self.isFullScreen():
            return
        dock_min = max(dock.minimumSizeHint().width(), dock.widget().minimumSizeHint().width())
        need = self._central_min_width() + dock_min + 8  # the dock's splitter handle
        if self.width() < need:
            screen_w = _available_screen()[0]
            self.resize(min(need, max(self.width(), screen_w - 24)), self.height())
        room = self.width() - self._central_min_width() - 8
        want = dock.widget().sizeHint().width()
        self.resizeDocks([dock], [max(dock_min, min(want, room))], Qt.Orientation.Horizontal)

    def _restore_geometry(self) -> None:
        """The window's last geometry, when the settings hold a usable one."""
        g = settings.get("window/geometry", None)
        if isinstance(g, bytes | bytearray):
            g = QByteArray(bytes(g))
        if isinstance(g, QByteArray) and not g.isEmpty():
            self.restoreGeometry(g)  # Qt checks the bytes; nonsense is ignored

    # ------------------------------------------------------------------ messages, title

    def show_error(self, message: str) -> None:
        """A message in the window (never a dialog that blocks); the app and the drawing stay."""
        self.errors.append(message)
        self.message_bar.show_message(message, error=True)
        self.statusBar().showMessage(message, 10_000)

    def _on_tool_changed(self, name: str) -> None:
        if name in self.tool_actions:
            self.tool_actions[name].setChecked(True)
        self.size_box.blockSignals(True)
        self.size_box.setValue(self.canvas.brush_size())
        self.size_box.blockSignals(False)

    def _on_brush_size_changed(self, px: int) -> None:
        if self.size_box.value() != px:
            self.size_box.blockSignals(True)
            self.size_box.setValue(px)
            self.size_box.blockSignals(False)

    def _update_drawing_title(self) -> None:
        w, h = self.canvas.image_size()
        kind = {"labels": "label map", "lineart": "line art", "image": "image"}.get(self.canvas.kind(), "")
        self.drawing_title.setText(f"Drawing — {kind}, {w}×{h}")

    def _update_title(self) -> None:
        if self._closing_clean:
            return  # the undo stack may already be gone
        if self.document:
            name = self.document.name
        elif self.example is not None:
            name = f"{self.example.name} (example)"
        else:
            name = "Untitled"
        self.setWindowTitle(f"{name}{'*' if self.canvas.is_modified() else ''} — Sketchpad")

    # ------------------------------------------------------------------ autosave recovery

    @property
    def recovered(self) -> Recovered | None:
        """The drawing a crashed session left, while it is on offer."""
        return self.recovery.recovered

    def restore_autosave(self) -> bool:
        return self.recovery.restore()

    def discard_autosave(self) -> None:
        self.recovery.discard()

    # ------------------------------------------------------------------ closing

    def _maybe_save(self) -> bool:
        """True when it is fine to drop the drawing (saved, discarded, or prompts are off)."""
        if not self.canvas.is_modified() or not self.prompts:
            return True
        r = QMessageBox.question(
            self,
            "Unsaved drawing",
            "The drawing has unsaved changes. Save them?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if r == QMessageBox.StandardButton.Save:
            return self.save()
        return r == QMessageBox.StandardButton.Discard

    def closeEvent(self, event) -> None:
        if not self._maybe_save() or not self._maybe_save_kept():
            event.ignore()
            return
        panel = getattr(self, "training_panel", None)
        if panel is not None and not panel.confirm_close():  # training runs: ask, then pause it
            event.ignore()
            return
        self.shutdown(clean=True)
        super().closeEvent(event)

    def shutdown(self, *, clean: bool = True) -> None:
        """Stop the worker; a clean exit removes this session's autosave (a crash leaves it)."""
        if self._closing_clean:
            return
        self._closing_clean = True
        if self.isVisible():
            settings.put("window/geometry", self.saveGeometry())
        if getattr(self, "training_panel", None) is not None:
            self.training_panel.shutdown()  # the trainer saves a checkpoint; the run stays resumable
        try:
            self.canvas.undo_group.cleanChanged.disconnect()
        except (RuntimeError, TypeError):
            pass
        self.model_loader.shutdown()
        self.live.shutdown()
        if clean:
            self.autosaver.clear()
        else:
            self.autosaver._timer.stop()
            self.autosaver.wait()
