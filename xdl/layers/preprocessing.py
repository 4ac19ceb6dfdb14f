"""Keras's preprocessing layers that work on numbers, on the device: Rescaling, Normalization
(``adapt`` learns its mean and variance, saved as the layer's weights), CenterCrop,
CategoryEncoding and Discretization. They have no trainable weights; those that take floats
pass gradients back (a model may train through them), those that take integers do not.
"""

from __future__ import annotations

import math

from ..core.backend import convert, get_backend, to_numpy
from ..core.checks import as_int, channels_last, number, one_of, positive_int, short
from ..errors import ArgumentError, ArgumentTypeError, IndexRangeError, NotBuiltError, ShapeError, shape_str
from .base import Layer, register_layer

#: Keras's fuzz factor under a standard deviation of zero
EPSILON = 1e-7


@register_layer
class Rescaling(Layer):
    """``x * scale + offset`` (e.g. ``Rescaling(1 / 255)`` for pixels); ``scale`` and
    ``offset`` are numbers, or lists over the last axis (one per channel)."""

    supports_masking = True

    def __init__(self, scale, offset=0.0, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.scale, self.offset = _numbers("Rescaling", "scale", scale), _numbers("Rescaling", "offset", offset)

    def build(self, input_shape):
        for key, value in (("scale", self.scale), ("offset", self.offset)):
            if isinstance(value, list) and (not input_shape or input_shape[-1] != len(value)):
                raise ShapeError(f"{self.describe()}: {key} has {len(value)} values for the last axis, got inputs "
                                 f"(N, {shape_str(input_shape)[1:]}")
        super().build(input_shape)

    def _constant(self, value):
        if not isinstance(value, list):
            return value
        return self.backend.xp.asarray(value, dtype=self.dtype, device=self.backend.device)

    def apply(self, x, training=False):
        scale = self._constant(self.scale)
        return x * scale + self._constant(self.offset), lambda dy, need_dx=True: dy * scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


@register_layer
class Normalization(Layer):
    """``(x - mean) / max(sqrt(variance), 1e-7)`` per feature of ``axis`` (Keras's; ``invert``:
    ``mean + x * max(sqrt(variance), 1e-7)``). ``mean`` and ``variance`` are given, or learnt
    by ``adapt(data)`` from an array or a stream of batches (an iterable or a Sequence): the
    mean and the biased variance over every axis but ``axis`` (None: over all, one number;
    a tuple: several kept axes). They are the layer's non-trainable weights, saved with the
    model."""

    supports_masking = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.axis = _axes(axis)
        if (mean is None) != (variance is None):
            raise ArgumentError("Normalization: give both mean and variance, or neither (and call adapt)")
        self.invert = _flag("Normalization", "invert", invert)
        self._given = None if mean is None else (_array_like("mean", mean), _array_like("variance", variance))
        self.mean = self.variance = None

    def _kept(self, input_shape):
        """The per-sample axes the statistics keep (``axis`` made non-negative)."""
        ndim = len(input_shape)
        kept = []
        for a in self.axis or ():
            k = a - 1 if a > 0 else ndim + a  # Keras counts the batch axis: axis 1 is the first per-sample one
            if not 0 <= k < ndim:
                raise ShapeError(f"{self.describe()}: axis {a} is out of range for inputs (N, "
                                 f"{shape_str(input_shape)[1:]}")
            kept.append(k)
        return tuple(sorted(set(kept)))

    def _stat_shape(self, input_shape):
        kept = self._kept(input_shape)
        if any(input_shape[k] is None for k in kept):
            raise ShapeError(f"{self.describe()}: the axes it keeps need sizes, got inputs (N, "
                             f"{shape_str(input_shape)[1:]}")
        return tuple(input_shape[k] for k in kept)

    def build(self, input_shape):
        shape = self._stat_shape(input_shape)
        super().build(input_shape)
        be, xp = self.backend, self.backend.xp
        start = self._given
        if start is None:
            mean, variance = xp.zeros(shape, dtype=self.dtype), xp.ones(shape, dtype=self.dtype)
        else:
            mean, variance = (xp.reshape(xp.broadcast_to(convert(be, v, self.dtype, f"{self.describe()}: {k}"),
                                                         shape), shape) for k, v in zip(("mean", "variance"), start))
        self.mean = self.add_parameter("mean", xp.asarray(mean, copy=True), trainable=False)
        self.variance = self.add_parameter("variance", xp.asarray(variance, copy=True), trainable=False)

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the mean and variance from ``data``: an array (read ``batch_size`` rows at a time,
        default all), or a stream of batches (``steps`` of them, default all)."""
        be = self.backend or get_backend()
        xp = be.xp
        count, total, squares = 0, None, None
        for batch in _batches(self, data, batch_size, steps):
            array = convert(be, batch, None, f"{self.describe()}: adapt")
            if array.ndim < 1:
                raise ShapeError(f"{self.describe()}: adapt needs arrays with a batch axis, got a scalar")
            shape = tuple(array.shape[1:])
            kept = self._kept(shape)
            reduce = (0, *(k + 1 for k in range(len(shape)) if k not in kept))
            values = xp.astype(array, xp.float64)  # sums in float64: the result does not depend on the batching
            part, part_squares = xp.sum(values, axis=reduce), xp.sum(values * values, axis=reduce)
            total = part if total is None else total + part
            squares = part_squares if squares is None else squares + part_squares
            count += math.prod(array.shape[a] for a in reduce)
        if not count:
            raise ArgumentError(f"{self.describe()}: adapt got no data")
        mean = total / count
        variance = xp.maximum(squares / count - mean * mean, 0.0)
        if not self.built:  # Keras's: the statistics are the layer's weights once adapted
            self.build(shape)
        if tuple(mean.shape) != tuple(self.mean.shape):
            raise ShapeError(f"{self.describe()}: adapt's data gives statistics of shape {tuple(mean.shape)}, "
                             f"the layer holds {tuple(self.mean.shape)}")
        self.mean.value = xp.asarray(convert(self.backend, mean, self.dtype), copy=True)
        self.variance.value = xp.asarray(convert(self.backend, variance, self.dtype), copy=True)

    def _scale(self, xp):
        return xp.maximum(xp.sqrt(self.variance.value), EPSILON)

    def _broadcast(self, xp, value, ndim, input_shape):
        kept = self._kept(input_shape)
        shape = [1] * (ndim + 1)
        for k in kept:
            shape[k + 1] = input_shape[k]
        return xp.reshape(value, tuple(shape))

    def apply(self, x, training=False):
        xp = self.backend.xp  # before adapt (and without mean=), mean 0 and variance 1: the identity
        shape = tuple(x.shape[1:])
        mean = self._broadcast(xp, self.mean.value, x.ndim - 1, shape)
        scale = self._broadcast(xp, self._scale(xp), x.ndim - 1, shape)
        if self.invert:
            return mean + x * scale, lambda dy, need_dx=True: dy * scale
        return (x - mean) / scale, lambda dy, need_dx=True: dy / scale

    def get_config(self):
        axis = None if self.axis is None else (self.axis[0] if len(self.axis) == 1 else list(self.axis))
        return {**super().get_config(), "axis": axis, "invert": self.invert}


@register_layer
class CenterCrop(Layer):
    """The central ``height`` x ``width`` window of (N, H, W, C) images (the start at
    ``(H - height) // 2``, as Keras's); images smaller than that are refused."""

    supports_masking = False

    def __init__(self, height, width, data_format=None, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        channels_last("CenterCrop", data_format)
        self.height, self.width = positive_int("CenterCrop", "height", height), positive_int("CenterCrop", "width",
                                                                                            width)

    def check_input_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ShapeError(f"{self.describe()}: expected images (N, H, W, C), got inputs (N, "
                             f"{shape_str(input_shape)[1:]}")
        for size, want, what in ((input_shape[0], self.height, "height"), (input_shape[1], self.width, "width")):
            if size is not None and size < want:
                raise ShapeError(f"{self.describe()}: images of {what} {size} are smaller than the crop's {want}")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def output_shape(self, input_shape):
        return (self.height, self.width, input_shape[2])

    def apply(self, x, training=False):
        xp, (n, h, w, c) = self.backend.xp, tuple(x.shape)
        top, left = (h - self.height) // 2, (w - self.width) // 2
        y = x[:, top:top + self.height, left:left + self.width, :]

        def backprop(dy, need_dx=True):
            dx = xp.zeros((n, h, w, c), dtype=dy.dtype, device=dy.device)
            dx[:, top:top + self.height, left:left + self.width, :] = dy
            return dx

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


class _Encoding(Layer):
    """Shared by CategoryEncoding and Discretization: integer codes in [0, num_tokens) as
    "one_hot" (a new last axis), "multi_hot" (1 where a code occurs in the sample) or "count"."""

    input_kind = "int"
    modes = ("one_hot", "multi_hot", "count")

    def _encode(self, xp, codes, n_tokens):
        if self.output_mode == "int":
            return codes
        classes = xp.arange(n_tokens, dtype=codes.dtype, device=codes.device)
        if self.output_mode == "one_hot":  # a vector per code; a last axis of one is the code's
            if codes.ndim >= 2 and codes.shape[-1] == 1:
                codes = xp.reshape(codes, tuple(codes.shape[:-1]))
            return xp.astype(codes[..., None] == classes, self.dtype)
        flat = codes if codes.ndim >= 2 else codes[:, None]  # (N,): one code per sample
        counts = xp.sum(xp.astype(flat[..., None] == classes, self.dtype), axis=-2)
        return counts if self.output_mode == "count" else xp.astype(counts > 0, self.dtype)

    def _encoded_shape(self, input_shape, n_tokens):
        shape = tuple(input_shape)
        if self.output_mode == "int":
            return shape
        if self.output_mode == "one_hot":
            return (*(shape[:-1] if shape and shape[-1] == 1 else shape), n_tokens)
        return (*shape[:-1], n_tokens)


@register_layer
class CategoryEncoding(_Encoding):
    """Keras's: integer codes in [0, num_tokens) as "multi_hot" (default), "one_hot" or "count"
    vectors of ``num_tokens``. Codes outside the range are refused (one host read per call)."""

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.num_tokens = positive_int("CategoryEncoding", "num_tokens", num_tokens)
        self.output_mode = one_of("CategoryEncoding", "output_mode", output_mode, self.modes)
        if _flag("CategoryEncoding", "sparse", sparse):
            raise ArgumentError("CategoryEncoding: sparse=True is not supported (xdl has no sparse tensors)")

    def check_values(self, x, where):
        xp = self.backend.xp
        if x.shape[0] == 0:
            return
        low, high = (int(v) for v in to_numpy(xp.stack([xp.min(x), xp.max(x)])))
        if low < 0 or high >= self.num_tokens:
            raise IndexRangeError(f"{where}: {self.describe()} takes codes in [0, {self.num_tokens - 1}]; got "
                                  f"codes from {low} to {high}")

    def output_shape(self, input_shape):
        return self._encoded_shape(input_shape, self.num_tokens)

    def apply(self, x, training=False):
        xp = self.backend.xp
        codes = x if xp.isdtype(x.dtype, "integral") else xp.astype(x, xp.int64)
        return self._encode(xp, codes, self.num_tokens), lambda dy, need_dx=True: None

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode}


@register_layer
class Discretization(_Encoding):
    """Keras's: each value's bin, ``bin_boundaries`` sorted (bin i holds
    ``boundaries[i - 1] <= x < boundaries[i]``), or ``num_bins`` boundaries learnt by
    ``adapt(data)``: the sorted values at the quantiles' positions (exact, where Keras's
    summary is approximate within ``epsilon``; equal on Keras's documented example).
    ``output_mode`` "int" (the bin index), or "one_hot", "multi_hot", "count" over the bins.
    The boundaries are saved with the layer."""

    input_kind = "float"
    modes = ("int", "one_hot", "multi_hot", "count")

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False, *,
                 name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if (bin_boundaries is None) == (num_bins is None):
            raise ArgumentError("Discretization: give bin_boundaries or num_bins (then call adapt), one of them")
        self.bin_boundaries = None if bin_boundaries is None else _sorted_numbers(bin_boundaries)
        self.num_bins = (len(self.bin_boundaries) + 1 if num_bins is None
                         else positive_int("Discretization", "num_bins", num_bins))
        number("Discretization", "epsilon", epsilon, low_open=True)  # Keras's quantile tolerance: adapt is exact
        self.epsilon = epsilon
        self.output_mode = one_of("Discretization", "output_mode", output_mode, self.modes)
        if _flag("Discretization", "sparse", sparse):
            raise ArgumentError("Discretization: sparse=True is not supported (xdl has no sparse tensors)")

    def adapt(self, data, batch_size=None, steps=None):
        """The ``num_bins - 1`` boundaries at the data's quantiles (all values, on the host)."""
        be = get_backend()
        xp = be.xp
        parts = [xp.reshape(xp.astype(convert(be, b, None, f"{self.describe()}: adapt"), xp.float64), (-1,))
                 for b in _batches(self, data, batch_size, steps)]
        values = xp.sort(xp.concat(parts)) if parts else None
        if values is None or values.shape[0] == 0:
            raise ArgumentError(f"{self.describe()}: adapt got no data")
        n = values.shape[0]
        # the quantiles as sorted values (below each position; what Keras's documented example
        # gives), read in one transfer
        at = [math.floor(k / self.num_bins * (n - 1)) for k in range(1, self.num_bins)]
        self.bin_boundaries = [float(v) for v in to_numpy(xp.stack([values[i] for i in at]))] if at else []

    def output_shape(self, input_shape):
        return self._encoded_shape(input_shape, self.num_bins)

    def apply(self, x, training=False):
        if self.bin_boundaries is None:
            raise NotBuiltError(f"{self.describe()}: has no bin boundaries yet: call adapt(data)")
        xp = self.backend.xp
        edges = xp.asarray(self.bin_boundaries, dtype=x.dtype, device=x.device)
        codes = xp.sum(xp.astype(x[..., None] >= edges, xp.int64), axis=-1)
        return self._encode(xp, codes, self.num_bins), lambda dy, need_dx=True: None

    def get_config(self):
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries,
                **({"num_bins": None} if self.bin_boundaries is not None else {"num_bins": self.num_bins}),
                "epsilon": self.epsilon, "output_mode": self.output_mode}


def _numbers(owner, key, value):
    if isinstance(value, (list, tuple)):
        if not value:
            raise ArgumentError(f"{owner}: {key} must be a number or a non-empty list of them, got {short(value)}")
        return [number(owner, key, v, low=-math.inf) for v in value]
    return number(owner, key, value, low=-math.inf)


def _sorted_numbers(values):
    if not isinstance(values, (list, tuple)):
        raise ArgumentTypeError(f"Discretization: bin_boundaries must be a list of numbers, got {short(values)}")
    out = [number("Discretization", "bin_boundaries", v, low=-math.inf) for v in values]
    if out != sorted(out):
        raise ArgumentError(f"Discretization: bin_boundaries must be sorted, got {short(values)}")
    return out


def _flag(owner, key, value):
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{owner}: {key} must be True or False, got {short(value)}")
    return value


def _axes(axis):
    if axis is None:
        return None
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not axes or any(as_int(a) is None or as_int(a) == 0 for a in axes):
        raise ArgumentError(f"Normalization: axis must be None, a nonzero int or a tuple of them (0 is the batch "
                            f"axis), got {short(axis)}")
    return tuple(as_int(a) for a in axes)


def _array_like(key, value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)) or hasattr(value, "shape"):
        return value
    raise ArgumentTypeError(f"Normalization: {key} must be a number or an array, got {short(value)}")


def _batches(layer, data, batch_size, steps):
    """What ``adapt`` reads: an array's rows, ``batch_size`` at a time (default all), or a
    stream's batches, ``steps`` of them (default all): a Sequence or any iterable; of a tuple
    batch, its first element (adapt takes inputs only)."""
    batch_size = positive_int(f"{layer.describe()}: adapt", "batch_size", batch_size, optional=True)
    steps = positive_int(f"{layer.describe()}: adapt", "steps", steps, optional=True)
    first = lambda b: b[0] if isinstance(b, tuple) else b  # noqa: E731
    if hasattr(data, "shape") or isinstance(data, list):
        array = convert(get_backend(), data, None, f"{layer.describe()}: adapt")
        n = array.shape[0] if array.ndim else 1
        size = batch_size or max(n, 1)
        for start in range(0, n, size):
            yield array[start:start + size, ...]
        return
    if hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        data = (data[i] for i in range(len(data)))
    elif not hasattr(data, "__iter__"):
        raise ArgumentTypeError(f"{layer.describe()}: adapt takes an array or a stream of batches, got "
                                f"{type(data).__name__}")
    for k, batch in enumerate(data):
        if steps is not None and k >= steps:
            return
        yield first(batch)


@register_layer
class IntegerLookup(_Encoding):
    """Keras's: integer tokens to indices of a vocabulary (given, or learnt by ``adapt``: the
    distinct tokens by count, most frequent first, ties by the larger token first, as Keras's
    documented example orders them), on the device with one
    sorted search. Indices: ``mask_token`` (when given) is 0, then ``num_oov_indices`` (0 or 1)
    for tokens outside the vocabulary, then the vocabulary in order; ``invert=True`` maps
    indices back to tokens (an out-of-vocabulary index to ``oov_token``). ``output_mode`` "int",
    or "one_hot", "multi_hot", "count" over the indices. The vocabulary is saved with the
    layer; with ``num_oov_indices=0`` a token outside it is refused (one host read per call)."""

    input_kind = "int"
    modes = ("int", "one_hot", "multi_hot", "count")

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        owner = "IntegerLookup"
        self.max_tokens = positive_int(owner, "max_tokens", max_tokens, optional=True)
        self.num_oov_indices = as_int(num_oov_indices)
        if self.num_oov_indices not in (0, 1):
            raise ArgumentError(f"{owner}: num_oov_indices must be 0 or 1 (several hashed out-of-vocabulary indices "
                                f"are not supported), got {short(num_oov_indices)}")
        self.mask_token = None if mask_token is None else _token(owner, "mask_token", mask_token)
        self.oov_token = _token(owner, "oov_token", oov_token)
        one_of(owner, "vocabulary_dtype", vocabulary_dtype, ("int64", "int32"))
        self.invert = _flag(owner, "invert", invert)
        self.output_mode = one_of(owner, "output_mode", output_mode, self.modes)
        if self.invert and self.output_mode != "int":
            raise ArgumentError(f"{owner}: invert=True gives tokens: output_mode must be 'int'")
        for key, value in (("sparse", sparse), ("pad_to_max_tokens", pad_to_max_tokens)):
            if _flag(owner, key, value):
                raise ArgumentError(f"{owner}: {key}=True is not supported")
        if idf_weights is not None:
            raise ArgumentError(f"{owner}: idf_weights (output_mode 'tf_idf') is not supported")
        self.vocabulary = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    @property
    def _offset(self):
        return (self.mask_token is not None) + self.num_oov_indices

    def set_vocabulary(self, vocabulary):
        """Keras's: the tokens, in index order (distinct, neither the mask nor the OOV token)."""
        if not isinstance(vocabulary, (list, tuple)) and getattr(vocabulary, "ndim", 0) != 1:
            raise ArgumentTypeError(f"IntegerLookup: vocabulary must be a list of integer tokens, got "
                                    f"{short(vocabulary)}")
        tokens = list(vocabulary.tolist() if hasattr(vocabulary, "tolist") else vocabulary)
        tokens = [_token("IntegerLookup", "vocabulary", t) for t in tokens]
        if len(set(tokens)) != len(tokens) or self.mask_token in tokens:
            raise ArgumentError("IntegerLookup: the vocabulary must hold distinct tokens, without the mask token")
        if self.max_tokens is not None and len(tokens) + self._offset > self.max_tokens:
            raise ArgumentError(f"IntegerLookup: {len(tokens)} tokens and {self._offset} reserved indices exceed "
                                f"max_tokens={self.max_tokens}")
        self.vocabulary = tokens
        self._tables = {}

    def get_vocabulary(self):
        """Keras's: every index's token, the reserved ones first."""
        return ([self.mask_token] if self.mask_token is not None else []) + [self.oov_token] * self.num_oov_indices \
            + list(self.vocabulary or [])

    def vocabulary_size(self):
        return len(self.get_vocabulary())

    def adapt(self, data, batch_size=None, steps=None):
        """The distinct tokens of ``data`` by count, most frequent first (ties: the larger first), at most
        ``max_tokens`` minus the reserved indices; the mask token is left out."""
        be = get_backend()
        xp = be.xp
        parts = [xp.reshape(xp.astype(convert(be, b, None, f"{self.describe()}: adapt"), xp.int64), (-1,))
                 for b in _batches(self, data, batch_size, steps)]
        if not parts:
            raise ArgumentError(f"{self.describe()}: adapt got no data")
        found = xp.unique_counts(xp.concat(parts))
        values, counts = (to_numpy(a).tolist() for a in (found.values, found.counts))  # one read each
        ranked = sorted((t for t in zip(values, counts) if t[0] != self.mask_token), key=lambda t: (-t[1], -t[0]))
        room = None if self.max_tokens is None else max(self.max_tokens - self._offset, 0)
        self.set_vocabulary([int(v) for v, _ in ranked[:room]])

    def _table(self, dtype, device):
        """(sorted tokens, their indices) on the device, made once per dtype."""
        key = (str(dtype), str(device))
        if key not in self._tables:
            xp = self.backend.xp
            order = sorted(range(len(self.vocabulary)), key=self.vocabulary.__getitem__)
            self._tables[key] = (xp.asarray([self.vocabulary[k] for k in order], dtype=dtype, device=device),
                                 xp.asarray([k + self._offset for k in order], dtype=xp.int64, device=device))
        return self._tables[key]

    def check_values(self, x, where):
        if self.vocabulary is None:
            raise NotBuiltError(f"{where}: {self.describe()} has no vocabulary: give vocabulary= or call adapt")
        if self.num_oov_indices or self.invert or x.shape[0] == 0:
            return
        xp = self.backend.xp
        known = self._lookup(xp, x)[1]
        if self.mask_token is not None:
            known = known | (x == self.mask_token)
        if not bool(to_numpy(xp.all(known))):
            raise IndexRangeError(f"{where}: {self.describe()} got tokens outside its vocabulary, and has "
                                  "num_oov_indices=0")

    def _lookup(self, xp, x):
        """``(indices, found)``: each token's index (the OOV index where it is not in the
        vocabulary) and whether it is in the vocabulary."""
        oov = 1 if self.mask_token is not None and self.num_oov_indices else 0
        if not self.vocabulary:
            return (xp.full(x.shape, oov, dtype=xp.int64, device=x.device),
                    xp.zeros(x.shape, dtype=xp.bool, device=x.device))
        keys, positions = self._table(x.dtype, x.device)
        at = xp.clip(xp.searchsorted(keys, xp.reshape(x, (-1,))), 0, keys.shape[0] - 1)
        hit = xp.reshape(xp.take(keys, at), x.shape) == x
        out = xp.where(hit, xp.reshape(xp.take(positions, at), x.shape), oov)
        return (out if self.mask_token is None else xp.where(x == self.mask_token, 0, out)), hit

    def _invert(self, xp, x):
        tokens = xp.asarray(self.get_vocabulary(), dtype=xp.int64, device=x.device)
        inside = (x >= self._offset) & (x < tokens.shape[0])
        read = xp.reshape(xp.take(tokens, xp.reshape(xp.clip(x, 0, tokens.shape[0] - 1), (-1,))), x.shape)
        reserved = x < self._offset  # the mask index gives the mask token back, an OOV index the OOV token
        mask_back = (x == 0) if self.mask_token is not None else xp.zeros(x.shape, dtype=xp.bool, device=x.device)
        return xp.where(inside, read, xp.where(mask_back & reserved, read, self.oov_token))

    def output_shape(self, input_shape):
        return self._encoded_shape(input_shape, self.vocabulary_size())

    def apply(self, x, training=False):
        if self.vocabulary is None:
            raise NotBuiltError(f"{self.describe()}: has no vocabulary: give vocabulary= or call adapt")
        xp = self.backend.xp
        x = x if xp.isdtype(x.dtype, "integral") else xp.astype(x, xp.int64)
        if self.invert:
            return self._invert(xp, x), lambda dy, need_dx=True: None
        return self._encode(xp, self._lookup(xp, x)[0], self.vocabulary_size()), lambda dy, need_dx=True: None

    def get_config(self):
        return {**super().get_config(), "max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
                "mask_token": self.mask_token, "oov_token": self.oov_token, "vocabulary": self.vocabulary,
                "invert": self.invert, "output_mode": self.output_mode}


def _token(owner, key, value):
    token = as_int(value)
    if token is None:
        raise ArgumentTypeError(f"{owner}: {key} must hold integers, got {short(value)}")
    return token
