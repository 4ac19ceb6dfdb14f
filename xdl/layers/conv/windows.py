"""Sliding windows over (N, H, W, C) arrays, shared by convolution and pooling.

A window op is described by a ``Geometry``: kernel size, stride, dilation and padding along H
and W, resolved for one input size. Windows are read as one strided slice per kernel offset
(``offsets``): a loop over the kh * kw offsets, never over pixels or channels. ``columns``
writes those slices side by side (im2col, for convolution), or one above the other
(for pooling); ``scatter_add`` is the adjoint and adds each offset's slice back, so no
single add ever touches the same element twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...core.checks import MAX_SIZE
from ...errors import ArgumentError, ShapeError, shape_str


def pair(owner, name, value, minimum=1):
    """An int or a pair of ints, each >= ``minimum``, as a (height, width) tuple."""
    values = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    ok = (isinstance(values, (tuple, list)) and len(values) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values))
    if not ok:
        raise ArgumentError(f"{owner}: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return tuple(values)


def padding_spec(owner, padding):
    """"valid", "same", an int >= 0 or an (int, int) pair, checked early."""
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ArgumentError(f"{owner}: padding must be 'valid', 'same' or an int, got {padding!r}")
        return padding.lower()
    return pair(owner, "padding", padding, minimum=0)


def _axis(size, k, s, d, padding):
    """(output size, pad before, pad after) along one axis."""
    span = (k - 1) * d + 1
    if padding == "valid":
        before = after = 0
    elif padding == "same":  # Keras/TF: ceil(size / s) outputs, the odd pixel of padding at the end
        total = max((math.ceil(size / s) - 1) * s + span - size, 0)
        before, after = total // 2, total - total // 2
    else:
        before = after = padding
    return (size + before + after - span) // s + 1, before, after


@dataclass(frozen=True)
class Geometry:
    """Where the windows of one op lie on an input of spatial size ``in_hw``."""

    in_hw: tuple
    out_hw: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    pads: tuple  # ((top, bottom), (left, right))

    @property
    def padded_hw(self) -> tuple:
        return tuple(size + sum(side) for size, side in zip(self.in_hw, self.pads))

    @property
    def padded(self) -> bool:
        return any(p for side in self.pads for p in side)

    @property
    def disjoint(self) -> bool:
        """No two windows share an element (e.g. pooling with stride == pool size)."""
        spans = ((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilation))
        return all(s >= span for s, span in zip(self.stride, spans))

    @property
    def covers(self) -> bool:
        """The windows are disjoint and together hold every element of the padded input."""
        return self.disjoint and all(o * s == size and s == k for o, s, k, size in
                                     zip(self.out_hw, self.stride, self.kernel, self.padded_hw))

    def offsets(self):
        """One (rows, cols) pair of slices per kernel offset, in row-major kernel order."""
        (oh, ow), (sh, sw), (dh, dw) = self.out_hw, self.stride, self.dilation
        for i in range(self.kernel[0]):
            rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
            for j in range(self.kernel[1]):
                yield rows, slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)


def geometry(layer, in_hw, kernel, stride, dilation, padding) -> Geometry:
    """Resolve ``padding`` for spatial size ``in_hw``; a ``ShapeError`` when no window fits."""
    pad_modes = padding if isinstance(padding, tuple) else (padding, padding)
    _check_spread(layer, in_hw, kernel, dilation, pad_modes)
    axes = [_axis(in_hw[a], kernel[a], stride[a], dilation[a], pad_modes[a]) for a in (0, 1)]
    padded = [in_hw[a] + axes[a][1] + axes[a][2] for a in (0, 1)]
    if padded[0] * padded[1] > MAX_SIZE:  # a pool's window (no weights pay for it) of 2**40 with "same"
        raise ShapeError(f"{layer.describe()}: its {kernel[0]}x{kernel[1]} window (padding {padding!r}) pads the "
                         f"{in_hw[0]}x{in_hw[1]} input to {padded[0]}x{padded[1]}, more than {MAX_SIZE:,} pixels; "
                         "use a smaller window")
    out_hw = (axes[0][0], axes[1][0])
    if min(out_hw) < 1:
        span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
        raise ShapeError(f"{layer.describe()}: input of spatial size {in_hw[0]}x{in_hw[1]} is smaller than "
                         f"its {span[0]}x{span[1]} window (padding {padding!r}); got input "
                         f"{shape_str(tuple(in_hw) + ('C',))}")
    return Geometry(tuple(in_hw), out_hw, kernel, stride, dilation, tuple((a[1], a[2]) for a in axes))


def _check_spread(layer, in_hw, kernel, dilation, pad_modes):
    """Padding is memory that neither the weights nor the input pay for: refuse a dilation
    whose outermost taps lie beyond the input wherever the window sits (with "same" padding
    it would pad by the dilated span; [10000, 10000] costs gigabytes), and explicit padding
    of a whole window or more (outputs that see padding only)."""
    for a, axis in ((0, "height"), (1, "width")):
        size, k, d, mode = in_hw[a], kernel[a], dilation[a], pad_modes[a]
        span = (k - 1) * d + 1
        if mode != "valid" and d > 1 and (k - 1) * d >= 2 * size:  # "valid": no window fits, said below
            raise ShapeError(f"{layer.describe()}: dilation {d} spreads its {k}-tap window over {span} pixels of "
                             f"{axis}, and the input has {size}: its outer taps would read padding only; "
                             "use a smaller dilation")
        if not isinstance(mode, str) and mode >= span:
            raise ShapeError(f"{layer.describe()}: padding {mode} along {axis} is as wide as its {span}-pixel "
                             "window or wider; at most span - 1 is useful")


def output_hw(layer, in_hw, kernel, stride, dilation, padding) -> tuple:
    """The output's spatial size; a size left free (None, in a graph) stays None."""
    if None not in in_hw:
        return geometry(layer, in_hw, kernel, stride, dilation, padding).out_hw
    pad_modes = padding if isinstance(padding, tuple) else (padding, padding)
    return tuple(None if in_hw[a] is None else _axis(in_hw[a], kernel[a], stride[a], dilation[a], pad_modes[a])[0]
                 for a in (0, 1))


def pad(xp, x, geom, value=0.0):
    """``x`` (N, H, W, C) with ``geom``'s padding filled with ``value``; ``x`` itself if none."""
    if not geom.padded:
        return x
    (top, bottom), (left, right) = geom.pads
    n, h, w, c = x.shape
    out = xp.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype, device=x.device)
    out[:, top:top + h, left:left + w, :] = x
    return out


def crop(x, geom):
    """The inverse of ``pad``: the (N, H, W, C) interior of a padded array."""
    if not geom.padded:
        return x
    (top, _), (left, _) = geom.pads
    h, w = geom.in_hw
    return x[:, top:top + h, left:left + w, :]


def columns(be, x_padded, geom, out):
    """im2col into ``out`` (N, OH, OW, >= kh * kw * C): offset k's slice of the (N, Hp, Wp, C)
    input fills columns [k * C, (k + 1) * C), in the kernel's (kh, kw, C) order; columns past
    kh * kw * C are left as they are (``Backend.im2col``). Returns ``out``."""
    return be.im2col(x_padded, out, geom.kernel, geom.stride, geom.dilation)


def scatter_add(xp, geom, parts, batch, channels, like):
    """The adjoint of ``columns``: sum one (N, OH, OW, C) array per kernel offset
    (``parts``, an iterable in ``offsets`` order) into a zero (N, Hp, Wp, C) array of
    ``like``'s dtype.

    Each offset's slice is strided without repeats, so one ``+=`` never hits an element twice.
    Disjoint windows need no adds at all: each part is written in place (onto uninitialised
    memory where the windows cover the input).
    """
    shape = (batch,) + geom.padded_hw + (channels,)
    make, disjoint = (xp.empty if geom.covers else xp.zeros), geom.disjoint
    out = make(shape, dtype=like.dtype, device=like.device)
    for (rows, cols), part in zip(geom.offsets(), parts):
        if disjoint:
            out[:, rows, cols, :] = part
        else:
            out[:, rows, cols, :] += part
    return out


def expect_image(layer, input_shape, channels=None, built_for=None):
    """Shared check: a per-sample shape (H, W, C), with C == ``channels`` when given.

    ``built_for``: the channels a layer that takes any number (pooling) was built for; it
    only serves to recognize channels-first (N, C, H, W) data, as ``channels`` does."""
    expected = f"(N, H, W, {channels if channels is not None else 'C'})"
    known = channels if channels is not None else built_for
    channels_first = (len(input_shape) == 3 and known is not None and input_shape[-1] != known
                      and input_shape[0] == known)
    if len(input_shape) != 3 or (channels is not None and input_shape[-1] != channels) or channels_first:
        if channels_first:
            hint = (f"xdl is channels-last (N, H, W, C) and this looks channels-first (N, C, H, W) with "
                    f"C={known}: transpose it, x.transpose(0, 2, 3, 1) for NumPy, x.permute(0, 2, 3, 1) for "
                    "PyTorch")
        elif len(input_shape) == 2:
            hint = "channels-last images: reshape (N, H, W) to (N, H, W, 1)"
        else:
            hint = "check the data or the previous layer"
        raise ShapeError(f"{layer.describe()}: expected input shape {expected}, "
                         f"got {shape_str(input_shape)}; {hint}")
