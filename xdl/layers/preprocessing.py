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

    def _encode(self, xp, codes, n_tokens, mode=None):
        mode = mode or self.output_mode
        if mode == "int":
            return codes
        classes = xp.arange(n_tokens, dtype=codes.dtype, device=codes.device)
        if mode == "one_hot":  # a vector per code; a last axis of one is the code's
            if codes.ndim >= 2 and codes.shape[-1] == 1:
                codes = xp.reshape(codes, tuple(codes.shape[:-1]))
            return xp.astype(codes[..., None] == classes, self.dtype)
        flat = codes if codes.ndim >= 2 else codes[:, None]  # (N,): one code per sample
        counts = xp.sum(xp.astype(flat[..., None] == classes, self.dtype), axis=-2)
        return counts if mode == "count" else xp.astype(counts > 0, self.dtype)

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


def _batches(layer, data, batch_size, steps, read=None):
    """What ``adapt`` reads: an array's rows, ``batch_size`` at a time (default all), or a
    stream's batches, ``steps`` of them (default all): a Sequence or any iterable; of a tuple
    batch, its first element (adapt takes inputs only). ``read``: makes an array of the data
    (default: on the active backend)."""
    batch_size = positive_int(f"{layer.describe()}: adapt", "batch_size", batch_size, optional=True)
    steps = positive_int(f"{layer.describe()}: adapt", "steps", steps, optional=True)
    first = lambda b: b[0] if isinstance(b, tuple) else b  # noqa: E731
    if hasattr(data, "shape") or isinstance(data, list):
        array = read(data) if read else convert(get_backend(), data, None, f"{layer.describe()}: adapt")
        n = array.shape[0] if array.ndim else 1
        size = batch_size or max(n, 1)
        for start in range(0, n, size):
            yield array[start:start + size, ...]
        return
    if hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        data = (sequence[i] for sequence in [data] for i in range(len(sequence)))  # bound now, not when read
    elif not hasattr(data, "__iter__"):
        raise ArgumentTypeError(f"{layer.describe()}: adapt takes an array or a stream of batches, got "
                                f"{type(data).__name__}")
    for k, batch in enumerate(data):
        if steps is not None and k >= steps:
            return
        yield first(batch)
