"""`sketchpad app`: open the drawing window (also what `sketchpad` with no arguments does).

`sketchpad app --open FILE --screenshot OUT.png` is scriptable: it loads the drawing, waits for its
full-quality translation, saves a picture of the whole window and exits (offscreen works). A screenshot
run starts as a first launch does and never reads or writes the user's settings or recent files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from models.errors import CheckpointError, ImageError
from models.imageio import open_image

from . import UsageError

SCREENSHOT_TIMEOUT_S = 120
SCREENSHOT_SCREEN = (1366, 768 - 40)  # a 1366x768 laptop screen less a panel: what screenshots show


def add_parser(sub):
    p = sub.add_parser("app", help="open the drawing app (the default command)")
    p.add_argument("--open", metavar="FILE", help="a drawing (image file) to open")
    p.add_argument("--model", metavar="NAME_OR_PATH", help="a shipped model name ('facades') or a checkpoint")
    p.add_argument("--device", default=None, help="auto, cpu, cuda or mps (default: the last one used)")
    p.add_argument(
        "--backend",
        choices=["auto", "torch", "onnx"],
        default=None,
        help="inference runner: auto (ONNX Runtime on the CPU, CUDA graphs on a GPU, where they fit), torch, onnx",
    )
    p.add_argument("--screenshot", metavar="OUT.png", help="save a screenshot once translated, then exit")
    p.add_argument(
        "--restore", action="store_true", help="restore a crashed session's drawing without asking"
    )
    p.add_argument(
        "--size",
        default=None,
        help="window size WxH (default: fits the screen; a screenshot: the default on a 1366x768 screen)",
    )
    p.add_argument("--training-panel", action="store_true", help="open with the training panel shown")
    p.add_argument("--theme", choices=["system", "dark", "light"], default="system")
    return p


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 1100x650") from None
    if not (200 <= w <= 10000 and 200 <= h <= 10000):
        raise UsageError(f"--size {text!r}: out of range")
    return w, h


def run(args) -> int:
    size = _size(args.size) if args.size else None
    if args.open:  # fail before any window opens: one line, exit 2
        open_image(args.open)
    if args.model:
        from sketchpad import models_list

        models_list.resolve(args.model, models_list.discover())  # an unknown name: one line, exit 2
    if args.screenshot and Path(args.screenshot).suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"{args.screenshot}: a screenshot is a .png or .jpg file")
    if args.screenshot:
        os.environ.setdefault("SKETCHPAD_NO_PROMPTS", "1")  # a script never waits on a dialog
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    )
    if headless:
        if not args.screenshot:  # Qt would abort with a page about platform plugins
            raise UsageError(
                "no display found (DISPLAY is unset); run it on a desktop, or add --screenshot OUT.png"
            )
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot needs no screen
    _check_system_libraries()

    try:
        from PySide6.QtCore import QEventLoop, QTimer

        from sketchpad.app import install_excepthook, make_app
    except ImportError as e:
        from sketchpad.system_libs import import_problem

        raise UsageError(import_problem(e) or f"Qt cannot start: {e}") from None
    from sketchpad import settings
    from sketchpad.window import MainWindow, default_window_size

    if args.screenshot:
        settings.use_scratch()  # the user's saved model, folders and recent files stay as they are
    app = make_app(theme=args.theme)
    restore = "yes" if args.restore else ("no" if args.screenshot else "ask")
    win = MainWindow(args.model, device=args.device, backend=args.backend, restore=restore)
    install_excepthook(win.show_error)
    if args.model and win.errors:  # the file exists but does not load: the window says why
        if args.screenshot:
            win.shutdown(clean=True)
            raise CheckpointError(win.errors[-1])
        print(f"sketchpad: {win.errors[-1]}", file=sys.stderr)
    if size is None and app.platformName() == "offscreen":  # no real screen: the common laptop's
        size = default_window_size(SCREENSHOT_SCREEN)
    if size is not None:
        win.resize(*size)
    if args.open and not win.open_drawing(args.open):
        raise ImageError(win.errors[-1] if win.errors else f"{args.open}: cannot open")
    win.show()
    if args.training_panel:
        win.show_training_panel()
    if not args.screenshot:
        _handle_signals(app, win)
        return app.exec()

    def full_shown() -> bool:
        info = win.live.last_info
        return bool(info) and info["tier"] == "full" and not win.live.busy() and win.live.pending_count() == 0

    loop = QEventLoop()
    win.translation_shown.connect(lambda _info: full_shown() and loop.quit())
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(SCREENSHOT_TIMEOUT_S * 1000)
    if not full_shown():
        loop.exec()
    ok = full_shown()
    app.processEvents()
    out = Path(args.screenshot)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = win.grab().save(str(out))
    win.shutdown(clean=True)
    win.close()
    if not ok:
        print("sketchpad: error: the translation did not finish in time", file=sys.stderr)
        return 1
    if not saved:
        print(f"sketchpad: error: could not write {out}", file=sys.stderr)
        return 1
    print(out)
    return 0


def _check_system_libraries() -> None:
    """Qt aborts with a page when its X11 plugin lacks a system library: say which, in one line."""
    from sketchpad.system_libs import xcb_problem

    problem = xcb_problem()
    if problem:
        raise UsageError(problem)


def _handle_signals(app, win) -> None:
    """Ctrl+C closes the window as the Quit menu does; SIGTERM (logout, kill) autosaves the drawing and
    quits, leaving the autosave for the next start to offer."""
    import signal

    from PySide6.QtCore import QTimer

    def on_term(*_):
        if win.canvas.is_modified():
            win.autosaver.save_now()
        win.shutdown(clean=False)
        app.quit()

    signal.signal(signal.SIGINT, lambda *_: win.close())
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, on_term)
    # Python runs signal handlers only between bytecodes: a timer wakes the interpreter now and then.
    timer = QTimer(win)
    timer.timeout.connect(lambda: None)
    timer.start(250)
