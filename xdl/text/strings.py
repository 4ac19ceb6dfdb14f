"""Text data (this package is host code: it computes with NumPy, as xdl/io/ does for files).

Strings stay on the host, as NumPy arrays of ``str``, until a layer that reads
them (TextVectorization, StringLookup, Hashing) turns them into numbers for the device.

``STRING`` is the dtype name for such inputs (``xdl.Input(dtype="string")``): ``convert``
given it returns host strings instead of a device array, so the paths that carry inputs to a
model (fit, evaluate, predict, streams, a direct call) need no branch of their own. Slicing a
host array works as slicing a device one; the few places that gather rows by a device index
(a shuffled epoch) use ``take_rows``.
"""

from __future__ import annotations

import numpy

from ..errors import ArgumentTypeError

STRING = "string"
#: the namespace host text is computed with (sorted lookups of strings, their counts)
HOST_XP = numpy


def is_string_dtype(dtype) -> bool:
    """Whether ``dtype`` (a backend's dtype, a name, or None) is ``STRING``; other libraries'
    dtypes are not compared with a str (some refuse to be)."""
    return isinstance(dtype, str) and dtype == STRING


def is_host_strings(x) -> bool:
    """Whether ``x`` is text on the host (a NumPy array of str, bytes or Python objects)."""
    return isinstance(x, numpy.ndarray) and x.dtype.kind in "USO"


def is_text(x) -> bool:
    """Whether ``x`` holds strings: a str, host strings, or a (nested) list whose first
    element is a string."""
    first = x
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    return isinstance(first, (str, bytes)) or is_host_strings(x)


def host_strings(x, where) -> numpy.ndarray:
    """``x`` (a str, a nested list of them, a NumPy array of str, bytes or objects holding
    str) as a NumPy array of ``str``; bytes are read as UTF-8. Anything else is refused,
    naming ``where`` the data was going."""
    if isinstance(x, (str, bytes)):
        x = [x]
    try:
        array = numpy.asarray(x) if not isinstance(x, numpy.ndarray) else x
    except (TypeError, ValueError) as e:
        raise ArgumentTypeError(f"{where}: expected strings (a list or a NumPy array of str), got "
                                f"{type(x).__name__}: {e}") from None
    if array.dtype.kind == "U":
        return array
    if array.size == 0:  # [] reads as floats
        return numpy.zeros(array.shape, dtype="<U1")
    try:
        return _as_str(array, where)
    except UnicodeDecodeError as e:
        raise ArgumentTypeError(f"{where}: bytes that are not UTF-8 text ({e})") from None


def _as_str(array, where):
    if array.dtype.kind == "S":
        return numpy.char.decode(array, "utf-8")
    if array.dtype.kind == "O":
        flat = array.reshape(-1)
        if all(isinstance(v, str) for v in flat):
            return array.astype(str)
        if all(isinstance(v, (str, bytes)) for v in flat):
            return numpy.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in flat],
                               dtype=str).reshape(array.shape)
        bad = next(v for v in flat if not isinstance(v, (str, bytes)))
        raise ArgumentTypeError(f"{where}: expected strings, got an element of type {type(bad).__name__} "
                                f"({bad!r:.40})")
    raise ArgumentTypeError(f"{where}: expected strings (a list or a NumPy array of str), got an array of "
                            f"dtype {array.dtype}")


def one_string_a_sample(text, sample_shape):
    """Strings (N,) for an input of per-sample shape (1,), or (N, 1) for shape (), reshaped
    to it, as Keras takes either for one string a sample; other shapes as they are."""
    if tuple(sample_shape) == (1,) and text.ndim == 1:
        return text[:, None]
    if tuple(sample_shape) == () and text.ndim == 2 and text.shape[1] == 1:
        return text[:, 0]
    return text


def take_rows(be, a, order):
    """Rows ``order`` (a device index array) of ``a``: a device array, or host strings."""
    if is_host_strings(a):
        return a[be.to_numpy(order)]
    return be.xp.take(a, order, axis=0)
