"""Conv2D: forward against a direct convolution, finite-difference gradients, shapes, channels-last
images (channels-first ones are recognized), errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host


def reference_conv(x, W, b, stride, padding, dilation):
    """The obvious loops over output pixels: (N, H, W, C) * (kh, kw, C, F) -> (N, OH, OW, F)."""
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = W.shape[:2]
    if padding == "same":
        pads = [_same_pads(size, k, s, d) for size, k, s, d in zip(x.shape[1:3], (kh, kw), stride, dilation)]
    else:
        pads = [(padding, padding)] * 2 if padding != "valid" else [(0, 0)] * 2
    x = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)])
    oh = (x.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (x.shape[2] - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((x.shape[0], oh, ow, W.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * sh:i * sh + (kh - 1) * dh + 1:dh, j * sw:j * sw + (kw - 1) * dw + 1:dw, :]
            y[:, i, j, :] = np.einsum("nhwc,hwcf->nf", patch, W) + b
    return y


def _same_pads(size, k, s, d):
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


CASES = {  # id: (input shape, layer arguments)
    "valid": ((2, 5, 4, 2), {"kernel_size": 3}),
    "stride2": ((2, 6, 5, 2), {"kernel_size": 3, "stride": 2}),
    "same": ((2, 5, 4, 2), {"kernel_size": 3, "padding": "same"}),
    "same-stride2-even": ((1, 6, 4, 1), {"kernel_size": 2, "padding": "same", "stride": 2}),
    "dilation2": ((2, 6, 6, 2), {"kernel_size": 2, "dilation": 2}),
    "pad1-rect-kernel": ((2, 4, 5, 2), {"kernel_size": (2, 3), "padding": 1}),
    "same-dilation-stride": ((1, 7, 6, 2), {"kernel_size": 3, "padding": "same", "dilation": (2, 1),
                                            "stride": (1, 2)}),
    "batch1-1x1": ((1, 3, 3, 3), {"kernel_size": 1}),
    # kw * C >= 32: long rows for the strided im2col copy (from kw * C >= 6 where the backend
    # has one, as in most cases above; Backend.im2col)
    "wide-stride2-same": ((1, 5, 6, 12), {"kernel_size": 3, "stride": 2, "padding": "same"}),
}


def _args(kwargs):
    return {"stride": 1, "padding": "valid", "dilation": 1, **kwargs}


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pairs(kwargs):
    a = _args(kwargs)
    return _pair(a["stride"]), a["padding"], _pair(a["dilation"])


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_conv_gradients(be, case):
    shape, kwargs = CASES[case]
    layer = xdl.Conv2D(output_channels=3, bias_initializer="glorot_uniform", dtype="float64", **kwargs)
    check_gradients(layer, np.random.default_rng(5).standard_normal(shape), be)


def test_conv_gradients_without_bias(be):
    layer = xdl.Conv2D(output_channels=2, kernel_size=2, stride=2, padding="same", use_bias=False,
                       dtype="float64")
    check_gradients(layer, np.random.default_rng(6).standard_normal((1, 3, 5, 2)), be)
    assert [p.name for p in layer.parameters()] == ["weights"]


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_conv_forward_matches_direct_convolution(be, case):
    shape, kwargs = CASES[case]
    layer = xdl.Conv2D(output_channels=4, bias_initializer="glorot_uniform", **kwargs)
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    y = layer.forward(x)
    assert be.owns(y) and y.dtype == be.xp.float32 and layer.weights.dtype == be.xp.float32
    stride, padding, dilation = _pairs(kwargs)
    expected = reference_conv(x.astype(np.float64), host(layer.weights).astype(np.float64),
                              host(layer.bias).astype(np.float64), stride, padding, dilation)
    assert tuple(y.shape) == expected.shape == (shape[0],) + layer.output_shape(shape[1:])
    assert_close(y, expected, rtol=1e-4, atol=1e-5)


def test_tutorial_usage_gives_26x26x16(be):
    conv = xdl.Conv2D(input_channels=3, output_channels=16, kernel_size=3)
    input_data = np.random.randn(1, 28, 28, 3)
    output = conv.forward(input_data)
    assert tuple(output.shape) == (1, 26, 26, 16)
    assert tuple(conv.weights.shape) == (3, 3, 3, 16) and tuple(conv.bias.shape) == (16,)


def test_conv_infers_input_channels_and_keeps_float32(be):
    layer = xdl.Conv2D(filters=4, kernel_size=3)  # the Keras spelling
    assert layer.weights is None and layer.output_channels == layer.filters == 4
    y = layer.forward(np.ones((2, 5, 5, 3)))
    assert layer.input_channels == 3 and tuple(layer.weights.shape) == (3, 3, 3, 4)
    layer.backward(be.xp.ones(tuple(y.shape), dtype=be.xp.float32))
    assert all(p.grad.dtype == be.xp.float32 for p in layer.parameters())


def test_conv_takes_any_image_size_once_built(be):
    layer = xdl.Conv2D(input_channels=1, output_channels=2, kernel_size=3, padding="same")
    assert tuple(layer.forward(np.ones((1, 4, 4, 1))).shape) == (1, 4, 4, 2)
    assert tuple(layer.forward(np.ones((3, 7, 5, 1))).shape) == (3, 7, 5, 2)


def test_wrong_channel_count_names_layer_and_both_shapes(be):
    layer = xdl.Conv2D(input_channels=3, output_channels=8, kernel_size=3, name="conv")
    with pytest.raises(xdl.ShapeError, match=r"conv \(Conv2D\).*\(N, H, W, 3\).*\(N, 28, 28, 1\)"):
        layer.forward(np.ones((2, 28, 28, 1)))


def test_wrong_rank_says_channels_last(be):
    with pytest.raises(xdl.ShapeError, match=r"expected input shape \(N, H, W, C\), got \(N, 28, 28\); "
                                             r"channels-last"):
        xdl.Conv2D(output_channels=8, kernel_size=3).forward(np.ones((2, 28, 28)))
    with pytest.raises(xdl.ShapeError, match=r"got \(N, 64\)"):
        xdl.Conv2D(output_channels=8, kernel_size=3).forward(np.ones((2, 64)))


def test_input_smaller_than_kernel(be):
    with pytest.raises(xdl.ShapeError, match=r"spatial size 2x2 is smaller than its 5x5 window"):
        xdl.Conv2D(output_channels=1, kernel_size=3, dilation=2).forward(np.ones((1, 2, 2, 1)))


@pytest.mark.parametrize("kwargs,match", [
    ({"kernel_size": 3}, r"filters \(xdl's output_channels\) and kernel_size are required"),
    ({"output_channels": 2}, "kernel_size are required"),
    ({"output_channels": 2, "kernel_size": 0}, "kernel_size must be an int >= 1"),
    ({"output_channels": 2, "kernel_size": 3, "stride": (1, 2, 3)}, "stride must be"),
    ({"output_channels": 2, "kernel_size": 3, "padding": "full"}, "padding must be 'valid', 'same'"),
    ({"output_channels": 2, "kernel_size": 3, "padding": -1}, "padding must be an int >= 0"),
    ({"output_channels": 2, "filters": 3, "kernel_size": 3}, "disagree"),
])
def test_conv_rejects_bad_arguments(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        xdl.Conv2D(**kwargs)


def test_cnn_saves_and_loads(be, tmp_path):
    model = xdl.NeuralNetwork([xdl.Conv2D(output_channels=2, kernel_size=3, padding="same", stride=2),
                               xdl.ReLU(), xdl.MaxPool2D(), xdl.Flatten(), xdl.Dense(output_size=3)])
    x = np.random.default_rng(8).standard_normal((2, 8, 8, 1))
    before = host(model.forward(x))
    model.save(tmp_path / "cnn.xdl")
    loaded = xdl.NeuralNetwork.load(tmp_path / "cnn.xdl")
    assert loaded.layers[0].stride == (2, 2) and loaded.layers[0].padding == "same"
    assert_close(loaded.forward(x), before, rtol=1e-6)


def test_channels_first_images_are_recognized(be):
    x = np.zeros((2, 1, 28, 28), np.float32)
    hint = r"channels-last \(N, H, W, C\).*x\.transpose\(0, 2, 3, 1\).*x\.permute\(0, 2, 3, 1\)"
    with pytest.raises(xdl.ShapeError, match=hint):
        xdl.Conv2D(input_channels=1, output_channels=4, kernel_size=3, padding="same").forward(x)
    conv = xdl.Conv2D(output_channels=4, kernel_size=3)
    conv.forward(np.zeros((2, 8, 8, 3)))
    pool = xdl.MaxPooling2D()
    pool.forward(np.zeros((2, 8, 8, 3)))
    gap = xdl.GlobalAveragePooling2D()
    gap.forward(np.zeros((2, 8, 8, 3)))
    for layer in (conv, pool, gap):
        with pytest.raises(xdl.ShapeError, match=hint):
            layer.forward(np.zeros((2, 3, 8, 8)))
    model = xdl.Sequential([xdl.Conv2D(input_channels=1, output_channels=2, kernel_size=3), xdl.Flatten()])
    with pytest.raises(xdl.ShapeError, match=hint):
        model.predict(x)
    assert tuple(pool.forward(np.zeros((2, 6, 6, 5))).shape) == (2, 3, 3, 5)  # pooling takes other channels


def test_conv2d_takes_keras_positional_arguments_and_the_tutorials_keywords():
    keras = xdl.Conv2D(16, 3, 2, "same", None, 1, 1, "relu")
    assert (keras.output_channels, keras.kernel_size, keras.stride, keras.padding, keras.activation) == (
        16, (3, 3), (2, 2), "same", "relu")
    tutorial = xdl.Conv2D(input_channels=3, output_channels=16, kernel_size=3)
    assert tutorial.weights.shape == (3, 3, 3, 16)
    assert xdl.Conv2D(4, 3, stride=2, dilation=1).stride == (2, 2)  # xdl's names, as keywords
    with pytest.raises(ValueError, match=r"strides=2 and stride=3 disagree"):
        xdl.Conv2D(4, 3, strides=2, stride=3)
    with pytest.raises(ValueError, match="channels_first.*channels last"):
        xdl.Conv2D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="groups must be 1"):
        xdl.Conv2D(4, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_constraint is not supported"):
        xdl.Conv2D(4, 3, kernel_constraint="max_norm")
