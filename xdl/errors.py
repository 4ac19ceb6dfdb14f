"""The errors xdl raises: each says what came, what was expected, and what to do.

Every error xdl raises on purpose is an ``XdlError`` and also the built-in kind a Python user
expects (``ValueError``, ``TypeError``, ``KeyError``, ``OSError``...), so both ``except
xdl.XdlError`` and a Keras user's ``except ValueError`` catch it (tests/test_errors.py).
"""


class XdlError(Exception):
    """Base of every error xdl raises on purpose."""

    __str__ = Exception.__str__  # KeyError's would quote the whole message


class ArgumentError(XdlError, ValueError):
    """An argument's value is not one the function takes (``batch_size=0``, an unknown name)."""


class ArgumentTypeError(XdlError, TypeError, ValueError):
    """An argument of a type the function cannot take (``callbacks=object()``). Also a
    ``ValueError``: Keras refuses most bad arguments with one, and its users catch that."""


class BackendError(XdlError, RuntimeError):
    """A backend was asked for that cannot run here, or arrays from different backends met."""


class ShapeError(XdlError, ValueError):
    """An array's shape does not fit the layer, loss or data it was given to."""


class NotBuiltError(XdlError, RuntimeError):
    """A model or layer was used before its shapes were known."""


class NotBuiltAttributeError(NotBuiltError, AttributeError):
    """An attribute that exists once the layer is built (so ``hasattr`` answers False before)."""


class IndexRangeError(XdlError, IndexError):
    """Indices out of range for the table they index (Embedding's vocabulary)."""


class InputError(XdlError, TypeError):
    """Data of a kind xdl cannot take as it is (a masked array, a tensor without data)."""


class NotFoundError(XdlError, KeyError):
    """A name that is not there: a layer, a logged figure, a weight file's key."""


class ModelFileError(XdlError, ValueError):
    """A model file is not a valid xdl model."""


class MissingMethodError(XdlError, NotImplementedError):
    """A subclass left out a method it must define."""


class DependencyError(XdlError, ImportError):
    """An optional package a feature needs is not installed."""


class ExportError(XdlError, ValueError):
    """A model holds a layer (or an op) that has no form in the format it is exported to."""


def missing_method(obj, signature: str) -> MissingMethodError:
    """The error for a subclass of xdl's ``Layer``, ``Loss``, ``Metric``... without ``signature``."""
    return MissingMethodError(f"{type(obj).__name__} must define {signature}")


def shape_str(shape, batch="N") -> str:
    """(32, 10) -> "(32, 10)"; per-sample (10,) -> "(N, 10)"."""
    dims = [str(d) for d in shape]
    if batch is not None:
        dims.insert(0, batch)
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
