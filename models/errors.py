"""Errors a user can cause (a bad file, a wrong folder): each carries a one-line message for them."""


class SketchpadError(Exception):
    """Base of every user-facing error; `str(e)` is one line that says what is wrong and with what."""


class CheckpointError(SketchpadError):
    """A checkpoint that cannot be used."""


class ImageError(SketchpadError):
    """An image that cannot be read or is refused."""


class DataError(SketchpadError):
    """A dataset folder that cannot be used as asked."""
