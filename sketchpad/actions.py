"""The main window's actions, toolbars and menus: built here for a window, which owns them (as w.act_*,
w.model_picker, w.device_box, ...) and provides the slots they call."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QMessageBox, QSlider, QSpinBox, QToolBar

from sketchpad.app import icon
from sketchpad.model_loader import DEVICES
from sketchpad.widgets.canvas import KIND_NAMES, KINDS, TOOL_SHORTCUTS, TOOLS
from sketchpad.widgets.model_picker import ModelPicker

TOOL_LABELS = {
    "pen": "Pen",
    "brush": "Brush",
    "eraser": "Eraser",
    "fill": "Fill",
    "rect": "Rectangle",
    "polygon": "Polygon",
    "eyedropper": "Eyedropper",
}
BN_MODES = [("Running stats", "running"), ("This image's stats", "image")]
DROPOUT_TIP = "pix2pix's noise at test time: on gives varied results (set by the seed), off is deterministic"


def act(w, text: str, slot=None, shortcut=None, tip: str = "", icon_name: str = "") -> QAction:
    """An action of window `w` (added to it, so its shortcut works anywhere in the window)."""
    a = QAction(text, w)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setStatusTip(tip)
        a.setToolTip(tip)
    if icon_name:
        a.setIcon(icon(icon_name))
    if slot is not None:
        a.triggered.connect(slot)
    w.addAction(a)
    return a


def build_actions(w) -> None:
    """The window's actions: w.act_*, w.convert_actions, w.tool_group and w.tool_actions."""
    K = QKeySequence.StandardKey
    w.act_new = act(w, "&New drawing", w.new_drawing, K.New)
    w.act_open = act(w, "&Open drawing…", w._open_drawing_dialog, K.Open)
    w.act_import = act(
        w,
        "Open &image as drawing…",
        w._import_image_dialog,
        "Ctrl+Shift+O",
        "Any picture becomes the drawing (label maps snapped to the palette)",
    )
    w.act_underlay = act(
        w,
        "Import photo as tracing &underlay…",
        w._underlay_dialog,
        tip="A photo under the drawing to trace",
    )
    w.act_remove_underlay = act(w, "Remove underlay", lambda: w.set_underlay(None))
    w.act_save = act(w, "&Save drawing", w.save, K.Save)
    w.act_save_as = act(w, "Save drawing &as…", w.save_as, K.SaveAs)
    w.act_export = act(w, "&Export result…", w._export_dialog, "Ctrl+E")
    w.act_pair = act(w, "Save drawing + result &pair…", w._pair_dialog, "Ctrl+Shift+E")
    w.act_copy = act(w, "&Copy result", w.copy_result, "Ctrl+Shift+C")
    w.act_open_ckpt = act(w, "Open &checkpoint…", w._open_checkpoint_dialog, "Ctrl+Shift+M")
    w.act_quit = act(w, "&Quit", w.close, K.Quit)

    w.act_undo = w.canvas.undo_group.createUndoAction(w, "&Undo")
    w.act_undo.setShortcut(K.Undo)
    w.act_undo.setIcon(icon("undo"))
    w.act_redo = w.canvas.undo_group.createRedoAction(w, "&Redo")
    w.act_redo.setShortcuts([QKeySequence(K.Redo), QKeySequence("Ctrl+Y")])
    w.act_redo.setIcon(icon("redo"))
    w.addAction(w.act_undo)
    w.addAction(w.act_redo)
    w.act_clear = act(w, "C&lear drawing", w.canvas.clear, "Ctrl+Backspace")
    w.convert_actions = {}
    for kind in KINDS:  # shown under a model of another kind while a drawing of `kind` is kept
        a = act(
            w,
            f"Convert {KIND_NAMES[kind]} drawing",
            lambda _=False, k=kind: w.convert_drawing_from(k),
            tip=f"Replace this drawing by your {KIND_NAMES[kind]} drawing, converted (one undo step)",
        )
        a.setVisible(False)
        w.convert_actions[kind] = a

    w.act_zoom_in = act(w, "Zoom &in", lambda: w.canvas.zoom_in(), K.ZoomIn)
    w.act_zoom_out = act(w, "Zoom &out", lambda: w.canvas.zoom_out(), K.ZoomOut)
    w.act_fit = act(w, "&Fit to window", w.canvas.fit_to_window, "Ctrl+0")
    w.act_actual = act(w, "&Actual size", w.canvas.actual_size, "Ctrl+1")
    w.act_variations = act(
        w,
        "&Variations…",
        w.show_variations,
        "Ctrl+Shift+V",
        "Four dropout samples of this drawing",
        "variations",
    )
    w.act_example = act(
        w,
        "Random &example",
        w.random_example,
        "Ctrl+Shift+R",
        "Load an example drawing for this model",
        "dice",
    )
    w.act_reroll = act(w, "Re-roll seed", w.reroll, "Ctrl+R", "A new dropout seed", "reroll")

    w.tool_group = QActionGroup(w)
    w.tool_actions = {}
    for name in TOOLS:
        a = act(
            w,
            TOOL_LABELS[name],
            lambda _=False, n=name: w.canvas.set_tool(n),
            TOOL_SHORTCUTS.get(name),
            f"{TOOL_LABELS[name]} ({TOOL_SHORTCUTS.get(name, '')})",
            name,
        )
        a.setCheckable(True)
        w.tool_group.addAction(a)
        w.tool_actions[name] = a
    w.tool_actions[w.canvas.tool()].setChecked(True)


def build_toolbars(w) -> None:
    """The Tools and Model toolbars with their widgets (w.size_box, w.underlay_slider, w.model_picker,
    w.device_box, w.dropout_box, w.seed_box, w.bn_box)."""
    tools = QToolBar("Tools", w)
    tools.setObjectName("tools")
    tools.setMovable(False)
    for a in w.tool_actions.values():
        tools.addAction(a)
    tools.addSeparator()
    tools.addWidget(QLabel(" Size "))
    w.size_box = QSpinBox()
    w.size_box.setRange(1, 512)
    w.size_box.setSuffix(" px")
    w.size_box.setValue(w.canvas.brush_size())
    w.size_box.setToolTip("Brush size in drawing pixels ([ and ])")
    tools.addWidget(w.size_box)
    tools.addSeparator()
    tools.addAction(w.act_undo)
    tools.addAction(w.act_redo)
    tools.addSeparator()
    tools.addAction(w.act_example)
    tools.widgetForAction(w.act_example).setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    w.underlay_label = QLabel(" Underlay ")
    w.underlay_slider = QSlider(Qt.Orientation.Horizontal)
    w.underlay_slider.setRange(0, 100)
    w.underlay_slider.setValue(50)
    w.underlay_slider.setMaximumWidth(90)
    w.underlay_slider.setToolTip("Tracing underlay opacity")
    w._underlay_widgets = [tools.addWidget(w.underlay_label), tools.addWidget(w.underlay_slider)]
    for a in w._underlay_widgets:
        a.setVisible(False)
    w.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)
    w.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)

    model = QToolBar("Model", w)
    model.setObjectName("model")
    model.setMovable(False)
    model.addWidget(QLabel(" Model "))
    w.model_picker = ModelPicker()
    model.addWidget(w.model_picker)
    model.addWidget(QLabel("  Device "))
    w.device_box = QComboBox()
    for label, value in DEVICES:
        w.device_box.addItem(label, value)
    w.device_box.setToolTip("Where the model runs; unavailable devices fall back to the CPU")
    model.addWidget(w.device_box)
    model.addSeparator()
    w.dropout_box = QCheckBox("Dropout")
    w.dropout_box.setToolTip(DROPOUT_TIP)
    model.addWidget(w.dropout_box)
    w.seed_box = QSpinBox()
    w.seed_box.setRange(0, 2**31 - 1)
    w.seed_box.setPrefix("seed ")
    w.seed_box.setToolTip("The dropout seed: the same seed gives the same picture")
    model.addWidget(w.seed_box)
    model.addAction(w.act_reroll)
    model.addSeparator()
    w.bn_box = QComboBox()
    for label, value in BN_MODES:
        w.bn_box.addItem(label, value)
    w.bn_box.setToolTip(
        "Batch-norm statistics: the training set's running averages, or this image's own "
        "(the reference test script's default)"
    )
    model.addWidget(QLabel(" Batch norm "))
    model.addWidget(w.bn_box)
    model.addSeparator()
    model.addAction(w.act_variations)
    model.widgetForAction(w.act_variations).setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    w.addToolBar(Qt.ToolBarArea.TopToolBarArea, model)


def build_menus(w) -> None:
    """File, Edit, View, Model and Help (w.recent_menu, w.view_menu, w.model_menu)."""
    mb = w.menuBar()
    f = mb.addMenu("&File")
    f.addActions([w.act_new, w.act_open, w.act_import])
    w.recent_menu = f.addMenu("Open &recent")
    f.addSeparator()
    f.addActions([w.act_underlay, w.act_remove_underlay])
    f.addSeparator()
    f.addActions([w.act_save, w.act_save_as, w.act_export, w.act_pair, w.act_copy])
    f.addSeparator()
    f.addAction(w.act_open_ckpt)
    f.addSeparator()
    f.addAction(w.act_quit)
    e = mb.addMenu("&Edit")
    e.addActions([w.act_undo, w.act_redo])
    e.addSeparator()
    e.addAction(w.act_clear)
    e.addActions(list(w.convert_actions.values()))
    e.addSeparator()
    e.addActions(list(w.tool_actions.values()))
    v = mb.addMenu("&View")
    v.addActions([w.act_zoom_in, w.act_zoom_out, w.act_fit, w.act_actual])
    v.addSeparator()
    v.addAction(w.act_variations)
    v.addAction(act(w, "&Training panel", w.show_training_panel, tip="Train a model on your own pairs"))
    w.model_menu = mb.addMenu("&Model")
    w.view_menu = v
    h = mb.addMenu("&Help")
    h.addAction(act(w, "&Keyboard shortcuts", lambda: show_shortcuts(w), "F1"))
    h.addAction(act(w, "&About Sketchpad", lambda: show_about(w)))
    w._update_recent_menu()


def rebuild_model_menu(w) -> None:
    """The Model menu: every model (the one in use checked), Open checkpoint, Refresh, Device, the seed
    and variations; rebuilt when the list, the model or the device changes."""
    m = w.model_menu
    m.clear()
    group = QActionGroup(m)
    current = w.model_entry.id if w.model_entry else ""
    for e in w.entries:
        a = m.addAction(e.label)
        a.setCheckable(True)
        a.setChecked(e.id == current)
        group.addAction(a)
        a.triggered.connect(lambda _=False, i=e.id: w.load_model(i))
    m.addSeparator()
    m.addAction(w.act_open_ckpt)
    m.addAction("Refresh list", w.refresh_models)
    m.addSeparator()
    dev = m.addMenu("&Device")
    dg = QActionGroup(dev)
    for label, value in DEVICES:
        a = dev.addAction(label)
        a.setCheckable(True)
        a.setChecked(value == w.device_name)
        dg.addAction(a)
        a.triggered.connect(lambda _=False, d=value: w.set_device(d))
    m.addAction(w.act_reroll)
    m.addAction(w.act_variations)


def shortcuts_text(w) -> str:
    """Every tool and menu shortcut of window `w`, as an HTML table."""
    rows = [(TOOL_LABELS[t], TOOL_SHORTCUTS.get(t, "")) for t in TOOLS]
    rows += [("Smaller / larger brush", "[  /  ]"), ("Pan", "Space + drag, middle drag, wheel")]
    rows += [("Zoom", "Ctrl + wheel")]
    for a in w.actions():
        key = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if key and a.text().replace("&", "") not in TOOL_LABELS.values():
            rows.append((a.text().replace("&", "").rstrip("…"), key))
    body = "".join(f"<tr><td>{n}</td><td>&nbsp;&nbsp;<b>{k}</b></td></tr>" for n, k in rows)
    return f"<table>{body}</table>"


def show_shortcuts(w) -> None:
    QMessageBox.information(w, "Keyboard shortcuts", shortcuts_text(w))


def show_about(w) -> None:
    QMessageBox.about(
        w,
        "About Sketchpad",
        "Sketchpad: draw on the left, see it translated live on the right (pix2pix).",
    )
