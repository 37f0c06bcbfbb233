"""Qt widgets of the drawing app: the canvas and the palette bar."""

from sketchpad.widgets.canvas import TOOL_SHORTCUTS, TOOLS, Canvas
from sketchpad.widgets.palette_bar import PaletteBar

__all__ = ["TOOLS", "TOOL_SHORTCUTS", "Canvas", "PaletteBar"]
