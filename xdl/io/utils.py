"""``xdl.utils``: Keras's data utilities (host data, NumPy in and out, as Keras's),
``set_random_seed`` and ``plot_model`` (plot.py)."""

from __future__ import annotations

import random as _python_random

import numpy

from ..core import random
from ..core.backend import to_numpy
from ..errors import ArgumentError, ArgumentTypeError
from .plot import plot_model


def _host(x, where):
    if isinstance(x, (list, tuple, numpy.ndarray, numpy.generic, int)):
        return numpy.asarray(x)
    try:
        return to_numpy(x)
    except Exception:  # noqa: BLE001 (any backend's refusal: the argument is not an array)
        raise ArgumentTypeError(f"{where}: expected an array or a list of integers, got {type(x).__name__}") from None


def to_categorical(x, num_classes=None):
    """Keras's: class indices -> one-hot rows (float32). A trailing axis of 1 is dropped
    ((N, 1) -> (N, num_classes)); ``num_classes`` defaults to ``max(x) + 1``."""
    y = _host(x, "to_categorical")
    if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and numpy.all(numpy.floor(y) == y)):
        raise ArgumentError(f"to_categorical: class indices must be integers, got dtype {y.dtype}")
    y = y.astype("int64")
    shape = y.shape[:-1] if y.ndim > 1 and y.shape[-1] == 1 else y.shape
    y = y.reshape(-1)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, numpy.integer)) or num_classes < 1:
        raise ArgumentError(f"to_categorical: num_classes must be an int >= 1, got {num_classes!r:.80}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ArgumentError(f"to_categorical: class indices must lie in [0, {num_classes}), got {y.min()}..{y.max()}")
    out = numpy.zeros((y.size, int(num_classes)), dtype="float32")
    out[numpy.arange(y.size), y] = 1.0
    return out.reshape(tuple(shape) + (int(num_classes),))


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Keras's: a list of sequences -> one array ``(len(sequences), maxlen, ...)``; sequences
    longer than ``maxlen`` lose values at the start ("pre") or end ("post"), shorter ones are
    filled with ``value`` before ("pre") or after ("post")."""
    if padding not in ("pre", "post"):
        raise ArgumentError(f"pad_sequences: padding must be 'pre' or 'post', got {padding!r:.80}")
    if truncating not in ("pre", "post"):
        raise ArgumentError(f"pad_sequences: truncating must be 'pre' or 'post', got {truncating!r:.80}")
    if not hasattr(sequences, "__len__"):
        raise ArgumentTypeError("pad_sequences: sequences must be a list of sequences")
    lengths, sample_shape = [], None
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ArgumentTypeError(f"pad_sequences: sequences[{i}] is not a sequence: {s!r:.80}")
        lengths.append(len(s))
        if sample_shape is None and len(s):
            sample_shape = numpy.asarray(s).shape[1:]
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    if isinstance(maxlen, bool) or not isinstance(maxlen, (int, numpy.integer)) or maxlen < 0:
        raise ArgumentError(f"pad_sequences: maxlen must be an int >= 0 or None, got {maxlen!r:.80}")
    if isinstance(value, str) and numpy.dtype(dtype).kind not in "OUS":
        raise ArgumentError(f"pad_sequences: value {value!r:.40} is a string, dtype {dtype!r} is not")
    out = numpy.full((len(sequences), int(maxlen)) + tuple(sample_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or not maxlen:
            continue
        kept = numpy.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if kept.shape[1:] != tuple(sample_shape):
            raise ArgumentError(f"pad_sequences: sequences[{i}]'s steps have shape {kept.shape[1:]}, the first "
                                f"non-empty sequence's {tuple(sample_shape)}")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, -len(kept):] = kept
    return out


def set_random_seed(seed):
    """Keras's: seed Python's ``random``, NumPy's global generator and xdl's (``xdl.seed``)."""
    random.seed(seed)  # checks seed: an int >= 0
    _python_random.seed(seed)
    numpy.random.seed(seed % 2**32)


__all__ = ["to_categorical", "pad_sequences", "set_random_seed", "plot_model"]
