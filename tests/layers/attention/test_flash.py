"""Blocked ("flash") attention: the backend hook ``attention`` and its backward against the whole
softmax in float64 NumPy (each adapter's form and the portable one, lengths over several blocks
with ragged last ones, masks with rows left no key, cross-attention, a causal offset), gradients
through the layer by central differences, memory linear in T, the paths that form the weights
whole (scores returned, dropout in training), and the kernel ops of a step on torch."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from xdl.backends import _flash

import xdl
from tests.gradcheck import check_gradients
from benchmarks.harness import peak_host_memory
from tests.helpers import assert_close, host
from xdl import backends

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 4 queries and 8 keys in the portable form and numba's kernels (other adapters'
    libraries choose their own): a length of 20 spans several, the last ones ragged. NumPy's
    adapter forms few scores whole: here it does not."""
    monkeypatch.setattr(_flash, "QUERY_BLOCK", 4)
    monkeypatch.setattr(_flash, "KEY_BLOCK", 8)
    from xdl.backends import _numba
    from xdl.backends import numpy as numpy_adapter

    monkeypatch.setattr(numpy_adapter, "_WHOLE_SCORES_MOST", 0)  # NumPy's blocked kernels, however few scores
    if _numba.usable():
        from xdl.backends._numba import flash

        monkeypatch.setattr(flash, "QUERY_BLOCK", 4)
        monkeypatch.setattr(flash, "KEY_BLOCK", 8)
        monkeypatch.setattr(flash, "BACKWARD_KEY_BLOCK", 12)  # other blocks than the forward's


def reference(q, k, v, mask, causal, scale, offset, do):
    """The whole softmax in float64 NumPy: ``(o, dq, dk, dv)``; a row left no key gives zeros."""
    s = scale * q @ np.swapaxes(k, -1, -2)
    allowed = np.ones(s.shape, bool)
    if mask is not None:
        allowed &= mask[:, None] != 0
    if causal:
        allowed &= np.arange(k.shape[2])[None, :] <= np.arange(q.shape[2])[:, None] + offset
    s = np.where(allowed, s, -np.inf)
    top = np.max(s, axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(top), top, 0.0))
    total = e.sum(-1, keepdims=True)
    p = e / np.where(total == 0, 1.0, total)
    dp = do @ np.swapaxes(v, -1, -2)
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    return p @ v, scale * ds @ k, scale * np.swapaxes(ds, -1, -2) @ q, np.swapaxes(p, -1, -2) @ do


# (n, heads, Tq, Tk, Dk, Dv, causal, mask, offset)
CASES = {
    "causal": (2, 3, 20, 20, 4, 4, True, None, 0),
    "full": (2, 2, 19, 19, 4, 4, False, None, 0),
    "cross": (2, 2, 13, 21, 4, 4, False, "random", 0),
    "cross-causal": (1, 2, 21, 13, 4, 4, True, None, 0),
    "masked-causal": (2, 2, 20, 20, 4, 4, True, "empty rows", 0),
    "masked-all": (1, 2, 9, 11, 4, 4, False, "nothing", 0),
    "offset": (2, 2, 5, 20, 4, 4, True, None, 15),
    "value-width": (2, 2, 17, 17, 3, 5, True, "random", 0),
}


def _case(name, seed=0):
    n, h, tq, tk, dk, dv, causal, kind, offset = CASES[name]
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((n, h, tq, dk)) * 2, rng.standard_normal((n, h, tk, dk)) * 2
    v, do = rng.standard_normal((n, h, tk, dv)), rng.standard_normal((n, h, tq, dv))
    mask = None
    if kind is not None:
        mask = (rng.random((n, tq, tk)) > 0.4).astype(np.float64)
        if kind == "empty rows":
            mask[0, [0, 6, 13], :] = 0  # queries that may attend nothing: zeros
        elif kind == "nothing":
            mask[:] = 0
    return q, k, v, mask, causal, 1.0 / math.sqrt(dk), offset, do


def _hook(be, portable):
    """(attention, attention_backward): the adapter's, or ``Backend``'s portable form on ``be``."""
    if not portable:
        return be.attention, be.attention_backward
    return (lambda *a: backends.Backend.attention(be, *a)), (lambda *a: backends.Backend.attention_backward(be, *a))


@pytest.mark.parametrize("form", ["adapter", "portable", "adapter, few scores"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES)
def test_attention_hook_equals_the_whole_softmax(be, small_blocks, monkeypatch, case, dtype, form):
    if form == "adapter, few scores":
        if be.name != "numpy":
            pytest.skip("only NumPy's adapter forms few scores whole")
        from xdl.backends import numpy as numpy_adapter

        monkeypatch.setattr(numpy_adapter, "_WHOLE_SCORES_MOST", 1 << 40)
    q, k, v, mask, causal, scale, offset, do = _case(case)
    want = reference(q, k, v, mask, causal, scale, offset, do)
    dt = be.dtype(dtype)
    attention, backward = _hook(be, form == "portable")
    # q as a permuted view, as the layer hands it over
    qv = be.xp.permute_dims(be.asarray(np.ascontiguousarray(q.transpose(0, 2, 1, 3)), dtype=dt), (0, 2, 1, 3))
    args = [qv] + [be.asarray(a, dtype=dt) for a in (k, v)] + [None if mask is None else be.asarray(mask, dtype=dt)]
    o, saved = attention(*args, causal, scale, offset)
    got = [o, *backward(be.asarray(do, dtype=dt), saved)]
    tol = {"float32": 2e-5, "float64": 1e-12}[dtype]
    for label, g, w in zip(("o", "dq", "dk", "dv"), got, want):
        g = host(g)
        assert g.dtype == np.dtype(dtype) and g.shape == w.shape and np.all(np.isfinite(g)), label
        assert_close(g, w, rtol=tol * 10, atol=tol * 10, err_msg=f"{case} {label}")
    if mask is not None:  # rows left no key: exactly zero
        allowed = mask != 0
        if causal:
            allowed &= np.arange(k.shape[2]) <= np.arange(q.shape[2])[:, None] + offset
        empty = ~np.any(allowed, axis=-1)  # (N, Tq)
        assert np.all(host(o).transpose(0, 2, 1, 3)[empty] == 0)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("causal", [False, True])
def test_torch_kernel_over_many_blocks_equals_the_whole_softmax(causal, dtype):
    """ATen's CPU kernel chooses its own blocks: lengths of a few hundred span several of them."""
    be = backends.create("torch", "cpu")
    rng = np.random.default_rng(5)
    q, k, v, do = (rng.standard_normal((1, 2, 700, 8)) for _ in range(4))
    mask = (rng.random((1, 700, 700)) > 0.2).astype(np.float64)
    for m in (None, mask):
        want = reference(q, k, v, m, causal, 0.35, 0, do)
        dt = be.dtype(dtype)
        o, saved = be.attention(*(be.asarray(a, dtype=dt) for a in (q, k, v)),
                                None if m is None else be.asarray(m, dtype=dt), causal, 0.35)
        assert saved[0] == "cpu"  # the ATen kernel ran
        got = [o, *be.attention_backward(be.asarray(do, dtype=dt), saved)]
        tol = {"float32": 1e-4, "float64": 1e-12}[dtype]
        for g, w in zip(got, want):
            assert_close(g, w, rtol=tol, atol=tol)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
@pytest.mark.parametrize("case", ["causal", "full", "cross-causal", "offset"])
def test_torch_route_for_other_devices_equals_the_whole_softmax(case):
    """On a GPU, without a mask, torch's attention runs PyTorch's ``scaled_dot_product_attention``
    under autograd; here the same route on the CPU."""
    be = backends.create("torch", "cpu")
    q, k, v, mask, causal, scale, offset, do = _case(case)
    want = reference(q, k, v, mask, causal, scale, offset, do)
    bias = None
    if causal and offset:
        bias = be.asarray(np.where(np.arange(k.shape[2]) <= np.arange(q.shape[2])[:, None] + offset, 0.0, -np.inf))
        causal = False
    o, saved = be._autograd_attention(*(be.asarray(a) for a in (q, k, v)), bias, causal, scale)
    assert saved[0] == "autograd"
    for g, w in zip([o, *be.attention_backward(be.asarray(do), saved)], want):
        assert_close(g, w, rtol=1e-10, atol=1e-12)


GRADIENT_CASES = {  # (Tq, Tk, causal, mask): query and value lengths, at blocks of 4 and 8
    "causal": (20, 20, True, None),
    "masked": (19, 19, False, "empty rows"),
    "masked-causal": (20, 20, True, "random"),
    "cross-masked": (13, 21, False, "empty rows"),
}


@pytest.mark.parametrize("case", GRADIENT_CASES)
def test_blocked_attention_gradients(be, small_blocks, case):
    tq, tk, causal, kind = GRADIENT_CASES[case]
    rng = np.random.default_rng(7)
    q = rng.standard_normal((1, tq, 3))
    kv = q if tq == tk else rng.standard_normal((1, tk, 3))
    arrays = [q, kv, kv]
    if kind is not None:
        mask = rng.random((1, tq, tk)) > 0.4
        if kind == "empty rows":
            mask[0, [1, 9], :] = False
        arrays.append(mask)
    mha = xdl.MultiHeadAttention(num_heads=2, key_dim=2, dtype="float64")  # key and value heads alike
    out = check_gradients(mha, arrays, be, seed=3, use_causal_mask=causal)
    assert np.all(np.isfinite(host(out)))


@pytest.mark.parametrize("form", ["adapter", "portable"])
def test_attention_memory_grows_linearly_with_the_length(form):
    """NumPy reports its allocations to tracemalloc: a forward and backward at T = 2048 holds
    a fraction of the (H, T, T) scores, and at most about 4x what T = 512 holds, not 16x."""
    be = backends.create("numpy")
    attention, backward = _hook(be, form == "portable")
    peaks = {}
    for t in (512, 2048):
        rng = np.random.default_rng(0)
        arrays = [rng.standard_normal((1, 2, t, 16)).astype(np.float32) for _ in range(4)]

        def run(q, k, v, do):
            backward(do, attention(q, k, v, None, True, 0.25)[1])

        run(*arrays)
        peaks[t] = peak_host_memory(lambda arrays=arrays: run(*arrays))
    scores = 2 * 2048 * 2048 * 4  # both heads' scores in float32: 32 MB
    assert peaks[2048] < scores / 4, peaks
    assert peaks[2048] < 6 * peaks[512], peaks


def test_weights_path_and_blocked_path_agree(be):
    """``return_attention_scores`` forms the weights whole; the output and every gradient equal
    the blocked path's."""
    rng = np.random.default_rng(8)
    x = be.asarray(rng.standard_normal((2, 9, 6)))
    mask = be.asarray((rng.random((2, 9, 9)) > 0.3).astype(np.float64))
    mha = xdl.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    mha.forward([x, x, x, mask], use_causal_mask=True)
    dy = be.asarray(rng.standard_normal((2, 9, 6)))
    results = []
    for scores in (False, True):
        mha.zero_grad()
        y, back = mha.apply([x, x, x, mask], True, use_causal_mask=True, return_attention_scores=scores)
        if scores:
            y, p = y
            assert np.all(np.triu(host(p)[0, 0], 1) == 0)
        dx = back((dy, be.xp.zeros_like(p)) if scores else dy)[0]
        results.append([y, dx] + [p.grad for p in mha.parameters()])
    for a, b in zip(*results):
        assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_dropout_on_the_weights_in_training(be):
    """Dropout on the weights in training forms them whole (one mask, as Dropout draws it);
    in inference it is off and the blocked path runs."""
    rng = np.random.default_rng(9)
    x = be.asarray(rng.standard_normal((2, 12, 4)).astype(np.float32))
    mha = xdl.MultiHeadAttention(num_heads=2, key_dim=2, dropout=0.5, seed=3)
    plain = xdl.MultiHeadAttention(num_heads=2, key_dim=2)
    mha.forward([x, x, x])
    plain.forward([x, x, x])
    plain.set_weights(mha.get_weights())
    assert_close(mha.forward([x, x, x], use_causal_mask=True), plain.forward([x, x, x], use_causal_mask=True),
                 rtol=1e-6, atol=1e-6)
    y, back = mha.apply([x, x, x], True, use_causal_mask=True)
    y_plain, _ = plain.apply([x, x, x], True, use_causal_mask=True)
    assert not np.allclose(host(y), host(y_plain))  # some weights dropped
    dx = back(be.xp.ones_like(y))[0]
    assert np.all(np.isfinite(host(dx)))


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_attention_kernel_ops_per_step():
    """On torch one operator each way (ATen's CPU kernel): 60 ops a causal MHA step and 93 a
    Transformer block's before the blocked hook, now these bounds."""
    import torch

    from benchmarks import ops

    xdl.set_backend("torch", device="cpu", fallback=False)
    xdl.seed(0)
    be = xdl.get_backend()
    rng = np.random.default_rng(0)
    x = be.asarray(rng.standard_normal((4, 16, 32)).astype(np.float32))
    mha = xdl.MultiHeadAttention(num_heads=4, key_dim=8)
    mha.forward([x, x, x], use_causal_mask=True)

    def step():
        mha.zero_grad()
        y, back = mha.apply([x, x, x], True, use_causal_mask=True)
        back(y)

    count, by_op = ops.count(step)
    assert count <= 20 and by_op["_scaled_dot_product_flash_attention_for_cpu"] == 1, dict(by_op)
    tokens = xdl.Input(shape=(16, 32))
    model = xdl.Model(tokens, xdl.TransformerBlock(32, 4, 64)(tokens))
    model.compile(loss=xdl.MSE(), optimizer=xdl.SGD(0.01))
    count, by_op = ops.count(lambda: model.train_step((x, x)))
    assert count <= 47, dict(by_op)
    del torch


def test_numpy_kernels_split_heads_over_threads(monkeypatch):
    """The heads in parts, one thread each, give what one thread gives."""
    from xdl.backends import _numba
    from xdl.backends import numpy as numpy_adapter

    if not (_numba.usable() and _numba.blas()):
        pytest.skip("numba's kernels do not run here")
    be = backends.create("numpy")
    monkeypatch.setattr(be._rows, "threads", 2)
    monkeypatch.setattr(numpy_adapter, "_WHOLE_SCORES_MOST", 0)
    q, k, v, mask, causal, scale, offset, do = _case("masked-causal")
    q, k, v, mask, do = (a.astype(np.float32) for a in (q, k, v, mask, do))
    results = []
    for least in (1 << 40, 0):  # one thread, then two
        monkeypatch.setattr(numpy_adapter, "_FLASH_THREADED_MIN", least)
        o, saved = be.attention(q, k, v, mask, causal, scale, offset)
        results.append([o, *be.attention_backward(do, saved)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_benchmark_prints_the_peak_memory_by_length():
    from benchmarks import attention

    rows = [{"workload": f"mha fwd+bwd causal n2 t{t} (growth)", "candidate": "xdl", "median": 1000.0 / t,
             "peak_bytes": t * 2**20} for t in (8, 16)]
    assert attention.summaries(rows)[-1] == "attention xdl, peak memory of one call: T=8: 8.0 MB (1.0x), T=16: 16.0 MB (2.0x)"
    if HAS_TORCH:
        import torch

        x = torch.ones(1000)
        peak = attention.torch_peak_memory(lambda: (x * 2 + 1).sum())
        assert peak is None or peak >= 4000  # x * 2 and its sum with 1: 4 kB each
