"""Conv1D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D, UpSampling2D, ZeroPadding2D,
Cropping2D and the 1-D / global pooling layers: forward against plain NumPy loops (and
PyTorch where installed), finite-difference gradients, shapes, errors, files."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host


def _same_pads(size, k, s, d):
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


# -- references: the definitions, one output element (or input pixel) at a time -------------
def ref_conv1d(x, W, b, stride, padding, dilation):
    k = W.shape[0]
    if padding == "causal":
        pads = ((k - 1) * dilation, 0)
    elif padding == "same":
        pads = _same_pads(x.shape[1], k, stride, dilation)
    else:
        pads = (0, 0) if padding == "valid" else (padding, padding)
    x = np.pad(x, [(0, 0), pads, (0, 0)])
    out = (x.shape[1] - (k - 1) * dilation - 1) // stride + 1
    y = np.zeros((x.shape[0], out, W.shape[2]))
    for o in range(out):
        for a in range(k):
            y[:, o, :] += x[:, o * stride + a * dilation, :] @ W[a]
    return y + b


def keras_transpose_size(size, k, s, d, padding, output_padding):
    span = (k - 1) * d + 1
    if output_padding is None:
        return size * s + max(span - s, 0) if padding == "valid" else size * s
    return (size - 1) * s + span - 2 * (span // 2 if padding == "same" else 0) + output_padding


def ref_conv_transpose(x, W, b, stride, padding, dilation, output_padding=None):
    """Each input pixel adds x @ W[a, b].T at (i * s + a * d, j * s + b * d); then Keras's
    output window: TF's "same" crop (the odd pixel at the end), zeros past the full output."""
    n, h, w, _ = x.shape
    kh, kw, f, _ = W.shape
    full = np.zeros((n, (h - 1) * stride + (kh - 1) * dilation + 1, (w - 1) * stride + (kw - 1) * dilation + 1, f))
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for c in range(kw):
                    full[:, i * stride + a * dilation, j * stride + c * dilation, :] += x[:, i, j, :] @ W[a, c].T
    op = output_padding if output_padding is not None else None
    out = [keras_transpose_size(size, k, stride, dilation, padding, op) for size, k in ((h, kh), (w, kw))]
    start = [0 if padding == "valid" else max(full.shape[1 + a] - out[a], 0) // 2 for a in (0, 1)]
    y = np.zeros((n, out[0], out[1], f))
    piece = full[:, start[0]:start[0] + out[0], start[1]:start[1] + out[1], :]
    y[:, :piece.shape[1], :piece.shape[2], :] = piece
    return y + b


def ref_depthwise(x, D, stride, padding, dilation):
    kh, kw, c, m = D.shape
    if padding == "same":
        pads = [_same_pads(size, k, stride, dilation) for size, k in zip(x.shape[1:3], (kh, kw))]
    else:
        pads = [(0, 0), (0, 0)]
    x = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0)])
    oh = (x.shape[1] - (kh - 1) * dilation - 1) // stride + 1
    ow = (x.shape[2] - (kw - 1) * dilation - 1) // stride + 1
    y = np.zeros((x.shape[0], oh, ow, c * m))
    for i in range(oh):
        for j in range(ow):
            for ch in range(c):
                for mm in range(m):
                    patch = x[:, i * stride:i * stride + (kh - 1) * dilation + 1:dilation,
                              j * stride:j * stride + (kw - 1) * dilation + 1:dilation, ch]
                    y[:, i, j, ch * m + mm] = np.sum(patch * D[:, :, ch, mm], axis=(1, 2))
    return y


def ref_bilinear(x, sh, sw):
    """PyTorch's interpolate(mode="bilinear", align_corners=False), one output pixel at a time."""
    n, h, w, c = x.shape

    def source(o, s, size):
        src = max((o + 0.5) / s - 0.5, 0.0)
        i0 = min(int(math.floor(src)), size - 1)
        return i0, min(i0 + 1, size - 1), src - i0

    y = np.zeros((n, h * sh, w * sw, c))
    for oi in range(h * sh):
        i0, i1, li = source(oi, sh, h)
        for oj in range(w * sw):
            j0, j1, lj = source(oj, sw, w)
            y[:, oi, oj] = ((1 - li) * ((1 - lj) * x[:, i0, j0] + lj * x[:, i0, j1])
                            + li * ((1 - lj) * x[:, i1, j0] + lj * x[:, i1, j1]))
    return y


def ref_pool1d(x, k, s, kind):
    out = (x.shape[1] - k) // s + 1
    reduce = np.max if kind == "max" else np.mean
    return np.stack([reduce(x[:, o * s:o * s + k, :], axis=1) for o in range(out)], axis=1)


# -- forward against the references ------------------------------------------------------------
CONV1D_CASES = {
    "valid": ((2, 7, 3), {"kernel_size": 3}),
    "stride2-same": ((2, 8, 2), {"kernel_size": 3, "stride": 2, "padding": "same"}),
    "dilation2-pad1": ((1, 9, 2), {"kernel_size": 2, "dilation": 2, "padding": 1}),
    "causal-dilated": ((2, 6, 2), {"kernel_size": 3, "dilation": 2, "padding": "causal"}),
}


@pytest.mark.parametrize("case", CONV1D_CASES, ids=list(CONV1D_CASES))
def test_conv1d_matches_reference(be, case):
    shape, kwargs = CONV1D_CASES[case]
    layer = xdl.Conv1D(filters=4, bias_initializer="glorot_uniform", **kwargs)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    y = layer.forward(x)
    assert be.owns(y) and y.dtype == be.xp.float32
    assert tuple(layer.weights.shape) == (kwargs["kernel_size"], shape[2], 4)
    expected = ref_conv1d(x.astype(np.float64), host(layer.weights).astype(np.float64),
                          host(layer.bias).astype(np.float64), kwargs.get("stride", 1),
                          kwargs.get("padding", "valid"), kwargs.get("dilation", 1))
    assert tuple(y.shape) == expected.shape == (shape[0],) + layer.output_shape(shape[1:])
    assert_close(y, expected, rtol=1e-4, atol=1e-5)


TRANSPOSE_CASES = {  # (input shape, kernel, stride, padding, dilation, output_padding)
    "k3-s2-same": ((2, 3, 4, 2), 3, 2, "same", 1, None),
    "k3-s2-valid": ((2, 3, 3, 2), 3, 2, "valid", 1, None),
    "k2-s2-same": ((1, 3, 2, 3), 2, 2, "same", 1, None),
    "k4-s2-same": ((1, 2, 3, 2), 4, 2, "same", 1, None),
    "k1-s2-valid": ((1, 2, 2, 2), 1, 2, "valid", 1, None),  # zeros past the full output
    "k3-s1-same-dil2": ((1, 4, 3, 2), 3, 1, "same", 2, None),
    "k3-s2-same-op1": ((1, 3, 3, 2), 3, 2, "same", 1, 1),
    "k3-s2-valid-op1": ((1, 2, 3, 2), 3, 2, "valid", 1, 1),
}


@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=list(TRANSPOSE_CASES))
def test_conv_transpose_matches_reference(be, case):
    shape, k, s, padding, d, op = TRANSPOSE_CASES[case]
    layer = xdl.Conv2DTranspose(filters=3, kernel_size=k, stride=s, padding=padding, dilation=d, output_padding=op,
                                bias_initializer="glorot_uniform")
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    y = layer.forward(x)
    assert tuple(layer.weights.shape) == (k, k, 3, shape[3]) and y.dtype == be.xp.float32
    expected = ref_conv_transpose(x.astype(np.float64), host(layer.weights).astype(np.float64),
                                  host(layer.bias).astype(np.float64), s, padding, d, op)
    assert tuple(y.shape) == expected.shape == (shape[0],) + layer.output_shape(shape[1:])
    assert_close(y, expected, rtol=1e-4, atol=1e-5)


def test_conv_transpose_keras_sizes():
    """Keras's documented sizes: "same" doubles with stride 2; "valid" adds max(k - s, 0)."""
    layer = xdl.Conv2DTranspose(filters=1, kernel_size=3, stride=2, padding="same")
    assert layer.output_shape((7, 8, 2)) == (14, 16, 1)
    assert xdl.Conv2DTranspose(filters=1, kernel_size=3, stride=2).output_shape((7, 8, 2)) == (15, 17, 1)
    assert xdl.Conv2DTranspose(filters=1, kernel_size=(2, 5), stride=(2, 1)).output_shape((3, 3, 1)) == (6, 7, 1)
    assert xdl.Conv2DTranspose(filters=1, kernel_size=3, stride=2, padding="same",
                               output_padding=0).output_shape((4, None, 1)) == (7, None, 1)


@pytest.mark.parametrize("padding,stride,multiplier", [("valid", 1, 1), ("same", 2, 2), ("same", 1, 3)])
def test_depthwise_and_separable_match_reference(be, padding, stride, multiplier):
    x = np.random.default_rng(3).standard_normal((2, 5, 6, 3)).astype(np.float32)
    depth = xdl.DepthwiseConv2D(3, stride=stride, padding=padding, depth_multiplier=multiplier,
                                bias_initializer="glorot_uniform")
    y = depth.forward(x)
    D = host(depth.depthwise_kernel.value).astype(np.float64)
    expected = ref_depthwise(x.astype(np.float64), D, stride, padding, 1) + host(depth.b.value)
    assert tuple(y.shape) == expected.shape == (2,) + depth.output_shape((5, 6, 3))
    assert_close(y, expected, rtol=1e-4, atol=1e-5)

    sep = xdl.SeparableConv2D(4, 3, stride=stride, padding=padding, depth_multiplier=multiplier,
                              bias_initializer="glorot_uniform")
    y = sep.forward(x)
    D, P = host(sep.depthwise_kernel.value).astype(np.float64), host(sep.pointwise_kernel.value)[0, 0]
    expected = ref_depthwise(x.astype(np.float64), D, stride, padding, 1) @ P + host(sep.b.value)
    assert tuple(y.shape) == expected.shape == (2,) + sep.output_shape((5, 6, 3))
    assert_close(y, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size", [(2, 2), (3, 2), (1, 4)])
def test_upsampling_matches_reference(be, size):
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 2)).astype(np.float32)
    nearest = xdl.UpSampling2D(size).forward(x)
    assert_close(nearest, np.repeat(np.repeat(x, size[0], axis=1), size[1], axis=2), rtol=0, atol=0)
    bilinear = xdl.UpSampling2D(size, interpolation="bilinear").forward(x)
    assert_close(bilinear, ref_bilinear(x.astype(np.float64), *size), rtol=1e-5, atol=1e-6)


def test_bilinear_one_pixel_wide(be):
    x = np.random.default_rng(5).standard_normal((1, 1, 3, 1))
    assert_close(xdl.UpSampling2D(3, interpolation="bilinear", dtype="float64").forward(x),
                 ref_bilinear(x, 3, 3), rtol=1e-12)


def test_pooling_1d_and_global_match_reference(be):
    x = np.random.default_rng(6).standard_normal((2, 9, 3)).astype(np.float32)
    assert_close(xdl.MaxPool1D(3, stride=2).forward(x), ref_pool1d(x, 3, 2, "max"), rtol=0, atol=0)
    assert_close(xdl.AveragePooling1D(2).forward(x), ref_pool1d(x, 2, 2, "mean"), rtol=1e-6)
    assert_close(xdl.GlobalAveragePooling1D().forward(x), x.mean(axis=1), rtol=1e-6)
    assert_close(xdl.GlobalMaxPooling1D().forward(x), x.max(axis=1), rtol=0, atol=0)
    assert xdl.MaxPooling1D is xdl.MaxPool1D and xdl.AveragePooling1D is xdl.AvgPool1D
    same = xdl.MaxPool1D(2, padding="same").forward(x)  # ceil(9 / 2) windows, the last one short
    assert_close(same, np.concatenate([ref_pool1d(x[:, :8], 2, 2, "max"), x[:, 8:]], axis=1), rtol=0, atol=0)
    images = np.random.default_rng(7).standard_normal((2, 3, 4, 5)).astype(np.float32)
    assert_close(xdl.GlobalMaxPooling2D().forward(images), images.max(axis=(1, 2)), rtol=0, atol=0)


def test_padding_and_cropping(be):
    x = np.random.default_rng(8).standard_normal((2, 4, 5, 2)).astype(np.float32)
    pad = xdl.ZeroPadding2D(((1, 2), (0, 3)))
    assert_close(pad.forward(x), np.pad(x, [(0, 0), (1, 2), (0, 3), (0, 0)]), rtol=0, atol=0)
    assert pad.output_shape((4, 5, 2)) == (7, 8, 2) and xdl.ZeroPadding2D(1).padding == ((1, 1), (1, 1))
    crop = xdl.Cropping2D((1, 2))
    assert_close(crop.forward(x), x[:, 1:3, 2:3, :], rtol=0, atol=0)
    assert crop.output_shape((4, 5, 2)) == (2, 1, 2)


# -- gradients: central differences in float64, tiny inputs ------------------------------------
GRADIENT_CASES = {
    "conv1d-same-stride2": (lambda: xdl.Conv1D(2, 3, stride=2, padding="same", bias_initializer="glorot_uniform"),
                            (2, 5, 2)),
    "conv1d-causal": (lambda: xdl.Conv1D(2, 2, dilation=2, padding="causal", activation="tanh"), (1, 4, 2)),
    "transpose-same": (lambda: xdl.Conv2DTranspose(2, 3, stride=2, padding="same",
                                                   bias_initializer="glorot_uniform"), (1, 2, 3, 2)),
    "transpose-valid-k1": (lambda: xdl.Conv2DTranspose(2, 1, stride=2), (1, 2, 2, 1)),
    "transpose-op1": (lambda: xdl.Conv2DTranspose(1, 3, stride=2, padding="same", output_padding=1,
                                                  use_bias=False), (1, 2, 2, 2)),
    "depthwise": (lambda: xdl.DepthwiseConv2D(2, stride=2, padding="same", depth_multiplier=2,
                                              bias_initializer="glorot_uniform"), (1, 3, 3, 2)),
    "separable": (lambda: xdl.SeparableConv2D(2, 2, dilation=2, bias_initializer="glorot_uniform"), (1, 4, 3, 2)),
    "upsampling-nearest": (lambda: xdl.UpSampling2D((2, 3)), (1, 2, 2, 2)),
    "upsampling-bilinear": (lambda: xdl.UpSampling2D((3, 2), interpolation="bilinear"), (1, 3, 2, 2)),
    "zero-padding": (lambda: xdl.ZeroPadding2D(((0, 1), (2, 1))), (1, 2, 2, 2)),
    "cropping": (lambda: xdl.Cropping2D(((1, 0), (0, 1))), (1, 3, 3, 2)),
    "max-pool1d": (lambda: xdl.MaxPool1D(2, stride=1, padding="same"), (2, 5, 2)),
    "avg-pool1d": (lambda: xdl.AvgPool1D(3, stride=2, padding=1), (2, 5, 2)),
    "global-avg-1d": (lambda: xdl.GlobalAveragePooling1D(), (2, 4, 3)),
    "global-max-1d": (lambda: xdl.GlobalMaxPooling1D(), (2, 4, 3)),
    "global-max-2d": (lambda: xdl.GlobalMaxPooling2D(), (2, 3, 2, 3)),
}


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=list(GRADIENT_CASES))
def test_gradients(be, case):
    make, shape = GRADIENT_CASES[case]
    with xdl.use_floatx("float64"):  # the layers build in float64 on first use
        check_gradients(make(), np.random.default_rng(9).standard_normal(shape), be)


# -- shapes and errors ----------------------------------------------------------------------
@pytest.mark.parametrize("make,shape,match", [
    (lambda: xdl.Conv1D(2, 3, input_channels=3, name="c1"), (2, 8, 2), r"c1 \(Conv1D\).*\(N, L, 3\).*\(N, 8, 2\)"),
    (lambda: xdl.Conv1D(2, 3, name="c1"), (2, 8), r"c1 \(Conv1D\).*\(N, L, C\).*\(N, 8\); .*\(N, L, 1\)"),
    (lambda: xdl.Conv1D(2, 5, name="c1"), (2, 3, 1), r"c1 \(Conv1D\).*smaller than its 1x5 window"),
    (lambda: xdl.Conv2DTranspose(2, 3, input_channels=4, name="t"), (1, 3, 3, 2),
     r"t \(Conv2DTranspose\).*\(N, H, W, 4\)"),
    (lambda: xdl.DepthwiseConv2D(3, name="dw"), (1, 8, 2), r"dw \(DepthwiseConv2D\).*\(N, H, W, C\)"),
    (lambda: xdl.SeparableConv2D(2, 5, name="sep"), (1, 3, 3, 1), r"sep \(SeparableConv2D\).*smaller"),
    (lambda: xdl.UpSampling2D(name="up"), (1, 8), r"up \(UpSampling2D\).*\(N, H, W, C\)"),
    (lambda: xdl.Cropping2D(2, name="crop"), (1, 4, 6, 1), r"crop \(Cropping2D\).*leaves nothing.*\(N, 4, 6, 1\)"),
    (lambda: xdl.MaxPool1D(name="mp"), (1, 4, 4, 1), r"mp \(MaxPool1D\).*\(N, L, C\)"),
    (lambda: xdl.GlobalAveragePooling1D(name="gap"), (1, 4), r"gap \(GlobalAveragePooling1D\)"),
    (lambda: xdl.GlobalMaxPooling2D(name="gmp"), (1, 4, 4), r"gmp \(GlobalMaxPooling2D\).*\(N, H, W, C\)"),
])
def test_shape_errors_name_the_layer(be, make, shape, match):
    with pytest.raises(xdl.ShapeError, match=match):
        make().forward(np.ones(shape))


def test_built_layers_check_later_inputs(be):
    layer = xdl.DepthwiseConv2D(2, name="dw")
    layer.forward(np.ones((1, 4, 4, 3)))
    with pytest.raises(xdl.ShapeError, match=r"dw \(DepthwiseConv2D\).*\(N, H, W, 3\).*\(N, 4, 4, 2\)"):
        layer.forward(np.ones((1, 4, 4, 2)))


@pytest.mark.parametrize("make,match", [
    (lambda: xdl.Conv1D(kernel_size=3), r"filters \(xdl.s output_channels\) and kernel_size are required"),
    (lambda: xdl.Conv1D(2, 0), "kernel_size must be a positive int"),
    (lambda: xdl.Conv1D(2, 3, padding="full"), "padding must be"),
    (lambda: xdl.Conv2DTranspose(2, 3, stride=2, output_padding=2), "output_padding .* smaller than the stride"),
    (lambda: xdl.Conv2DTranspose(2, 3, padding=1), "padding must be 'valid' or 'same'"),
    (lambda: xdl.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier must be a positive int"),
    (lambda: xdl.SeparableConv2D(kernel_size=3), "filters is required"),
    (lambda: xdl.UpSampling2D(interpolation="bicubic"), "interpolation must be one of 'nearest', 'bilinear', got 'bicubic'"),
    (lambda: xdl.ZeroPadding2D(-1), "padding must be an int >= 0"),
])
def test_bad_arguments(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make()


# -- files and summary ------------------------------------------------------------------------
def _image_model():
    return xdl.Sequential([
        xdl.ZeroPadding2D(1), xdl.DepthwiseConv2D(3, depth_multiplier=2, activation="elu"),
        xdl.SeparableConv2D(3, 3, padding="same", activation="swish"),
        xdl.Conv2DTranspose(2, 3, stride=2, padding="same", output_padding=1, activation="softplus"),
        xdl.UpSampling2D(interpolation="bilinear"), xdl.Cropping2D(((1, 0), (2, 1))), xdl.GlobalMaxPooling2D(),
        xdl.Dense(output_size=2)])


def _sequence_model():
    return xdl.Sequential([
        xdl.Conv1D(4, 3, padding="causal", dilation=2, activation="mish"), xdl.MaxPooling1D(2, padding="same"),
        xdl.Conv1D(3, 2, stride=2, padding=1, activation="softsign"), xdl.AveragePooling1D(2, stride=1),
        xdl.GlobalAveragePooling1D(), xdl.Dense(output_size=2)])


@pytest.mark.parametrize("make,shape", [(_image_model, (2, 4, 5, 2)), (_sequence_model, (2, 9, 3))],
                         ids=["images", "sequences"])
def test_models_save_load_train_and_summarize(be, tmp_path, make, shape):
    model = make()
    x = np.random.default_rng(10).standard_normal(shape).astype(np.float32)
    before = host(model.forward(x))
    model.save(tmp_path / "m.xdl")
    loaded = xdl.Sequential.load(tmp_path / "m.xdl")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    assert_close(loaded.forward(x), before, rtol=1e-6, atol=1e-7)
    lines = []
    loaded.summary(print_fn=lines.append)
    assert type(model.layers[1]).__name__ in "\n".join(lines)
    loaded.compile(loss=xdl.MSE(), optimizer=xdl.SGD(learning_rate=0.05))
    history = loaded.fit(x, np.zeros((shape[0], 2), dtype=np.float32), epochs=3, batch_size=2, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_summary_lists_the_new_layers(be, capsys):
    model = _image_model()
    model.build((4, 5, 2))
    model.summary()
    out = capsys.readouterr().out
    for name in ("ZeroPadding2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "UpSampling2D",
                 "Cropping2D", "GlobalMaxPooling2D"):
        assert name in out
    assert "(N, 8, 10, 2)" in out  # the transposed convolution: (4 - 1) * 2 + 3 - 2 * 1 + 1 rows


# -- PyTorch's own functions, where installed ------------------------------------------------
def test_against_torch_functions():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(11)
    with xdl.use_backend("numpy"), xdl.use_floatx("float64"):
        x = rng.standard_normal((2, 9, 3))
        conv = xdl.Conv1D(4, 3, stride=2, dilation=2, padding=2, bias_initializer="glorot_uniform")
        got = host(conv.forward(x))
        want = F.conv1d(torch.tensor(x).permute(0, 2, 1), torch.tensor(host(conv.weights)).permute(2, 1, 0),
                        torch.tensor(host(conv.bias)), stride=2, padding=2, dilation=2).permute(0, 2, 1)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-12)

        images = rng.standard_normal((2, 4, 5, 3))
        t_images = torch.tensor(images).permute(0, 3, 1, 2)
        for k, s, padding, op in [(3, 2, "same", None), (4, 2, "same", None), (3, 2, "valid", None),
                                  (3, 2, "valid", 1)]:
            tconv = xdl.Conv2DTranspose(2, k, stride=s, padding=padding, output_padding=op,
                                        bias_initializer="glorot_uniform")
            got = host(tconv.forward(images))
            full = F.conv_transpose2d(t_images, torch.tensor(host(tconv.weights)).permute(3, 2, 0, 1),
                                      torch.tensor(host(tconv.bias)), stride=s,
                                      output_padding=op or 0).permute(0, 2, 3, 1).numpy()
            start = 0 if padding == "valid" else max(full.shape[1] - got.shape[1], 0) // 2
            np.testing.assert_allclose(got[:, :full.shape[1] - start, :full.shape[2] - start],
                                       full[:, start:start + got.shape[1], start:start + got.shape[2]],
                                       rtol=1e-10, atol=1e-12)

        depth = xdl.DepthwiseConv2D(3, depth_multiplier=2, padding="same", bias_initializer="glorot_uniform")
        got = host(depth.forward(images))
        D = torch.tensor(host(depth.depthwise_kernel.value))  # (kh, kw, C, M) -> (C * M, 1, kh, kw)
        want = F.conv2d(t_images, D.permute(2, 3, 0, 1).reshape(6, 1, 3, 3), torch.tensor(host(depth.b.value)),
                        padding=1, groups=3).permute(0, 2, 3, 1)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-12)

        up = host(xdl.UpSampling2D((2, 3), interpolation="bilinear").forward(images))
        want = F.interpolate(t_images, scale_factor=(2, 3), mode="bilinear", align_corners=False)
        np.testing.assert_allclose(up, want.permute(0, 2, 3, 1).numpy(), rtol=1e-10, atol=1e-12)


def test_regularizers_travel_with_the_layer(be):
    for layer in (xdl.Conv1D(2, 3, kernel_regularizer=xdl.regularizers.L2(0.1)),
                  xdl.Conv2DTranspose(2, 3, bias_regularizer="l1")):
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config
        assert again.kernel_regularizer == layer.kernel_regularizer
        assert again.bias_regularizer == layer.bias_regularizer
    conv = xdl.Conv1D(2, 3, kernel_regularizer=xdl.regularizers.L2(0.1), input_channels=2)
    assert conv.W.regularizer == xdl.regularizers.L2(0.1) and conv.b.regularizer is None


@pytest.mark.parametrize("make,shape", [(f, s) for f, s in GRADIENT_CASES.values()], ids=list(GRADIENT_CASES))
def test_empty_batch(be, make, shape):
    layer = make()
    x = np.zeros((0,) + shape[1:], dtype=np.float32)
    y = layer.forward(x, training=True)
    assert tuple(y.shape) == (0,) + layer.output_shape(shape[1:])
    assert tuple(layer.backward(np.zeros(tuple(y.shape), dtype=np.float32)).shape) == x.shape
