"""Speed work must not change results: each adapter's fast paths (backends/_base.py's hooks, numba's
kernels) equal the portable forms, flat parameter buffers step as the per-parameter path does."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import xdl
from tests.helpers import RTOL_FOR, assert_close, host
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


@pytest.mark.parametrize("shape", [(5000, 10, 32), (300, 10, 32), (4000, 40, 64)], ids=["blocks", "short", "wide"])
def test_matmul_t_equals_portable(be, monkeypatch, shape):
    """``a.T @ b`` over many rows: in blocks of rows where the adapter sums them so (NumPy:
    few outputs), one product otherwise."""
    rows, m, n = shape
    rng = np.random.default_rng(23)
    a, b = (be.asarray(rng.standard_normal((rows, k)).astype(np.float32)) for k in (m, n))
    fast, slow = _both(monkeypatch, be, lambda: [be.matmul_t(a, b)])
    assert fast[0].shape == (m, n) and fast[0].dtype == np.float32
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(fast[0], host(a).T.astype(np.float64) @ host(b), rtol=1e-4, atol=1e-3)


# -- each adapter's fast paths against the portable forms of backends/_base.py ---------------

def _overridden(be):
    """The hooks ``be``'s adapter overrides (every one of them a hook ``Backend`` defines)."""
    return [name for name in backends.Backend.HOOKS if getattr(type(be), name) is not getattr(backends.Backend, name)]


def _portable(monkeypatch, be):
    """Run on ``be`` with the portable form of every hook."""
    for name in _overridden(be):
        monkeypatch.setattr(type(be), name, getattr(backends.Backend, name))


def _needs(be, hook):
    if hook not in _overridden(be):
        pytest.skip(f"{be.name} has no fast {hook}: the portable form is all there is")


def _both(monkeypatch, be, run):
    """``run()`` with the backend's fast paths, then with the portable forms."""
    fast = [host(a) for a in run()]
    with monkeypatch.context() as m:
        _portable(m, be)
        slow = [host(a) for a in run()]
    return fast, slow


def test_adapters_override_only_hooks_that_backend_defines():
    import importlib

    public = {name for name in vars(backends.Backend) if not name.startswith("_")}
    assert set(backends.Backend.HOOKS) <= public
    for module in ("numpy", "torch", "cupy"):
        adapter = importlib.import_module(f"xdl.backends.{module}")
        classes = [c for c in vars(adapter).values()
                   if isinstance(c, type) and issubclass(c, backends.Backend) and c is not backends.Backend]
        assert classes, module
        for cls in classes:
            extra = {name for name in vars(cls) if not name.startswith("_")} - public
            assert not extra, f"{cls.__name__} defines {sorted(extra)}, which Backend does not: a layer could not call them"


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
@pytest.mark.parametrize("relu", [False, True], ids=["", "relu"])
def test_fast_max_pool_equals_portable(be, monkeypatch, case, dtype, relu):
    """The pooling alone, and with the ReLU a graph fuses into it (``relu_max_pool``)."""
    _needs(be, "max_pool")
    shape, pool, stride, padding = POOLS[case]
    rng = np.random.default_rng(20)
    x = rng.integers(-2 if relu else 0, 3, shape).astype(dtype)  # ties in most windows
    x[0, 0, 0, 0] = np.nan  # a window whose maximum is NaN: NaN out
    layers = [xdl.ReLU(dtype=dtype)] * relu + [xdl.MaxPool2D(pool, stride, padding, dtype=dtype)]
    model = xdl.Sequential(layers)
    model.build(shape[1:])
    assert len(model.graph.steps) == 1  # the ReLU inside the pooling
    dy = rng.standard_normal((shape[0],) + model.graph.propagate([shape[1:]])[0]).astype(dtype)

    def run():
        y, _, backprop = model.graph.run([be.asarray(x)], True)
        return y[0], backprop([be.asarray(dy)], True)[0]

    (y, dx), (y_slow, dx_slow) = _both(monkeypatch, be, run)
    assert y.dtype == dx.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, y_slow)  # the same maxima, NaN where the portable form has it
    # the same picks (where a NaN window's gradient goes is each library's own: left out); where
    # windows overlap, sums in another order
    np.testing.assert_allclose(dx[1:], dx_slow[1:], rtol=RTOL_FOR[dtype], atol=RTOL_FOR[dtype])
    np.testing.assert_allclose(dx[:1, ..., 1:], dx_slow[:1, ..., 1:], rtol=RTOL_FOR[dtype], atol=RTOL_FOR[dtype])


CONV_POOLS = {  # id: (input shape, the convolution's arguments, the pooling's)
    "crop": ((3, 11, 10, 8), dict(kernel_size=3), dict(pool_size=2)),
    "same-strided": ((2, 12, 9, 16), dict(kernel_size=(3, 2), strides=(2, 1), padding="same"),
                     dict(pool_size=3, strides=2, padding="same")),
    "overlap": ((2, 9, 9, 8), dict(kernel_size=3, use_bias=False, dilation_rate=(2, 1)), dict(pool_size=3, strides=1)),
    "gaps": ((2, 12, 12, 6), dict(kernel_size=3), dict(pool_size=2, strides=3)),
    "1d": ((3, 17, 8), dict(kernel_size=3, padding="causal"), dict(pool_size=2)),
    "1d-same-strided": ((2, 20, 16), dict(kernel_size=2, strides=2), dict(pool_size=3, strides=2, padding="same")),
}


@pytest.mark.parametrize("case", CONV_POOLS, ids=list(CONV_POOLS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("relu", [False, True], ids=["", "relu"])
@pytest.mark.parametrize("need_dx", [False, True], ids=["first", "dx"])
def test_fast_pooled_conv_backward_equals_portable(be, monkeypatch, case, dtype, relu, need_dx):
    """A convolution that only a max pooling reads: the kernel sends each pooled gradient to
    its one output (``pooled_conv_backward``), the portable form runs the layers' backward."""
    _needs(be, "pooled_conv_backward")
    shape, conv, pool = CONV_POOLS[case]
    rng = np.random.default_rng(22)
    with xdl.use_floatx(dtype):
        conv_type, pool_type = (xdl.Conv2D, xdl.MaxPool2D) if len(shape) == 4 else (xdl.Conv1D, xdl.MaxPool1D)
        layers = [conv_type(filters=5, **conv)] + [xdl.ReLU()] * relu + [pool_type(**pool)]
        model = xdl.Sequential(layers)
        model.build(shape[1:])
    assert len(model.graph.steps) == 1
    x = rng.standard_normal(shape).astype(dtype)
    x[0, :4, :4] = 0.0  # windows of equal maxima (the bias alone): the first one takes the gradient
    dy = rng.standard_normal((shape[0],) + model.graph.propagate([shape[1:]])[0]).astype(dtype)

    def run():
        model.zero_grad()
        y, _, backprop = model.graph.run([be.asarray(x)], True)
        dx = backprop([be.asarray(dy)], need_dx)
        return [y[0]] + [p.grad for p in layers[0].parameters()] + (dx if need_dx else [])

    fast, slow = _both(monkeypatch, be, run)
    for got, want in zip(fast, slow):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=RTOL_FOR[dtype], atol=RTOL_FOR[dtype])


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf * 0, as intended
def test_fast_relu_equals_portable(be, monkeypatch):
    _needs(be, "relu")
    # not -inf: the portable product gives NaN there, PyTorch's relu 0
    x = np.array([[-2.0, -0.0, 0.0, 1e-30, 3.0, 5.0, np.inf, -1e30]] * 600, dtype=np.float32)  # kernels' sizes
    dy = np.random.default_rng(21).standard_normal(x.shape).astype(np.float32)
    dy[0, 5] = np.nan
    layer = xdl.ReLU()
    fast, slow = _both(monkeypatch, be, lambda: (layer.forward(x), layer.backward(dy)))
    for got, want in zip(fast, slow):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)  # -0.0 == 0.0: the sign of a zero may differ


def test_relu_passes_nan_through(be):
    y = host(xdl.ReLU().forward(np.array([[np.nan, -1.0, 2.0]], dtype=np.float32)))
    assert np.isnan(y[0, 0]) and y[0, 1] == 0 and y[0, 2] == 2


CONVS = {  # id: (input shape, Conv2D arguments); C_in * kw >= 6 takes NumPy's strided im2col
    "one-channel": ((2, 6, 5, 1), {"kernel_size": 3}),  # runs of 3: NumPy copies per offset
    "narrow": ((2, 6, 5, 2), {"kernel_size": 3}),
    "rgb-5x5-same": ((2, 7, 6, 3), {"kernel_size": 5, "padding": "same"}),
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

    fast, slow = _both(monkeypatch, be, run)
    for got, want, what in zip(fast, slow, ("y", "dx", "dW", "db")):
        assert_close(got, want, rtol=1e-5, atol=1e-5, err_msg=what)


def _dense_stack(be, optimizer):
    xdl.seed(4)
    model = xdl.NeuralNetwork([xdl.Dense(output_size=6), xdl.ReLU(), xdl.Dense(output_size=3)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=optimizer)
    model.build((5,))
    return model


OPTIMIZERS = {
    "sgd": lambda: xdl.SGD(0.1), "momentum": lambda: xdl.SGD(0.1, momentum=0.9),
    "nesterov": lambda: xdl.SGD(0.1, momentum=0.9, nesterov=True), "adam": lambda: xdl.Adam(0.01),
    "adamw": lambda: xdl.AdamW(0.01, weight_decay=0.1), "rmsprop": lambda: xdl.RMSprop(0.01),
    "clipnorm": lambda: xdl.Adam(0.01, clipnorm=0.05), "clipvalue": lambda: xdl.SGD(0.1, clipvalue=0.01),
    "decay": lambda: xdl.SGD(0.1, weight_decay=0.01), "nadam": lambda: xdl.Nadam(0.01),
    "adagrad": lambda: xdl.Adagrad(0.1), "lion": lambda: xdl.Lion(0.01),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_flat_buffer_and_per_parameter_steps_agree(be, monkeypatch, name):
    """The flat buffer (one update for all parameters) and the per-parameter path (libraries
    without views) give the same weights, step by step, with the adapter's fast forms and
    with the portable ones."""
    if be.views(be.xp.zeros((1,)), [(1,)]) is None:
        pytest.skip(f"{be.name} hands out no views: the per-parameter path is all it has")
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 3, 8)
    X, Y = be.asarray(x), be.asarray(y)
    flat, loose = _dense_stack(be, OPTIMIZERS[name]()), _dense_stack(be, OPTIMIZERS[name]())
    with monkeypatch.context() as m:
        m.setattr(type(be), "views", backends.Backend.views)
        loose.train_step((X, Y))
    assert all(p.flat is None for p in loose.parameters())
    for step in range(4):
        flat.train_step((X, Y))
        assert all(p.flat is not None for p in flat.parameters())
        if step:
            with monkeypatch.context() as m:
                m.setattr(type(be), "views", backends.Backend.views)
                loose.train_step((X, Y))
        for p, q in zip(flat.parameters(), loose.parameters()):
            assert_close(p.value, q.value, rtol=2e-6, atol=1e-7, err_msg=f"{name} step {step}: {p.name}")


STEPS = {  # hook: arguments after the arrays (w, g, then state arrays)
    "sgd_step": (0, (0.1,)), "momentum_step": (1, (0.1, 0.9, False)), "adam_step": (2, (0.01, 1e-7, 0.9, 0.999)),
    "rmsprop_step": (1, (0.01, 0.9, 1e-7)), "adagrad_step": (1, (0.1, 1e-7)),
    "nadam_step": (2, (0.01, 0.5, 0.2, 0.3, 1e-7, 0.9, 0.999)), "lion_step": (1, (0.01, 0.9, 0.99)),
}


@pytest.mark.parametrize("hook", STEPS)
def test_fast_optimizer_steps_equal_portable(be, hook):
    n_state, scalars = STEPS[hook]
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(1000).astype(np.float32) for _ in range(2 + n_state)]
    arrays[2:] = [np.abs(a) for a in arrays[2:]]  # second moments are positive
    fast = getattr(be, hook)(*[be.asarray(a.copy()) for a in arrays], *scalars)
    slow = getattr(backends.Backend, hook)(be, *[be.asarray(a.copy()) for a in arrays], *scalars)
    for got, want in zip(fast if isinstance(fast, tuple) else (fast,), slow if isinstance(slow, tuple) else (slow,)):
        assert_close(got, want, rtol=1e-5, atol=1e-6, err_msg=hook)


@pytest.mark.parametrize("in_place", [True, False])
def test_fast_norm_clipping_equals_portable(be, in_place):
    rng = np.random.default_rng(8)
    grads = [rng.standard_normal(n).astype(np.float32) for n in (30, 7)]
    fast = be.scale_by_norm([be.asarray(g.copy()) for g in grads], 0.5, in_place)
    slow = backends.Backend.scale_by_norm(be, [be.asarray(g.copy()) for g in grads], 0.5, in_place)
    for got, want in zip(fast, slow):
        assert_close(got, want, rtol=1e-5, atol=1e-6)
    total = np.sqrt(sum(float(np.sum(host(g) ** 2)) for g in fast))
    assert abs(total - 0.5) < 1e-5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings are Linux's")
@pytest.mark.parametrize("setting,expected", [(None, "True"), ("0", "False")])
def test_cpu_backends_keep_freed_memory_unless_told_not_to(setting, expected):
    env = {k: v for k, v in os.environ.items() if k != "XDL_KEEP_FREED_MEMORY"}
    if setting is not None:
        env["XDL_KEEP_FREED_MEMORY"] = setting
    code = "import xdl.backends._host_memory as m; print(m.keep_freed_memory(), m.keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [expected, expected]


def test_fast_softmax_cross_entropy_equals_portable(be):
    rng = np.random.default_rng(9)
    z = be.asarray(rng.standard_normal((2, 5, 7)).astype(np.float32) * 30)  # large logits: stability
    labels = be.asarray(rng.integers(0, 7, (2, 5)))
    portable = backends.Backend
    for got, want in zip(be.log_softmax(z), portable.log_softmax(be, z)):
        assert_close(got, want, rtol=1e-5, atol=1e-5)
    log_prob, prob = portable.log_softmax(be, z)
    assert_close(be.label_nll_sum(log_prob, labels), portable.label_nll_sum(be, log_prob, labels), rtol=1e-5)
    assert_close(be.label_softmax_grad(prob, labels, 0.1), portable.label_softmax_grad(be, prob, labels, 0.1),
                 rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("sequences", [True, False])
def test_fast_recurrent_scans_equal_portable(be, monkeypatch, kind, sequences):
    rng = np.random.default_rng(10)
    xdl.seed(11)
    layer = getattr(xdl, kind)(6, return_sequences=sequences)
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    dy = rng.standard_normal((3, 5, 6) if sequences else (3, 6)).astype(np.float32)

    def run():
        y = layer.forward(x, training=True)
        return [y, layer.backward(dy)] + [p.grad for p in layer.parameters()]

    fast, slow = _both(monkeypatch, be, run)
    for got, want in zip(fast, slow):
        assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("batch", [3, 17, 32])
def test_recurrent_time_loops_split_over_rows_equal_portable(be, monkeypatch, kind, batch):
    """The float32 LSTM's and GRU's time loops as one kernel per part of the batch, each part
    on a thread of its own with its products cut into column blocks; where blocks would be too
    narrow (the GRU's backward at batch 32 here) the loop stays in Python, as without SciPy;
    batch 3 runs as one part. Initial states and their gradients included."""
    from xdl.backends import _numba

    if not hasattr(be, "_rows") or not _numba.usable() or not _numba.blas():
        pytest.skip("the time loop in one kernel needs the numpy backend, numba and SciPy")
    recurrent = _numba.recurrent
    monkeypatch.setattr(be._rows, "threads", 3)
    monkeypatch.setattr(recurrent, "BLAS_ONE_THREAD", 1 << (17 if kind == "LSTM" else 16))  # blocks at these sizes
    parts = []
    run_parts = be._rows.run
    monkeypatch.setattr(be._rows, "run", lambda part, ranges: (parts.append(len(ranges)), run_parts(part, ranges)))
    rng = np.random.default_rng(12)
    xdl.seed(13)
    layer = getattr(xdl, kind)(64, return_sequences=True, return_state=True)
    x = rng.standard_normal((batch, 7, 5)).astype(np.float32)
    states = [rng.standard_normal((batch, 64)).astype(np.float32) for _ in range(2 if kind == "LSTM" else 1)]
    dys = [rng.standard_normal((batch, 7, 64)).astype(np.float32)] + [rng.standard_normal(s.shape).astype(np.float32)
                                                                       for s in states]

    def run():
        layer.zero_grad()
        ys = layer.forward(x, states, training=True)
        dx = layer.backward(tuple(dys))
        return [*ys, dx, *layer.initial_state_grad] + [p.grad for p in layer.parameters()]

    fast, slow = _both(monkeypatch, be, run)
    width = 64 * (4 if kind == "LSTM" else 3)
    backward = recurrent.loop_plan(batch, np.zeros((width, 64), np.float32), be._rows)
    assert parts == [max(1, min(3, batch // 8))] + ([] if backward is None else [len(backward[0])])
    assert backward is None if (kind, batch) == ("GRU", 32) else backward
    for got, want in zip(fast, slow):
        assert_close(got, want, rtol=1e-4, atol=1e-5)  # float32 sums over 32 x 7 steps
    monkeypatch.setitem(_numba.loader._state, "blas", False)  # without SciPy: the loop in Python
    for got, want in zip([host(a) for a in run()], slow):
        assert_close(got, want, rtol=1e-4, atol=1e-5)  # float32 sums over 32 x 7 steps


def test_time_loop_plan_keeps_each_part_on_its_own_thread():
    pytest.importorskip("numba", reason="the time loops' plan sits beside their kernels (the fast extra)")
    from xdl.backends import _rows
    from xdl.backends._numba.recurrent import loop_plan

    threads = _rows.RowThreads(2)
    ranges, blocks = loop_plan(32, np.zeros((128, 512), np.float32), threads)
    assert ranges == [(0, 16), (16, 32)] and blocks.shape == (4, 128, 128)
    assert 16 * 128 * blocks.shape[2] <= _rows.BLAS_ONE_THREAD
    u = np.arange(128 * 512, dtype=np.float32).reshape(128, 512)
    np.testing.assert_array_equal(np.concatenate(list(loop_plan(32, u, threads)[1]), axis=1), u)
    ranges, blocks = loop_plan(32, np.zeros((512, 128), np.float32), threads)
    assert ranges == [(0, 16), (16, 32)] and blocks.shape == (4, 512, 32)
    assert loop_plan(32, np.zeros((1024, 128), np.float32), threads) is None  # blocks too narrow
    assert loop_plan(32, np.zeros((256, 1024), np.float32), threads) is None  # the product too big
    assert loop_plan(15, np.zeros((128, 512), np.float32), threads)[0] == [(0, 15)]
    assert loop_plan(32, np.zeros((128, 512), np.float32), _rows.ONE_THREAD)[0] == [(0, 32)]


def test_row_threads_wait_for_every_part_and_pass_errors_on():
    import threading
    import time

    from xdl.backends import _rows

    threads, done = _rows.RowThreads(3), []
    assert threads.ranges(10) == [(0, 3), (3, 6), (6, 10)] and threads.ranges(10, 8) == [(0, 10)]

    def part(lo, hi):
        if lo == 0:
            raise ValueError("first part")
        time.sleep(0.05)
        done.append((lo, hi, threading.current_thread() is not threading.main_thread()))

    with pytest.raises(ValueError, match="first part"):
        threads.run(part, threads.ranges(10))
    assert sorted(done) == [(3, 6, True), (6, 10, True)]  # finished before the error came back

    def failing(lo, hi):
        if lo:
            raise KeyError(lo)

    with pytest.raises(KeyError):
        threads.run(failing, threads.ranges(10))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_fast_gelu_equals_portable(be, monkeypatch, approximate):
    _needs(be, "gelu")
    x = np.linspace(-6, 6, 64, dtype=np.float32).reshape(4, 16)
    dy = np.random.default_rng(12).standard_normal(x.shape).astype(np.float32)
    layer = xdl.GELU(approximate=approximate)
    fast, slow = _both(monkeypatch, be, lambda: (layer.forward(x), layer.backward(dy)))
    for got, want in zip(fast, slow):
        assert_close(got, want, rtol=1e-5, atol=2e-6)


def _numba_kernels():
    from xdl.backends import _numba

    if not _numba.usable():
        pytest.skip("numba is not installed (or XDL_FUSED=0): no kernels to check")
    return _numba


def test_numba_float32_tanh_within_a_few_ulp():
    """The float32 LSTM step's own tanh (a rational function, so that its loops vectorize),
    run inside the kernel on 500,000 values: within 8 ulp of the exact tanh everywhere."""
    _numba = _numba_kernels()
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-12, 12, 200_000), rng.standard_normal(200_000),
                        10.0 ** rng.uniform(-9, 1, 99_992), [0.0, -0.0, 9.0, -9.0, 1e30, -1e30, 1e-40, -1e-40]])
    z = x.astype(np.float32).reshape(1, -1)  # one row of 4H gate pre-activations, H = 125,000
    width = z.shape[1]
    S, cs = np.empty((1, 1, width), np.float32), np.zeros((1, 2, width // 4), np.float32)
    tcs, hs = np.empty((1, 1, width // 4), np.float32), np.empty((1, 1, width // 4), np.float32)
    _numba.lstm._lstm_step32(z, np.zeros((1, 1, width), np.float32), 0, S, cs, tcs, hs)
    want = np.tanh(z.astype(np.float64)).reshape(-1)
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(S.reshape(-1) - want) / ulp) <= 8
    for v, expected in [(np.nan, np.nan), (np.inf, 1.0), (-np.inf, -1.0)]:
        np.testing.assert_array_equal(_numba.elementwise.tanh32(np.float32(v)), np.float32(expected))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_parallel_builds_equal_serial_ones(monkeypatch, dtype):
    """Above XDL_PARALLEL_MIN the kernels run their prange builds: the same numbers."""
    _numba = _numba_kernels()
    be = xdl.set_backend("numpy")
    rng = np.random.default_rng(3)

    def run():
        xdl.seed(5)
        lstm, pool = xdl.LSTM(5, return_sequences=True, dtype=dtype), xdl.MaxPool2D(2, dtype=dtype)
        conv = xdl.Conv2D(output_channels=3, kernel_size=2, dtype=dtype)
        x = rng.standard_normal((4, 6, 3)).astype(dtype)
        img = rng.standard_normal((3, 6, 6, 2)).astype(dtype)
        out = [lstm.forward(x, training=True), lstm.backward(np.ones((4, 6, 5), dtype))]
        out += [pool.forward(img, training=True), pool.backward(np.ones((3, 3, 3, 2), dtype))]
        out += [conv.forward(img, training=True), conv.backward(np.ones((3, 5, 5, 3), dtype))]
        return [host(a) for a in out] + [host(p.grad) for p in lstm.parameters() + conv.parameters()]

    state = rng.bit_generator.state
    serial = run()
    rng.bit_generator.state = state
    monkeypatch.setattr(_numba.loader, "PARALLEL_MIN", 0)
    for got, want in zip(run(), serial):
        np.testing.assert_array_equal(got, want)
    assert be.name == "numpy"


_CACHE_PROBE = """
import sys
import numpy as np
from xdl.backends import _numba
assert _numba.usable()
x = np.ones(8, np.float32)
loader, relu = _numba.loader, _numba.elementwise._relu
loader._state["threads"] = 2
serial = loader.for_work(relu, 1)
loader.PARALLEL_MIN = 0
parallel = loader.for_work(relu, 1)
for kernel in ([parallel, serial] if sys.argv[1] == "parallel-first" else [serial, parallel]):
    kernel(x, x, np.empty_like(x))
for kernel in (serial, parallel):
    cres = next(iter(kernel.overloads.values()))
    hit = bool(kernel.stats.cache_hits)
    threaded = None if hit else "numba_parallel_for" in cres.library.get_llvm_str()
    print(hit, threaded)
"""


def test_numba_serial_and_parallel_builds_keep_separate_cache_entries(tmp_path):
    """numba keys a cache entry by the function's name and signature, not by ``parallel=``: the
    parallel build of a kernel must not be served the serial one from disk, nor the reverse
    (the first one compiled used to serve both, in that process and every later one)."""
    _numba_kernels()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    env.pop("XDL_PARALLEL_MIN", None)

    def probe(order):
        out = subprocess.run([sys.executable, "-c", _CACHE_PROBE, order], env=env, capture_output=True,
                             text=True, timeout=300, check=False)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    # a fresh cache: both compile, each its own way
    assert probe("serial-first") == ["False", "False", "False", "True"]
    # the next process loads both from disk, whichever it asks for first
    assert probe("parallel-first") == ["True", "None", "True", "None"]


SOFTMAX_MASKS = {  # id: (keep's shape or None, what it holds)
    "none": None,
    "causal": "causal",
    "per-image": "random",
    "empty-rows": "empty",
}


@pytest.mark.parametrize("case", SOFTMAX_MASKS, ids=list(SOFTMAX_MASKS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_masked_softmax_equals_portable(be, case, dtype):
    _needs(be, "masked_softmax")
    rng = np.random.default_rng(13)
    n, heads, tq, tk = 3, 2, 5, 6
    scores = rng.standard_normal((n, heads, tq, tk)) * 8
    scores[0, 0, 0, :] = [1e4, -1e4, 3e3, 0, 1, 2]  # a row of huge scores
    kind, keep = SOFTMAX_MASKS[case], None
    if kind == "causal":
        keep = np.tril(np.ones((tq, tk)), 1)[None, None]
    elif kind in ("random", "empty"):
        keep = (rng.random((n, 1, tq, tk)) < 0.6).astype(float)
        if kind == "empty":
            keep[1, 0, 2, :] = 0  # a query that may attend no key: zeros
    args = (None if keep is None else be.asarray(keep, dtype=be.dtype(dtype)), kind == "empty")
    got = host(be.masked_softmax(be.asarray(scores.copy(), dtype=be.dtype(dtype)), *args))  # overwritten
    want = host(backends.Backend.masked_softmax(be, be.asarray(scores.copy(), dtype=be.dtype(dtype)), *args))
    assert got.dtype == np.dtype(dtype) and np.all(np.isfinite(got))
    assert_close(got, want, rtol=RTOL_FOR[dtype], atol=RTOL_FOR[dtype] * 1e-2)
    if keep is not None:
        assert np.all(got[np.broadcast_to(keep, got.shape) == 0] == 0)  # masked keys: exactly 0
    dp = rng.standard_normal(scores.shape)
    ds = host(be.softmax_backward(be.asarray(got), be.asarray(dp.copy(), dtype=be.dtype(dtype))))
    ds_want = host(backends.Backend.softmax_backward(be, be.asarray(got), be.asarray(dp.copy(), dtype=be.dtype(dtype))))
    assert_close(ds, ds_want, rtol=RTOL_FOR[dtype], atol=RTOL_FOR[dtype] * 1e-2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_layer_norm_equals_portable(be, monkeypatch, dtype):
    _needs(be, "layer_norm")
    rng = np.random.default_rng(14)
    xdl.seed(15)
    layer = xdl.LayerNorm(dtype=dtype)
    x = (rng.standard_normal((3, 4, 7)) * 5 + 2).astype(dtype)  # 7: rows that are no multiple of 4
    dy = rng.standard_normal(x.shape).astype(dtype)
    layer.forward(x)
    layer.gamma.value = be.asarray(rng.standard_normal(7).astype(dtype))

    def run():
        layer.zero_grad()
        y = layer.forward(x, training=True)
        return [y, layer.backward(dy), layer.gamma.grad, layer.beta.grad]

    fast, slow = _both(monkeypatch, be, run)
    for got, want in zip(fast, slow):
        assert got.dtype == np.dtype(dtype)
        assert_close(got, want, rtol=RTOL_FOR[dtype], atol=RTOL_FOR[dtype])


@pytest.mark.parametrize("shape", [(3, 64, 32, 128), (2, 3, 128, 32, 128), (4, 5, 3, 6)],
                         ids=["blocks", "4-d", "tiny"])
def test_fast_batched_matmul_equals_portable(be, monkeypatch, shape):
    """Stacks of products as attention makes them, transposed views included."""
    _needs(be, "batched_matmul")
    if hasattr(be, "_rows"):
        monkeypatch.setattr(be._rows, "threads", 2)  # the split across threads, on any machine
    rng = np.random.default_rng(16)
    *batch, m, k, n = shape
    a = be.asarray(rng.standard_normal((*batch, m, k)).astype(np.float32))
    b = be.asarray(rng.standard_normal((*batch, n, k)).astype(np.float32))
    bt = be.xp.permute_dims(b, tuple(range(len(batch))) + (len(batch) + 1, len(batch)))  # (..., k, n) view
    for x, y in [(a, bt), (be.xp.permute_dims(be.batched_matmul(a, bt), tuple(range(len(batch))) +
                                              (len(batch) + 1, len(batch))), a)]:
        got, want = be.batched_matmul(x, y), backends.Backend.batched_matmul(be, x, y)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert_close(got, want, rtol=1e-5, atol=1e-4)


def test_index_add_accumulates_repeats_and_matches_the_portable_route(be):
    rng = np.random.default_rng(0)
    indices = np.array([3, 0, 3, 3, 1, 0])  # 3 three times, 0 twice, 2 never
    values = rng.standard_normal((6, 4))
    idx, vals = be.asarray(indices), be.asarray(values, dtype=be.xp.float32)
    fast = be.index_add(idx, vals, 5)
    portable = backends.Backend.index_add(be, idx, vals, 5)  # the one-hot product
    expected = np.zeros((5, 4))
    np.add.at(expected, indices, values)  # repeated indices accumulate
    assert fast.dtype == be.xp.float32 and tuple(fast.shape) == (5, 4)
    assert_close(fast, expected, rtol=1e-5, atol=1e-6)
    assert_close(portable, expected, rtol=1e-5, atol=1e-6)
