"""Keras's image preprocessing layers on (N, H, W, C) images, on the device: Resizing, and the
random augmentations RandomFlip and RandomContrast (active in training only, drawn from the
layer's seeded generator, so a run repeats). Each passes gradients back.

Resizing is two products with interpolation matrices, (H_out, H) along the rows and
(W_out, W) along the columns: bilinear or nearest with half-pixel centers, as Keras's (and
TensorFlow's ``resize`` without antialiasing, PyTorch's ``interpolate(align_corners=False)``).
"""

from __future__ import annotations

import math

from ..core.checks import boolean, channels_last, number, one_of, positive_int, short
from ..errors import ArgumentError, ShapeError, shape_str
from .base import Layer, register_layer
from .dropout import Seeded


def _images(layer, input_shape):
    if len(input_shape) != 3:
        raise ShapeError(f"{layer.describe()}: expected images (N, H, W, C), got per-sample shape "
                         f"{shape_str(input_shape)}")


def interpolation(size_in, size_out, method):
    """The (size_out, size_in) matrix taking a row of ``size_in`` pixels to ``size_out``, as
    nested lists (made once per size, on the host)."""
    rows = [[0.0] * size_in for _ in range(size_out)]
    scale = size_in / size_out
    for i in range(size_out):
        if method == "nearest":
            rows[i][min(math.floor((i + 0.5) * scale), size_in - 1)] = 1.0
            continue
        source = min(max((i + 0.5) * scale - 0.5, 0.0), size_in - 1)
        low = math.floor(source)
        high, w = min(low + 1, size_in - 1), source - low
        rows[i][low] += 1.0 - w
        rows[i][high] += w
    return rows


@register_layer
class Resizing(Layer):
    """Images resized to ``height`` x ``width`` ("bilinear" or "nearest").
    ``crop_to_aspect_ratio=True`` first crops the largest central window of the target's
    aspect ratio, as Keras's."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, *,
                 name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.height, self.width = positive_int("Resizing", "height", height), positive_int("Resizing", "width", width)
        self.interpolation = one_of("Resizing", "interpolation", interpolation, ("bilinear", "nearest"))
        self.crop_to_aspect_ratio = boolean("Resizing", "crop_to_aspect_ratio", crop_to_aspect_ratio)
        for key, value in (("pad_to_aspect_ratio", pad_to_aspect_ratio), ("antialias", antialias)):
            if boolean("Resizing", key, value):
                raise ArgumentError(f"Resizing: {key}=True is not supported")
        one_of("Resizing", "fill_mode", fill_mode, ("constant",))
        number("Resizing", "fill_value", fill_value, low=-math.inf)
        channels_last("Resizing", data_format)
        self._matrices = {}  # (in size, out size) -> interpolation matrix on the device

    def check_input_shape(self, input_shape):
        _images(self, input_shape)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def output_shape(self, input_shape):
        return (self.height, self.width, input_shape[2])

    def _matrix(self, size_in, size_out):
        key = (size_in, size_out)
        if key not in self._matrices:
            be = self.backend
            self._matrices[key] = be.xp.asarray(interpolation(size_in, size_out, self.interpolation),
                                                dtype=self.dtype, device=be.device)
        return self._matrices[key]

    def _crop(self, h, w):
        """The central window (top, left, height, width) of the target's aspect ratio."""
        if not self.crop_to_aspect_ratio:
            return 0, 0, h, w
        target = self.width / self.height
        ch, cw = (h, max(1, round(h * target))) if w / h > target else (max(1, round(w / target)), w)
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def apply(self, x, training=False):
        xp, (n, h, w, c) = self.backend.xp, tuple(x.shape)
        top, left, ch, cw = self._crop(h, w)
        window = x[:, top:top + ch, left:left + cw, :] if (ch, cw) != (h, w) else x
        rows, cols = self._matrix(ch, self.height), self._matrix(cw, self.width)
        # (Ho, ch) @ (N, ch, cw * C): rows; then the columns with the channels moved before them
        y = xp.reshape(xp.matmul(rows, xp.reshape(window, (n, ch, cw * c))), (n, self.height, cw, c))
        y = xp.permute_dims(xp.matmul(xp.permute_dims(y, (0, 1, 3, 2)), xp.matrix_transpose(cols)), (0, 1, 3, 2))

        def backprop(dy, need_dx=True):
            g = xp.permute_dims(xp.matmul(xp.permute_dims(dy, (0, 1, 3, 2)), cols), (0, 1, 3, 2))  # (N, Ho, cw, C)
            g = xp.reshape(xp.matmul(xp.matrix_transpose(rows), xp.reshape(g, (n, self.height, cw * c))),
                           (n, ch, cw, c))
            if (ch, cw) == (h, w):
                return g
            dx = xp.zeros((n, h, w, c), dtype=g.dtype, device=g.device)
            dx[:, top:top + ch, left:left + cw, :] = g
            return dx

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio}


class RandomImage(Seeded):
    """Base of the random augmentations: the identity in inference; in training ``augment(x)``
    gives ``(y, backprop)`` from the layer's draws."""

    def check_input_shape(self, input_shape):
        _images(self, input_shape)

    def apply(self, x, training=False):
        if not training:
            return x, lambda dy, need_dx=True: dy
        return self.augment(x)


@register_layer
class RandomFlip(RandomImage):
    """In training, each image flipped left-right ("horizontal"), top-bottom ("vertical") or
    either ("horizontal_and_vertical", Keras's default, each with probability 1/2); the
    identity in inference."""

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, *, name=None, dtype=None,
                 **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.mode = one_of("RandomFlip", "mode", mode, self.MODES)
        channels_last("RandomFlip", data_format)
        self._seeded(seed)

    def augment(self, x):
        xp = self.backend.xp
        axes = [a for a, key in ((2, "horizontal"), (1, "vertical")) if key in self.mode]
        flips = [self._uniform((x.shape[0], 1, 1, 1), x.dtype) < 0.5 for _ in axes]

        def flip(v):
            for axis, chosen in zip(axes, flips):
                v = xp.where(chosen, xp.flip(v, axis=axis), v)
            return v

        def backprop(dy, need_dx=True):
            for axis, chosen in reversed(list(zip(axes, flips))):
                dy = xp.where(chosen, xp.flip(dy, axis=axis), dy)
            return dy

        return flip(x), backprop

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "seed": self.seed}


@register_layer
class RandomContrast(RandomImage):
    """In training, each image's contrast scaled by a factor drawn in ``[1 - lower, 1 + upper]``
    (``factor`` a number for both, or a pair): ``(x - mean) * f + mean``, the mean per image and
    channel, then clipped to ``value_range`` (Keras's default (0, 255)); the identity in
    inference."""

    def __init__(self, factor, value_range=(0, 255), seed=None, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        pair = tuple(factor) if isinstance(factor, (list, tuple)) else (factor, factor)
        if len(pair) != 2:
            raise ArgumentError(f"RandomContrast: factor must be a number or a pair of them, got {short(factor)}")
        self.lower = number("RandomContrast", "factor", pair[0], 0.0, 1.0)
        self.upper = number("RandomContrast", "factor", pair[1], 0.0)
        self.factor = factor if not isinstance(factor, (list, tuple)) else list(pair)
        if not isinstance(value_range, (list, tuple)) or len(value_range) != 2:
            raise ArgumentError(f"RandomContrast: value_range must be a pair (low, high), got {short(value_range)}")
        self.value_range = [number("RandomContrast", "value_range", v, low=-math.inf) for v in value_range]
        if self.value_range[0] >= self.value_range[1]:
            raise ArgumentError(f"RandomContrast: value_range must rise, got {short(value_range)}")
        self._seeded(seed)

    def augment(self, x):
        xp = self.backend.xp
        f = 1.0 - self.lower + (self.lower + self.upper) * self._uniform((x.shape[0], 1, 1, 1), x.dtype)
        mean = xp.mean(x, axis=(1, 2), keepdims=True)
        scaled = (x - mean) * f + mean
        low, high = self.value_range
        inside = xp.astype((scaled >= low) & (scaled <= high), x.dtype)

        def backprop(dy, need_dx=True):
            g = dy * inside
            return g * f + xp.mean(g, axis=(1, 2), keepdims=True) * (1.0 - f)

        return xp.clip(scaled, low, high), backprop

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range, "seed": self.seed}


# -- geometric augmentations: one affine sampler ---------------------------------------------------------
FILL_MODES = ("reflect", "wrap", "nearest", "constant")


def _fill(xp, coord, size, mode):
    """Keras's fill modes on continuous coordinates: reflect (d c b a | a b c d | d c b a),
    wrap (a b c d | a b c d), nearest (a a | a b c d | d d); constant keeps them (reads
    outside the image give ``fill_value``)."""
    if mode == "constant":
        return coord
    if mode == "nearest" or size == 1:
        return xp.clip(coord, 0.0, size - 1.0)
    if mode == "wrap":
        return xp.clip(coord - size * xp.floor(coord / size), 0.0, size - 1.0)
    period = 2.0 * size
    t = coord - period * xp.floor(coord / period)
    return xp.clip(xp.where(t >= size, period - t - 1.0, t), 0.0, size - 1.0)


def affine_sample(layer, x, transform, mode, interpolation, fill_value):
    """(N, H, W, C) images sampled where ``transform`` (N, 6): ``a0 a1 a2 b0 b1 b2`` takes each
    output pixel (column x, row y) to the input's ``(a0 x + a1 y + a2, b0 x + b1 y + b2)``,
    as Keras's transforms; bilinear (or nearest) reads, gathered from the flattened batch.
    Returns ``(y, backprop)``: the backward scatters the gradient back with ``index_add``."""
    be, xp = layer.backend, layer.backend.xp
    n, h, w, c = x.shape
    cols = xp.reshape(xp.arange(w, dtype=x.dtype, device=x.device), (1, 1, w))
    rows = xp.reshape(xp.arange(h, dtype=x.dtype, device=x.device), (1, h, 1))
    t = [xp.reshape(transform[:, k], (n, 1, 1)) for k in range(6)]
    sx = _fill(xp, t[0] * cols + t[1] * rows + t[2], w, mode)
    sy = _fill(xp, t[3] * cols + t[4] * rows + t[5], h, mode)
    if interpolation == "nearest":
        corners = [(xp.round(sy), xp.round(sx), xp.ones_like(sx))]
    else:
        x0, y0 = xp.floor(sx), xp.floor(sy)
        wx, wy = sx - x0, sy - y0
        corners = [(y0, x0, (1 - wy) * (1 - wx)), (y0, x0 + 1, (1 - wy) * wx), (y0 + 1, x0, wy * (1 - wx)),
                   (y0 + 1, x0 + 1, wy * wx)]
    base = xp.reshape(xp.arange(n, dtype=xp.int64, device=x.device) * (h * w), (n, 1, 1))
    flat = xp.reshape(x, (n * h * w, c))
    reads, y = [], None
    for cy, cx, full in corners:
        inside = xp.astype((cy >= 0) & (cy <= h - 1) & (cx >= 0) & (cx <= w - 1), x.dtype)
        index = xp.reshape(base + xp.astype(xp.clip(cy, 0, h - 1), xp.int64) * w
                           + xp.astype(xp.clip(cx, 0, w - 1), xp.int64), (-1,))
        weight = full * inside  # a read outside the image gives fill_value instead
        part = xp.reshape(xp.take(flat, index, axis=0), (n, h, w, c)) * weight[..., None]
        if fill_value:
            part = part + (fill_value * (full - weight))[..., None]
        y = part if y is None else y + part
        reads.append((index, weight))

    def backprop(dy, need_dx=True):
        if not need_dx:
            return None
        grad = None
        for index, weight in reads:
            rows_ = xp.reshape(dy * weight[..., None], (n * h * w, c))
            part = be.index_add(index, rows_, n * h * w)
            grad = part if grad is None else grad + part
        return xp.reshape(grad, (n, h, w, c))

    return y, backprop


def _range(owner, key, factor, low=-math.inf):
    """Keras's factor: a number f for [-f, f], or a pair (lower, upper)."""
    pair = tuple(factor) if isinstance(factor, (list, tuple)) else None
    if pair is not None and len(pair) != 2:
        raise ArgumentError(f"{owner}: {key} must be a number or a pair (lower, upper), got {short(factor)}")
    if pair is None:
        f = number(owner, key, factor, 0.0)
        return -f, f
    lower, upper = (number(owner, key, v, low) for v in pair)
    if lower > upper:
        raise ArgumentError(f"{owner}: {key} must be (lower, upper) with lower <= upper, got {short(factor)}")
    return lower, upper


class _Geometric(RandomImage):
    """Shared by RandomTranslation, RandomZoom and RandomRotation: a per-image affine transform
    drawn in training, applied by ``affine_sample`` with Keras's fill modes and interpolation."""

    def _sampling(self, fill_mode, interpolation, fill_value, seed):
        kind = type(self).__name__
        self.fill_mode = one_of(kind, "fill_mode", fill_mode, FILL_MODES)
        self.interpolation = one_of(kind, "interpolation", interpolation, ("bilinear", "nearest"))
        self.fill_value = number(kind, "fill_value", fill_value, low=-math.inf)
        self._seeded(seed)

    def _draw(self, n, dtype, low, high):
        return low + (high - low) * self._uniform((n,), dtype)

    def augment(self, x):
        n, h, w, _ = x.shape
        return affine_sample(self, x, self.transform(n, h, w, x.dtype), self.fill_mode, self.interpolation,
                             self.fill_value)

    def sampling_config(self):
        return {"fill_mode": self.fill_mode, "interpolation": self.interpolation, "fill_value": self.fill_value,
                "seed": self.seed}


@register_layer
class RandomTranslation(_Geometric):
    """In training, each image shifted by a fraction of its height and width drawn in
    ``height_factor`` and ``width_factor`` (a number f for [-f, f], or (lower, upper); positive
    moves the image down and right); the uncovered pixels follow ``fill_mode``."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        channels_last("RandomTranslation", data_format)
        self.height_factor = _range("RandomTranslation", "height_factor", height_factor, -1.0)
        self.width_factor = _range("RandomTranslation", "width_factor", width_factor, -1.0)
        self._sampling(fill_mode, interpolation, fill_value, seed)

    def transform(self, n, h, w, dtype):
        xp = self.backend.xp
        dy = self._draw(n, dtype, *self.height_factor) * h
        dx = self._draw(n, dtype, *self.width_factor) * w
        one, zero = xp.ones_like(dx), xp.zeros_like(dx)
        return xp.stack([one, zero, -dx, zero, one, -dy], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": list(self.width_factor), **self.sampling_config()}


@register_layer
class RandomZoom(_Geometric):
    """In training, each image zoomed about its center by ``1 + f``, f drawn in
    ``height_factor`` (positive zooms out, negative in) and ``width_factor`` (None: the same f,
    keeping the aspect ratio), as Keras's."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        channels_last("RandomZoom", data_format)
        self.height_factor = _range("RandomZoom", "height_factor", height_factor, -1.0)
        self.width_factor = None if width_factor is None else _range("RandomZoom", "width_factor", width_factor,
                                                                     -1.0)
        self._sampling(fill_mode, interpolation, fill_value, seed)

    def transform(self, n, h, w, dtype):
        xp = self.backend.xp
        zy = 1.0 + self._draw(n, dtype, *self.height_factor)
        zx = zy if self.width_factor is None else 1.0 + self._draw(n, dtype, *self.width_factor)
        zero = xp.zeros_like(zx)
        return xp.stack([zx, zero, (w - 1) / 2.0 * (1.0 - zx), zero, zy, (h - 1) / 2.0 * (1.0 - zy)], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": list(self.height_factor),
                "width_factor": None if self.width_factor is None else list(self.width_factor),
                **self.sampling_config()}


@register_layer
class RandomRotation(_Geometric):
    """In training, each image rotated about its center by an angle drawn in ``factor`` (a
    fraction of a full turn: a number f for [-f, f], or (lower, upper)), as Keras's rotation
    matrix defines it."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        channels_last("RandomRotation", data_format)
        self.factor = _range("RandomRotation", "factor", factor)
        self._sampling(fill_mode, interpolation, fill_value, seed)

    def transform(self, n, h, w, dtype):
        xp = self.backend.xp
        angle = self._draw(n, dtype, *self.factor) * (2.0 * math.pi)
        cos, sin = xp.cos(angle), xp.sin(angle)
        x_offset = ((w - 1) - (cos * (w - 1) - sin * (h - 1))) / 2.0
        y_offset = ((h - 1) - (sin * (w - 1) + cos * (h - 1))) / 2.0
        return xp.stack([cos, -sin, x_offset, sin, cos, y_offset], axis=1)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), **self.sampling_config()}
