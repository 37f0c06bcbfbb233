"""The window's document side: new / open / import / save / export drawings and results, the tracing
underlay, recent files, example drawings, and drag and drop. A mixin of MainWindow, which provides
`canvas`, `live`, `show_error`, `_maybe_save` and `_update_title`."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox

from models.errors import ImageError
from models.imageio import IMAGE_SUFFIXES, load_image, save_png
from sketchpad import models_list, paths, settings
from sketchpad.widgets.canvas import KIND_NAMES
from sketchpad.widgets.result_view import to_qimage

EXAMPLES_FOR_KIND = {"labels": ("facades",), "lineart": ("faces", "shoes"), "image": ("shoes", "faces")}


class DocumentActions:
    """File operations of the main window; each public method returns True on success and shows any
    failure as a message in the window."""

    # ------------------------------------------------------------------ files

    def _dir(self, key: str) -> str:
        """Where a file dialog of this kind opens: where the last one of its kind was, else the open
        drawing's folder, else wherever the user last opened or saved anything, else home."""
        candidates = [settings.get_str(f"dirs/{key}", None)]
        if self.document is not None:
            candidates.append(str(self.document.parent))
        candidates.append(settings.get_str("dirs/last", None))
        for d in candidates:
            if d and settings.exists(d) and Path(d).is_dir():
                return d
        return str(Path.home())

    def _remember_dir(self, key: str, path: str | os.PathLike) -> None:
        folder = str(Path(path).resolve().parent)
        settings.put(f"dirs/{key}", folder)
        settings.put("dirs/last", folder)

    def _set_origin(self, document: Path | None, suggested: str | None = None, example: Path | None = None):
        """What the drawing is: a saved document, or unsaved with a name to propose (and the example it
        came from)."""
        self.document, self.suggested_name, self.example = document, suggested, example

    def _load_into_canvas(self, path: str | os.PathLike, what: str, *, undoable: bool) -> bool:
        """Read `path` into the canvas, fitted to the window; on failure show one message, keep the
        drawing, and return False."""
        try:
            a = load_image(path)
        except ImageError as e:
            self.show_error(f"Could not open the {what}: {e}")
            return False
        self.canvas.set_image_array(a, undoable=undoable)
        self.canvas.fit_to_window()
        return True

    def _image_filter(self) -> str:
        return "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ")"

    def new_drawing(self) -> bool:
        if not self._maybe_save():
            return False
        self.canvas.new_drawing(self.canvas.image_size())
        self._set_origin(None)
        self._update_title()
        return True

    def open_drawing(self, path: str | os.PathLike) -> bool:
        """Open a drawing (label colours snapped in label mode); on failure the message is shown, the
        current drawing stays, and False is returned."""
        if not self._load_into_canvas(path, "drawing", undoable=False):
            return False
        self._set_origin(Path(path).resolve())
        self.canvas.set_clean()
        settings.add_recent(path)
        self._remember_dir("drawings", path)
        self._update_recent_menu()
        self._update_title()
        return True

    def import_image(self, path: str | os.PathLike, *, example: bool = False) -> bool:
        """Any image as the drawing, as one undo step; the drawing is unsaved, and Save proposes the
        image's own name."""
        if not self._load_into_canvas(path, "image", undoable=True):
            return False
        path = Path(path)
        self._set_origin(None, path.stem + ".png", path if example else None)
        if not example:
            self._remember_dir("images", path)
        self._update_title()
        return True

    def open_example(self, path: str | os.PathLike) -> bool:
        """An example drawing as a fresh, unmodified drawing (no undo step; closing does not ask), saved
        under its own name."""
        path = Path(path)
        if not self._load_into_canvas(path, "example", undoable=False):
            return False
        self._set_origin(None, path.stem + ".png", path)
        self._update_title()
        return True

    def _open_first_drawing(self) -> bool:
        """A model's first drawing: its task's first example, so its translation shows at once; a model
        with no examples keeps the blank drawing (a plain wall for label maps)."""
        e = self.model_entry
        folder = paths.RESOURCES_DIR / "examples" / e.task if e is not None and e.task else None
        try:
            files = sorted(folder.glob("*.png")) if folder is not None and folder.is_dir() else []
        except OSError:
            files = []
        return bool(files) and self.open_example(files[0])

    def set_underlay(self, path: str | os.PathLike | None, opacity: float | None = None) -> bool:
        try:
            a = None if path is None else load_image(path)
        except ImageError as e:
            self.show_error(f"Could not open the photo: {e}")
            return False
        op = self.underlay_slider.value() / 100 if opacity is None else opacity
        self.canvas.set_underlay(a, op)
        for w in self._underlay_widgets:
            w.setVisible(a is not None)
        return True

    def save_drawing(self, path: str | os.PathLike) -> bool:
        """Write the drawing as a lossless PNG, atomically; it becomes the document."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        try:
            save_png(path, self.canvas.image_array())
        except (OSError, ValueError) as e:
            self.show_error(f"Could not save {path.name}: {e}")
            return False
        self._set_origin(path.resolve())
        self.canvas.set_clean()
        settings.add_recent(path)
        self._remember_dir("drawings", path)
        self._update_recent_menu()
        self._update_title()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def _maybe_save_kept(self) -> bool:
        """On quit, each drawing put away with its kind (another kind's model is shown) that has unsaved
        changes is offered for saving too; False when the user cancels."""
        if not self.prompts:
            return True
        B = QMessageBox.StandardButton
        for kind in self.canvas.kept_kinds():
            if not self.canvas.kept_is_modified(kind):
                continue
            r = QMessageBox.question(
                self,
                "Unsaved drawing",
                f"Your {KIND_NAMES[kind]} drawing (put away while a {KIND_NAMES[self.canvas.kind()]} model "
                "is in use) has unsaved changes. Save it?",
                B.Save | B.Discard | B.Cancel,
                B.Save,
            )
            if r == B.Cancel or (r == B.Save and not self.save_kept(kind)):
                return False
        return True

    def save_kept(self, kind: str, path: str | os.PathLike | None = None) -> bool:
        """Save the drawing kept for `kind` (to `path`, its own file, or a file the user picks)."""
        image = self.canvas.kept_image(kind)
        if image is None:
            return False
        doc, name, _ = self._kept_documents.get(kind) or (None, None, None)
        if path is None and doc is None:
            path, _ = QFileDialog.getSaveFileName(
                self,
                f"Save the {KIND_NAMES[kind]} drawing",
                str(Path(self._dir("drawings")) / (name or "drawing.png")),
                "PNG (*.png)",
            )
            if not path:
                return False
        path = Path(path or doc)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        try:
            save_png(path, image)
        except (OSError, ValueError) as e:
            self.show_error(f"Could not save {path.name}: {e}")
            return False
        self.canvas.set_kept_clean(kind)
        self._kept_documents[kind] = (path.resolve(), None, None)
        settings.add_recent(path)
        self._remember_dir("drawings", path)
        return True

    def save(self) -> bool:
        return self.save_drawing(self.document) if self.document else self.save_as()

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save drawing", str(Path(self._dir("drawings")) / self._drawing_name()), "PNG (*.png)"
        )
        if not path:
            return False
        return self.save_drawing(path)

    def _drawing_name(self) -> str:
        """The file name Save proposes: the document's, an example's or imported image's, or drawing.png."""
        if self.document is not None:
            return self.document.name
        return self.suggested_name or "drawing.png"

    def _result_name(self, suffix: str) -> str:
        return Path(self._drawing_name()).stem + f"-{suffix}.png"

    def export_result(self, path: str | os.PathLike) -> bool:
        r = self.current_result()
        if r is None:
            self.show_error("There is no result to export yet.")
            return False
        try:
            save_png(path, r)
        except (OSError, ValueError) as e:
            self.show_error(f"Could not export: {e}")
            return False
        self._remember_dir("results", path)
        self.statusBar().showMessage(f"Exported {path}", 5000)
        return True

    def save_pair(self, path: str | os.PathLike) -> bool:
        """The drawing and its result side by side in one PNG (pix2pix's A|B layout)."""
        r = self.current_result()
        if r is None:
            self.show_error("There is no result to save yet.")
            return False
        d = self.canvas.image_array()
        if r.ndim == 2:
            r = np.repeat(r[:, :, None], 3, axis=2)
        if r.shape != d.shape:
            self.show_error("The result is out of date; wait for the translation, then save the pair.")
            return False
        try:
            save_png(path, np.concatenate([d, r], axis=1))
        except (OSError, ValueError) as e:
            self.show_error(f"Could not save the pair: {e}")
            return False
        self._remember_dir("results", path)
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def copy_result(self) -> bool:
        r = self.current_result()
        if r is None:
            return False
        QGuiApplication.clipboard().setImage(to_qimage(r))
        self.statusBar().showMessage("Result copied", 3000)
        return True

    def _open_drawing_dialog(self) -> None:
        if not self._maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Open drawing", self._dir("drawings"), self._image_filter()
        )
        if path:
            self.open_drawing(path)

    def _import_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image as drawing", self._dir("images"), self._image_filter()
        )
        if path:
            self.import_image(path)

    def _underlay_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Tracing underlay", self._dir("images"), self._image_filter()
        )
        if path:
            self._remember_dir("images", path)
            self.set_underlay(path)

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export result",
            str(Path(self._dir("results")) / self._result_name("result")),
            "PNG (*.png)",
        )
        if path:
            self.export_result(path)

    def _pair_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save drawing + result",
            str(Path(self._dir("results")) / self._result_name("pair")),
            "PNG (*.png)",
        )
        if path:
            self.save_pair(path)

    def _open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open checkpoint", self._dir("checkpoints"), "Checkpoints (*.safetensors *.pth *.pt)"
        )
        if path:
            self._remember_dir("checkpoints", path)
            self.load_model(path)

    def _update_recent_menu(self) -> None:
        m = self.recent_menu
        m.clear()
        files = settings.recent_files()
        for p in files:
            m.addAction(Path(p).name, lambda p=p: self._maybe_save() and self.open_drawing(p)).setToolTip(p)
        m.setEnabled(bool(files))

    def random_example(self) -> Path | None:
        """Load a random example drawing for the current model (resources/examples/<task>/)."""
        folder = self._examples_dir()
        files = sorted(folder.glob("*.png")) if folder else []
        if not files:
            self.show_error("No example drawings for this model.")
            return None
        path = random.choice(files)
        if self.import_image(path, example=True):
            return path
        return None

    def _examples_dir(self) -> Path | None:
        root = paths.RESOURCES_DIR / "examples"
        e = self.model_entry
        names = [e.task] if e and e.task else []
        names += list(EXAMPLES_FOR_KIND.get(self.canvas.kind(), ()))
        for n in names:
            if (root / n).is_dir():
                return root / n
        return None

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event) -> None:
        if any(self._droppable(u.toLocalFile()) for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for u in event.mimeData().urls():
            if self._droppable(u.toLocalFile()):
                self.open_path(u.toLocalFile())
                event.acceptProposedAction()
                return

    @staticmethod
    def _droppable(path: str) -> bool:
        return bool(path) and Path(path).suffix.lower() in (*IMAGE_SUFFIXES, *models_list.CHECKPOINT_SUFFIXES)

    def open_path(self, path: str | os.PathLike) -> bool:
        """What a drop does: a checkpoint becomes the model, an image the drawing."""
        if Path(path).suffix.lower() in models_list.CHECKPOINT_SUFFIXES:
            return self.load_model(path)
        return self.import_image(path)
