"""Speed work must not change results: backend fast paths equal the portable forms, and the
training step's shortcut (no dX for the first trainable layer) leaves every gradient as it was."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import RTOL_FOR, assert_close, host

import xdl
from xdl import backends


def mixed_signs(be, shape, dtype="float32"):
    x = np.random.default_rng(0).standard_normal(shape)
    x.reshape(-1)[::3] = 0.0
    return be.asarray(x, dtype=be.dtype(dtype))


@pytest.mark.parametrize("rows", [1, 6, 33])
def test_sum_rows_fast_path_equals_portable(be, rows):
    for dtype in ("float32", "float64"):  # the NumPy path caches ones per (rows, dtype)
        x = mixed_signs(be, (rows, 4), dtype)
        s = be.sum_rows(x)
        assert s.dtype == x.dtype and tuple(s.shape) == (4,)
        assert_close(s, backends.Backend.sum_rows(be, x), rtol=1e-6, atol=1e-6)


def _model():
    return xdl.NeuralNetwork([xdl.ReLU(), xdl.Dense(4, 5), xdl.Tanh(), xdl.Dense(5, 3)])


def test_train_step_gradients_equal_full_backward(be):
    x = np.random.default_rng(1).standard_normal((6, 4))
    y = np.random.default_rng(2).standard_normal((6, 3))
    xdl.seed(3)
    full = _model()
    xdl.seed(3)
    fast = _model()  # the same initial weights
    X, Y = be.asarray(x, dtype=be.xp.float32), be.asarray(y, dtype=be.xp.float32)
    for model in (full, fast):
        model.compile(loss="mse", optimizer=xdl.SGD(1e-9))
        model.forward(X)
    loss = full.loss.call(Y, full.forward(X, training=True))
    full.backward(full.loss.backward())
    assert_close(fast.train_step(X, Y)[0], loss, rtol=1e-6)
    for p, q in zip(full.parameters(), fast.parameters()):
        assert q.grad.dtype == be.xp.float32
        assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-7, err_msg=p.name)


class Counting(xdl.ReLU):
    calls = 0

    def apply(self, x, training=False):
        y, backprop = super().apply(x, training)

        def counted(dy, need_dx=True):
            Counting.calls += 1
            return backprop(dy, need_dx)

        return y, counted


def test_train_step_stops_at_first_trainable_layer(be):
    model = xdl.NeuralNetwork([Counting(), xdl.Dense(3, 2), Counting()])
    model.compile(loss="mse", optimizer="sgd")
    x, y = be.asarray(np.ones((2, 3)), dtype=be.xp.float32), be.asarray(np.ones((2, 2)), dtype=be.xp.float32)
    model.forward(x)
    Counting.calls = 0
    model.train_step(x, y)
    assert Counting.calls == 1  # the layer after Dense only: nothing reads the one before
    assert model.backward(np.ones((2, 2))).shape == (2, 3)  # the public backward still returns dX
    assert Counting.calls == 3


def test_dense_backprop_without_dx_gives_the_same_gradients(be):
    layer = xdl.Dense(3, 2)
    x = np.random.default_rng(4).standard_normal((4, 3))
    dy = be.asarray(np.random.default_rng(5).standard_normal((4, 2)), dtype=be.xp.float32)
    layer.forward(x)
    layer.backward(dy)
    expected = host(layer.dweights), host(layer.dbias)
    layer.W.grad = layer.b.grad = None
    _, backprop = layer.apply(be.asarray(x, dtype=be.xp.float32), training=True)
    assert backprop(dy, need_dx=False) is None
    assert_close(layer.dweights, expected[0])
    assert_close(layer.dbias, expected[1])


def test_training_step_stays_float32(be):
    model = xdl.NeuralNetwork([xdl.Dense(4, 5), xdl.ReLU(), xdl.Dense(5, 3)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.SGD(0.1))
    x = be.asarray(np.random.default_rng(6).standard_normal((6, 4)), dtype=be.xp.float32)
    labels = be.asarray(np.array([0, 1, 2, 0, 1, 2]))
    model.forward(x)
    for _ in range(2):  # the second step updates arrays the first one wrote
        loss, out = model.train_step(x, labels)
    assert loss.dtype == be.xp.float32 and out.dtype == be.xp.float32
    for p in model.parameters():
        assert p.value.dtype == be.xp.float32 and p.grad.dtype == be.xp.float32, p.name


# -- fused kernels and strided copies against the portable layer code ------------------------

def _portable(monkeypatch, be):
    """Run the portable layer code on ``be``: no fused kernels, no strided im2col."""
    monkeypatch.setattr(type(be), "fused", frozenset())
    monkeypatch.setattr(type(be), "im2col", lambda self, *args: False)


def _needs(be, kernel):
    if kernel not in be.fused:
        pytest.skip(f"{be.name} has no fused {kernel} here")


def _both(monkeypatch, be, run):
    """``run()`` with the backend's fast paths, then with the portable code."""
    fast = [host(a) for a in run()]
    with monkeypatch.context() as m:
        _portable(m, be)
        slow = [host(a) for a in run()]
    return fast, slow


POOLS = {  # id: (input shape, pool, stride, padding)
    "tiles": ((2, 6, 4, 3), 2, None, "valid"),
    "crop": ((2, 5, 7, 3), 2, None, "valid"),
    "overlap": ((2, 5, 5, 2), 3, 1, "valid"),
    "gaps": ((1, 7, 7, 2), 2, 3, "valid"),
    "same-3x2": ((2, 5, 6, 2), (3, 2), 2, "same"),
    "pad1": ((1, 4, 5, 2), 3, 2, 1),
}


@pytest.mark.parametrize("case", POOLS, ids=list(POOLS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_max_pool_equals_portable(be, monkeypatch, case, dtype):
    _needs(be, "max_pool")
    shape, pool, stride, padding = POOLS[case]
    rng = np.random.default_rng(20)
    x = rng.integers(0, 3, shape).astype(dtype)  # ties in most windows
    x[0, 0, 0, 0] = np.nan  # a window whose maximum is NaN: NaN out, no gradient
    layer = xdl.MaxPool2D(pool, stride, padding, dtype=dtype)
    dy = rng.standard_normal((shape[0],) + layer.output_shape(shape[1:])).astype(dtype)
    (y, dx), (y_slow, dx_slow) = _both(monkeypatch, be, lambda: (layer.forward(x), layer.backward(dy)))
    assert y.dtype == dx.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, y_slow)  # the same maxima, NaN where the portable form has it
    # the same picks; where windows overlap, sums in another order
    np.testing.assert_allclose(dx, dx_slow, rtol=RTOL_FOR[dtype], atol=RTOL_FOR[dtype])


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf * 0, as intended
def test_fused_relu_equals_portable(be, monkeypatch):
    _needs(be, "relu")
    x = np.array([[-2.0, -0.0, 0.0, 1e-30, 3.0, np.nan, np.inf, -np.inf]] * 3, dtype=np.float32)
    dy = np.random.default_rng(21).standard_normal(x.shape).astype(np.float32)
    dy[0, 5] = np.nan
    layer = xdl.ReLU()
    fast, slow = _both(monkeypatch, be, lambda: (layer.forward(x), layer.backward(dy)))
    for got, want in zip(fast, slow):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


CONVS = {  # id: (input shape, Conv2D arguments); C_in * kw >= 32 takes the strided im2col
    "narrow": ((2, 6, 5, 2), {"kernel_size": 3}),
    "wide": ((2, 6, 5, 16), {"kernel_size": 3}),
    "wide-stride2-same": ((2, 7, 6, 16), {"kernel_size": 3, "stride": 2, "padding": "same"}),
    "dilation2": ((1, 7, 7, 16), {"kernel_size": 3, "dilation": 2}),
    "rect-pad1": ((1, 5, 6, 12), {"kernel_size": (2, 3), "padding": 1, "stride": (2, 1)}),
}


@pytest.mark.parametrize("case", CONVS, ids=list(CONVS))
def test_conv_fast_paths_equal_portable(be, monkeypatch, case):
    shape, kwargs = CONVS[case]
    rng = np.random.default_rng(22)
    layer = xdl.Conv2D(output_channels=5, bias_initializer="glorot_uniform", **kwargs)
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal((shape[0],) + layer.output_shape(shape[1:])).astype(np.float32)

    def run():
        y = layer.forward(x, training=True)
        return y, layer.backward(dy), layer.W.grad, layer.b.grad

    copies, im2col = [], type(be).im2col  # what im2col answers: True where it made the one copy

    def recording(self, *args):
        copies.append(im2col(self, *args))
        return copies[-1]

    monkeypatch.setattr(type(be), "im2col", recording)
    fast, slow = _both(monkeypatch, be, run)
    for got, want, what in zip(fast, slow, ("y", "dx", "dW", "db")):
        assert_close(got, want, rtol=1e-5, atol=1e-5, err_msg=what)
    strided = im2col is not backends.Backend.im2col and shape[-1] * layer.kernel_size[1] >= 32 \
        and layer.dilation[1] == 1
    assert copies == [strided], f"{be.name}: im2col answered {copies}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings are Linux's")
@pytest.mark.parametrize("setting,expected", [(None, "True"), ("0", "False")])
def test_cpu_backends_keep_freed_memory_unless_told_not_to(setting, expected):
    env = {k: v for k, v in os.environ.items() if k != "XDL_KEEP_FREED_MEMORY"}
    if setting is not None:
        env["XDL_KEEP_FREED_MEMORY"] = setting
    code = "import xdl.backends._host_memory as m; print(m.keep_freed_memory(), m.keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [expected, expected]
