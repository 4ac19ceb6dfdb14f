"""Spatial resizing of (N, H, W, C) images: UpSampling2D, ZeroPadding2D, Cropping2D."""

from __future__ import annotations

from ...core.checks import one_of
from ...errors import ShapeError, shape_str
from ..base import Layer, register_layer
from . import windows as win


def _phases(s):
    """Per output phase r of an integer factor s, the weights of (previous, own, next) input
    rows: bilinear with half-pixel centres (PyTorch's ``align_corners=False``, TF2's resize),
    sample point ``(o + 0.5) / s - 0.5`` for output row ``o = q * s + r``, clamped at the edges."""
    out = []
    for r in range(s):
        d = (r + 0.5) / s - 0.5
        out.append((0.0, 1.0 - d, d) if d >= 0 else (-d, 1.0 + d, 0.0))
    return out


def _neighbours(xp, x):
    """x's rows shifted by one each way, the edge row repeated: (previous, next)."""
    return (xp.concat([x[:, :1, ...], x[:, :-1, ...]], axis=1), xp.concat([x[:, 1:, ...], x[:, -1:, ...]], axis=1))


def _neighbours_adjoint(xp, g_prev, g_next):
    """The input gradient of ``_neighbours`` from its two outputs' gradients."""
    if g_prev.shape[1] == 1:
        return g_prev + g_next
    zero = xp.zeros_like(g_prev[:, :1, ...])
    d_prev = xp.concat([g_prev[:, :1, ...] + g_prev[:, 1:2, ...], g_prev[:, 2:, ...], zero], axis=1)
    d_next = xp.concat([zero, g_next[:, :-2, ...], g_next[:, -2:-1, ...] + g_next[:, -1:, ...]], axis=1)
    return d_prev + d_next


def _weighted(pairs, like):
    """``sum(weight * array)`` over (weight, array) pairs, skipping zero weights."""
    total = None
    for weight, array in pairs:
        if weight:
            term = array if weight == 1.0 else weight * array
            total = term if total is None else total + term
    return total if total is not None else 0.0 * like


def _bilinear_rows(xp, x, s):
    """(N, H, W, C) -> (N, H * s, W, C) and its backprop: one weighted sum of three shifted
    copies per output phase (s of them), never a loop over rows."""
    n, h, w, c = x.shape
    prev, nxt = _neighbours(xp, x)
    weights = _phases(s)
    y = xp.stack([_weighted(zip(phase, (prev, x, nxt)), x) for phase in weights], axis=2)

    def backprop(dy):
        g = xp.reshape(dy, (n, h, s, w, c))
        parts = [g[:, :, r, ...] for r in range(s)]
        prev_own_next = [_weighted(zip((phase[k] for phase in weights), parts), x) for k in range(3)]
        return prev_own_next[1] + _neighbours_adjoint(xp, prev_own_next[0], prev_own_next[2])

    return xp.reshape(y, (n, h * s, w, c)), backprop


def _swap_hw(xp, x):
    return xp.permute_dims(x, (0, 2, 1, 3))


@register_layer
class UpSampling2D(Layer):
    """(N, H, W, C) -> (N, H * sh, W * sw, C) for integer ``size`` (sh, sw), as Keras:
    "nearest" repeats each pixel; "bilinear" interpolates with half-pixel centres (PyTorch's
    ``interpolate(..., mode="bilinear", align_corners=False)``)."""

    def __init__(self, size=(2, 2), interpolation="nearest", *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.size = win.pair(f"UpSampling2D {self.name!r}", "size", size)
        interpolation = one_of(f"UpSampling2D {self.name!r}", "interpolation", interpolation, ("nearest", "bilinear"))
        self.interpolation = interpolation

    def build(self, input_shape):
        win.expect_image(self, input_shape)
        super().build(input_shape)

    def check_input_shape(self, input_shape):
        win.expect_image(self, input_shape)

    def output_shape(self, input_shape):
        h, w, c = input_shape
        return (None if h is None else h * self.size[0], None if w is None else w * self.size[1], c)

    def apply(self, x, training=False):
        xp, (sh, sw) = self.backend.xp, self.size
        n, h, w, c = x.shape
        if self.interpolation == "nearest":
            y = xp.reshape(xp.broadcast_to(x[:, :, None, :, None, :], (n, h, sh, w, sw, c)), (n, h * sh, w * sw, c))

            def backprop(dy, need_dx=True):
                return xp.sum(xp.reshape(dy, (n, h, sh, w, sw, c)), axis=(2, 4))

            return y, backprop
        rows, back_rows = _bilinear_rows(xp, x, sh)
        cols, back_cols = _bilinear_rows(xp, _swap_hw(xp, rows), sw)

        def backprop(dy, need_dx=True):
            return back_rows(_swap_hw(xp, back_cols(_swap_hw(xp, dy))))

        return _swap_hw(xp, cols), backprop

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}


def _sides(owner, name, value):
    """Keras's forms: an int, (rows, cols) symmetric, or ((top, bottom), (left, right))."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (tuple, list)) for v in value):
        return tuple(win.pair(owner, name, v, minimum=0) for v in value)
    rows, cols = win.pair(owner, name, value, minimum=0)
    return ((rows, rows), (cols, cols))


@register_layer
class ZeroPadding2D(Layer):
    """Zeros around (N, H, W, C) images: ``padding`` an int, (rows, cols) or
    ((top, bottom), (left, right)), as Keras."""

    def __init__(self, padding=(1, 1), *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.padding = _sides(f"ZeroPadding2D {self.name!r}", "padding", padding)

    def build(self, input_shape):
        win.expect_image(self, input_shape)
        super().build(input_shape)

    def check_input_shape(self, input_shape):
        win.expect_image(self, input_shape)

    def output_shape(self, input_shape):
        (t, b), (l, r) = self.padding
        h, w, c = input_shape
        return (None if h is None else h + t + b, None if w is None else w + l + r, c)

    def apply(self, x, training=False):
        xp, ((t, b), (l, r)) = self.backend.xp, self.padding
        n, h, w, c = x.shape
        y = xp.zeros((n, h + t + b, w + l + r, c), dtype=x.dtype, device=x.device)
        y[:, t:t + h, l:l + w, :] = x
        return y, lambda dy, need_dx=True: dy[:, t:t + h, l:l + w, :]

    def get_config(self):
        return {**super().get_config(), "padding": [list(side) for side in self.padding]}


@register_layer
class Cropping2D(Layer):
    """Rows and columns cut off (N, H, W, C) images: ``cropping`` an int, (rows, cols) or
    ((top, bottom), (left, right)), as Keras."""

    def __init__(self, cropping=((0, 0), (0, 0)), *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.cropping = _sides(f"Cropping2D {self.name!r}", "cropping", cropping)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def check_input_shape(self, input_shape):
        win.expect_image(self, input_shape)
        self.output_shape(input_shape)

    def output_shape(self, input_shape):
        h, w, c = input_shape
        out = tuple(None if size is None else size - sum(side) for size, side in zip((h, w), self.cropping))
        if any(o is not None and o < 1 for o in out):
            raise ShapeError(f"{self.describe()}: cropping {self.cropping} leaves nothing of input "
                             f"{shape_str(tuple(input_shape))}")
        return out + (c,)

    def apply(self, x, training=False):
        xp, ((t, b), (l, r)) = self.backend.xp, self.cropping
        n, h, w, c = x.shape
        y = x[:, t:h - b, l:w - r, :]

        def backprop(dy, need_dx=True):
            dx = xp.zeros((n, h, w, c), dtype=dy.dtype, device=dy.device)
            dx[:, t:h - b, l:w - r, :] = dy
            return dx

        return y, backprop

    def get_config(self):
        return {**super().get_config(), "cropping": [list(side) for side in self.cropping]}
