"""Bringing back the drawing a crashed session left: what the autosave notes say about the drawing, the
offer at startup (a line in the window with Restore and Discard), restoring and discarding. The files
themselves are sketchpad.autosave's."""

from __future__ import annotations

from pathlib import Path

from models.errors import ImageError
from sketchpad.autosave import AutosaveStore, Recovered
from sketchpad.widgets.canvas import KINDS


class Recovery:
    """Autosave recovery for a MainWindow `w` (its canvas, message bar, model and document)."""

    def __init__(self, w):
        self.w = w
        self.recovered: Recovered | None = None  # the drawing on offer, until restored or discarded

    def meta(self) -> dict:
        """The notes saved with each autosave: what a restore needs besides the pixels."""
        w = self.w
        return {
            "model": w.model_entry.id if w.model_entry else None,
            "kind": w.canvas.kind(),
            "document": str(w.document) if w.document else None,
        }

    def offer(self, mode: str) -> None:
        """Look for a crashed session's drawing: "ask" offers it in the window, "yes" restores it, "no"
        leaves it (still listed in `recovered`)."""
        try:
            found = self.w.autosaver.store.orphans()
        except OSError:  # an unreadable autosave folder: nothing to offer, the app starts
            found = []
        self.recovered = found[0] if found else None
        if self.recovered is None or mode == "no":
            return
        if mode == "yes":
            self.restore()
            return
        self.w.message_bar.show_message(
            f"Sketchpad did not close properly last time. Restore {self.recovered.describe()}?",
            actions=[("Restore", self.restore), ("Discard", self.discard)],
        )

    def restore(self) -> bool:
        """Load the drawing a crashed session left (as an unsaved change) and remove its file. Its model
        comes back first when it still exists (read off the UI thread: the drawing follows once that
        load has ended, loaded or not)."""
        w, rec = self.w, self.recovered
        if rec is None:
            return False
        try:
            image = rec.image()
        except (ImageError, OSError, ValueError) as e:
            w.show_error(f"Could not restore the autosave: {e}")
            return False
        self.recovered = None
        w.message_bar.hide()
        model = rec.meta.get("model")
        if isinstance(model, str) and model and (w.model_entry is None or model != w.model_entry.id):
            if w.load_model(model):  # best effort: a message if it is gone, the drawing comes back anyway
                self._after_load(lambda: self._put_back(rec, image))
                return True
        self._put_back(rec, image)
        return True

    def _after_load(self, then) -> None:
        """Run `then` once, when the model loading now has ended (loaded or failed)."""
        loader = self.w.model_loader

        def once(*_):
            loader.loaded.disconnect(once)
            loader.failed.disconnect(once)
            then()

        loader.loaded.connect(once)
        loader.failed.connect(once)

    def _put_back(self, rec: Recovered, image) -> None:
        w = self.w
        kind = rec.meta.get("kind")
        if kind in KINDS and kind != w.canvas.kind():  # its model is gone: keep the drawing's own kind
            w._apply_kind(kind, w.canvas.label_palette() or None)
        w.canvas.set_image_array(image, undoable=True)
        w.canvas.fit_to_window()
        doc = rec.meta.get("document")
        w._set_origin(Path(doc) if isinstance(doc, str) and doc and "\x00" not in doc else None)
        AutosaveStore.discard(rec)
        w._update_title()
        w.statusBar().showMessage("Drawing restored from the autosave", 5000)

    def discard(self) -> None:
        if self.recovered is not None:
            AutosaveStore.discard(self.recovered)
            self.recovered = None
        self.w.message_bar.hide()
