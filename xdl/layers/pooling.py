"""Pooling over (N, H, W, C) images: MaxPool2D, AvgPool2D, GlobalAveragePooling2D.

Where the windows tile the input (stride == pool size, no padding), pooling is a reshape to
(N, OH, ph, OW, pw, C) and one reduction; otherwise it loops over the ph * pw window offsets,
one strided slice each (see ``_windows``). Max pooling sends the gradient to the first maximum
of each window, in row-major order, as PyTorch and TensorFlow do.
"""

from __future__ import annotations

from . import _windows as win
from .base import Layer, register_layer


class _Pool2D(Layer):
    """Shared arguments and shape logic; subclasses reduce the windows."""

    def __init__(self, pool_size=2, stride=None, padding="valid", *, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        kind = type(self).__name__
        self.pool_size = win.pair(kind, "pool_size", pool_size)
        self.stride = self.pool_size if stride is None else win.pair(kind, "stride", stride)
        self.padding = win.padding_spec(kind, padding)
        if isinstance(self.padding, tuple) and any(2 * p > k for p, k in zip(self.padding, self.pool_size)):
            raise ValueError(f"{kind}: padding {padding!r} exceeds half the pool size {self.pool_size}; "
                             "windows would hold padding only")

    def check_input_shape(self, input_shape):
        win.expect_image(self, input_shape)
        self._geometry(input_shape)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def _geometry(self, input_shape):
        return win.geometry(self, tuple(input_shape[:2]), self.pool_size, self.stride, (1, 1), self.padding)

    def output_shape(self, input_shape):
        return self._geometry(input_shape).out_hw + (input_shape[-1],)

    def call(self, x, training=False):
        self.geom = geom = self._geometry(x.shape[1:])
        self.tiles = self._tiles_input(geom)
        if self.tiles:
            return self._call_tiled(x, _tiles(self.backend.xp, x, geom))
        return self._call_windows(x, geom)

    def _tiles_input(self, geom) -> bool:
        """Whether the windows tile the input, so a reshape finds them (the fast path)."""
        return geom.stride == geom.kernel and not geom.padded

    def backprop(self, dy):
        if self.tiles:
            return _untile(self.backend.xp, self._backprop_tiled(dy), self.geom)
        return self._backprop_windows(dy)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "stride": list(self.stride),
                "padding": self.padding if isinstance(self.padding, str) else list(self.padding)}


def _tiles(xp, x, geom):
    """(N, H, W, C) -> (N, OH, ph, OW, pw, C), dropping the rows and columns no window covers."""
    (oh, ow), (ph, pw) = geom.out_hw, geom.kernel
    n, c = x.shape[0], x.shape[-1]
    if (oh * ph, ow * pw) != geom.in_hw:
        x = x[:, :oh * ph, :ow * pw, :]
    return xp.reshape(x, (n, oh, ph, ow, pw, c))


def _untile(xp, dtiles, geom):
    """The adjoint of ``_tiles``: (N, OH, ph, OW, pw, C) -> (N, H, W, C), zeros where dropped."""
    n, oh, ph, ow, pw, c = dtiles.shape
    dx = xp.reshape(dtiles, (n, oh * ph, ow * pw, c))
    if (oh * ph, ow * pw) == geom.in_hw:
        return dx
    out = xp.zeros((n,) + geom.in_hw + (c,), dtype=dx.dtype, device=dx.device)
    out[:, :oh * ph, :ow * pw, :] = dx
    return out


def _reduce_tiles(op, tiles):
    """(N, OH, ph, OW, pw, C) -> (N, OH, OW, C) by ``op`` over the window axes, one slice at
    a time: NumPy reduces over inner, strided axes several times slower."""
    rows = tiles[:, :, 0, ...]
    for i in range(1, tiles.shape[2]):
        rows = op(rows, tiles[:, :, i, ...])
    out = rows[:, :, :, 0, :]
    for j in range(1, rows.shape[3]):
        out = op(out, rows[:, :, :, j, :])
    return out


@register_layer
class MaxPool2D(_Pool2D):
    """Maximum over ``pool_size`` windows every ``stride`` (default: ``pool_size``) pixels:
    (N, H, W, C) -> (N, OH, OW, C). Padding counts as -inf."""

    def _call_tiled(self, x, tiles):
        self.windows = tiles
        self.y = _reduce_tiles(self.backend.xp.maximum, tiles)
        return self.y

    def _backprop_tiled(self, dy):
        xp, (ph, pw) = self.backend.xp, self.geom.kernel
        hits = self.windows == self.y[:, :, None, :, None, :]  # every maximum of each window
        taken = None  # keep the first per window: drop hits after an earlier one
        for i, j in [(i, j) for i in range(ph) for j in range(pw)]:
            hits[:, :, i, :, j, :], taken = _first_hit(xp, hits[:, :, i, :, j, :], taken)
        return xp.astype(hits, dy.dtype) * dy[:, :, None, :, None, :]

    def _call_windows(self, x, geom):
        xp = self.backend.xp
        self.x_padded = x_padded = win.pad(xp, x, geom, value=-float("inf"))
        y = None
        for rows, cols in geom.offsets():
            part = x_padded[:, rows, cols, :]
            y = part if y is None else xp.maximum(y, part)
        self.y = y
        return y

    def _backprop_windows(self, dy):
        xp, geom = self.backend.xp, self.geom
        dx = win.scatter_add(xp, geom, self._first_max_parts(dy), dy.shape[0], dy.shape[-1], dy)
        return win.crop(dx, geom)

    def _first_max_parts(self, dy):
        """Per window offset: ``dy`` where that offset holds its window's first maximum, else 0."""
        xp, taken = self.backend.xp, None
        for rows, cols in self.geom.offsets():
            first, taken = _first_hit(xp, self.x_padded[:, rows, cols, :] == self.y, taken)
            yield xp.astype(first, dy.dtype) * dy


def _first_hit(xp, hit, taken):
    """``hit`` where no earlier offset of the window was the maximum; and the updated ``taken``."""
    if taken is None:
        return hit, hit
    first = xp.logical_and(hit, xp.logical_not(taken))
    return first, xp.logical_or(taken, hit)


@register_layer
class AvgPool2D(_Pool2D):
    """Mean over ``pool_size`` windows every ``stride`` (default: ``pool_size``) pixels:
    (N, H, W, C) -> (N, OH, OW, C). Padding is left out of each window's count."""

    def __init__(self, pool_size=2, stride=None, padding="valid", *, name=None, dtype=None):
        super().__init__(pool_size, stride, padding, name=name, dtype=dtype)
        self._counts = {}  # (geometry, dtype) -> inverse window counts

    def _call_tiled(self, x, tiles):
        self.tile_shape = tuple(tiles.shape)
        return _reduce_tiles(self.backend.xp.add, tiles) * (1.0 / (tiles.shape[2] * tiles.shape[4]))

    def _backprop_tiled(self, dy):
        xp = self.backend.xp
        scale = 1.0 / (self.geom.kernel[0] * self.geom.kernel[1])
        return xp.broadcast_to((scale * dy)[:, :, None, :, None, :], self.tile_shape)

    def _call_windows(self, x, geom):
        xp = self.backend.xp
        x_padded = win.pad(xp, x, geom)
        total = None
        for rows, cols in geom.offsets():
            part = x_padded[:, rows, cols, :]
            total = part if total is None else total + part
        self.inverse_count = self._inverse_count(x, geom)
        return total * self.inverse_count

    def _inverse_count(self, x, geom):
        """1 / (pixels of the image in each window), shape (1, OH, OW, 1): depends on the
        geometry alone, so it is made once per input size and dtype."""
        key = (geom, x.dtype)
        if key not in self._counts:
            xp = self.backend.xp
            ones = win.pad(xp, xp.ones((1,) + geom.in_hw + (1,), dtype=x.dtype, device=x.device), geom)
            self._counts[key] = 1.0 / sum(ones[:, rows, cols, :] for rows, cols in geom.offsets())
        return self._counts[key]

    def _backprop_windows(self, dy):
        xp, geom = self.backend.xp, self.geom
        share = dy * self.inverse_count
        parts = (share for _ in geom.offsets())
        return win.crop(win.scatter_add(xp, geom, parts, dy.shape[0], dy.shape[-1], dy), geom)


@register_layer
class GlobalAveragePooling2D(Layer):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""

    def build(self, input_shape):
        win.expect_image(self, input_shape)
        super().build(input_shape)

    def check_input_shape(self, input_shape):
        win.expect_image(self, input_shape)

    def output_shape(self, input_shape):
        return (input_shape[-1],)

    def call(self, x, training=False):
        self.x_shape = tuple(x.shape)
        return self.backend.xp.mean(x, axis=(1, 2))

    def backprop(self, dy):
        h, w = self.x_shape[1:3]
        return self.backend.xp.broadcast_to((dy / (h * w))[:, None, None, :], self.x_shape)
