"""The errors xdl raises: each says what came, what was expected, and what to do."""


class XdlError(Exception):
    """Base of every error xdl raises on purpose."""


class BackendError(XdlError, RuntimeError):
    """A backend was asked for that cannot run here, or arrays from different backends met."""


class ShapeError(XdlError, ValueError):
    """An array's shape does not fit the layer, loss or data it was given to."""


class NotBuiltError(XdlError, RuntimeError):
    """A model or layer was used before its shapes were known."""


class IndexRangeError(XdlError, IndexError):
    """Indices out of range for the table they index (Embedding's vocabulary)."""


class InputError(XdlError, TypeError):
    """Data of a kind xdl cannot take as it is (a masked array, a tensor without data)."""


class ModelFileError(XdlError, ValueError):
    """A model file is not a valid xdl model."""


def shape_str(shape, batch="N") -> str:
    """(32, 10) -> "(32, 10)"; per-sample (10,) -> "(N, 10)"."""
    dims = [str(d) for d in shape]
    if batch is not None:
        dims.insert(0, batch)
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
