"""2-D pooling (MaxPool2D, AvgPool2D, GlobalAveragePooling2D, and Keras's names for them): values
against direct loops, finite-difference gradients, ties, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host


def reference_pool(x, reduce, pool, stride, padding):
    """Direct loops over output pixels; padding is left out of every window (NaN, then ignored)."""
    (ph, pw), (sh, sw) = pool, stride
    pads = _pads(x.shape[1:3], pool, stride, padding)
    x = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)], constant_values=np.nan)
    oh, ow = (x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            y[:, i, j, :] = reduce(x[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :], axis=(1, 2))
    return y


def _pads(hw, pool, stride, padding):
    if padding == "same":
        return [_same_pads(size, k, s) for size, k, s in zip(hw, pool, stride)]
    return [(padding, padding)] * 2 if padding != "valid" else [(0, 0)] * 2


def _same_pads(size, k, s):
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


CASES = {  # id: (input shape, pool_size, stride, padding)
    "tiles": ((2, 4, 6, 2), 2, None, "valid"),
    "tiles-odd-crop": ((2, 5, 7, 2), 2, None, "valid"),
    "tiles-3x2": ((1, 6, 4, 3), (3, 2), None, "valid"),
    "overlap-stride1": ((2, 4, 5, 2), 2, 1, "valid"),
    "same-3-stride2": ((2, 5, 6, 2), 3, 2, "same"),
    "pad1": ((1, 4, 4, 2), 3, 2, 1),
    "batch1-same-tiles": ((1, 4, 4, 1), 2, None, "same"),
}
POOLS = {"max": (xdl.MaxPool2D, np.nanmax), "avg": (xdl.AvgPool2D, np.nanmean)}


def distinct_values(shape, seed):
    """Values 0.05 apart, shuffled: no ties, so max pooling is differentiable at every input."""
    values = np.random.default_rng(seed).permutation(math.prod(shape)) * 0.05 - 1.0
    return values.reshape(shape)


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_pool_gradients(be, kind, case):
    shape, pool, stride, padding = CASES[case]
    layer = POOLS[kind][0](pool, stride, padding, dtype="float64")
    check_gradients(layer, distinct_values(shape, 9), be)


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_pool_values_match_direct_loops(be, kind, case):
    shape, pool, stride, padding = CASES[case]
    cls, reduce = POOLS[kind]
    layer = cls(pool_size=pool, stride=stride, padding=padding)
    x = np.random.default_rng(10).standard_normal(shape).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == be.xp.float32
    assert layer.backward(be.xp.ones(tuple(y.shape), dtype=be.xp.float32)).dtype == be.xp.float32
    pairs = [(v, v) if isinstance(v, int) else v for v in (pool, stride or pool)]
    expected = reference_pool(x.astype(np.float64), reduce, pairs[0], pairs[1], padding)
    assert tuple(y.shape) == expected.shape == (shape[0],) + layer.output_shape(shape[1:])
    assert_close(y, expected, rtol=1e-5, atol=1e-6)


def reference_max_pool_gradient(x, dy, pool, stride, padding):
    """Direct loops over output pixels: each window's dy goes to its first maximum (row-major)."""
    (ph, pw), (sh, sw) = pool, stride
    pads = _pads(x.shape[1:3], pool, stride, padding)
    xp = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)], constant_values=-np.inf)
    dx = np.zeros_like(xp)
    n, c = x.shape[0], x.shape[3]
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            window = xp[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :].reshape(n, ph * pw, c)
            first = np.argmax(window, axis=1)  # the first occurrence of the maximum
            one_hot = np.arange(ph * pw)[None, :, None] == first[:, None, :]
            share = (one_hot * dy[:, i:i + 1, j, :]).reshape(n, ph, pw, c)
            dx[:, i * sh:i * sh + ph, j * sw:j * sw + pw, :] += share
    return dx[:, pads[0][0]:pads[0][0] + x.shape[1], pads[1][0]:pads[1][0] + x.shape[2], :]


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_max_pool_gradient_with_ties_matches_direct_loops(be, case):
    shape, pool, stride, padding = CASES[case]
    x = np.random.default_rng(11).integers(0, 3, shape).astype(np.float32)  # many tied maxima
    layer = xdl.MaxPool2D(pool, stride, padding)
    y = layer.forward(x)
    dy = np.random.default_rng(12).standard_normal(tuple(y.shape)).astype(np.float32)
    pairs = [(v, v) if isinstance(v, int) else v for v in (pool, stride or pool)]
    expected = reference_max_pool_gradient(x.astype(np.float64), dy, pairs[0], pairs[1], padding)
    assert_close(layer.backward(dy), expected, rtol=1e-6, atol=0)


def test_max_pool_sends_gradient_to_first_maximum_only(be):
    layer = xdl.MaxPool2D(2)
    layer.forward(np.ones((1, 2, 2, 1)))
    dx = host(layer.backward(np.full((1, 1, 1, 1), 3.0)))
    assert_close(dx[0, :, :, 0], [[3.0, 0.0], [0.0, 0.0]])


def test_avg_pool_same_padding_counts_only_image_pixels(be):
    y = host(xdl.AvgPool2D(pool_size=2, padding="same", stride=2).forward(np.ones((1, 3, 3, 1))))
    assert_close(y, np.ones((1, 2, 2, 1)))


def test_global_average_pooling(be):
    x = np.random.default_rng(13).standard_normal((2, 3, 4, 5))
    assert_close(xdl.GlobalAveragePooling2D().forward(x), x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    check_gradients(xdl.GlobalAveragePooling2D(dtype="float64"), x, be)


@pytest.mark.parametrize("layer", [xdl.MaxPool2D, xdl.AvgPool2D, xdl.GlobalAveragePooling2D])
def test_pooling_needs_images(be, layer):
    with pytest.raises(xdl.ShapeError, match=r"expected input shape \(N, H, W, C\), got \(N, 8, 8\)"):
        layer().forward(np.ones((2, 8, 8)))


def test_pool_larger_than_image(be):
    with pytest.raises(xdl.ShapeError, match=r"max_pool2d.*spatial size 2x3 is smaller than its 3x3 window"):
        xdl.MaxPool2D(3, name="max_pool2d").forward(np.ones((1, 2, 3, 1)))


@pytest.mark.parametrize("kwargs,match", [
    ({"pool_size": 0}, "pool_size must be an int >= 1"),
    ({"stride": (2,)}, "stride must be"),
    ({"pool_size": 2, "padding": 2}, "exceeds half the pool size"),
    ({"padding": "full"}, "padding must be 'valid', 'same' or an int"),
])
def test_pool_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        xdl.MaxPool2D(**kwargs)


def test_keras_pooling_names_save_and_load(be, tmp_path):
    assert xdl.MaxPooling2D is xdl.MaxPool2D and xdl.AveragePooling2D is xdl.AvgPool2D
    model = xdl.Sequential([xdl.MaxPooling2D(2), xdl.AveragePooling2D(pool_size=2), xdl.Flatten()])
    x = np.random.default_rng(6).standard_normal((2, 8, 8, 3))
    assert tuple(model.predict(x).shape) == (2, 12)
    model.save(tmp_path / "m.xdl")
    assert_close(xdl.Model.load(tmp_path / "m.xdl").predict(x), model.predict(x))
