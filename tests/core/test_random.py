"""``xdl.random`` (Keras's ``keras.random``): draws on the device, their spread, seeds (an int
gives the same draws, a SeedGenerator new ones each call), dropout and shuffle differentiable."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import host


def test_normal_and_uniform_spread(be):
    z = host(xdl.random.normal((40000,), mean=1.0, stddev=2.0, seed=1))
    assert z.dtype == np.float32 and z.mean() == pytest.approx(1.0, abs=0.05) and z.std() == pytest.approx(2.0, rel=0.03)
    u = host(xdl.random.uniform((40000,), -1.0, 3.0, seed=2))
    assert u.min() >= -1.0 and u.max() < 3.0 and u.mean() == pytest.approx(1.0, abs=0.05)
    t = host(xdl.random.truncated_normal((40000,), seed=3))
    assert np.abs(t).max() <= 2.0 and t.std() == pytest.approx(0.88, rel=0.03)
    r = host(xdl.random.randint((1000,), 2, 5, seed=4))
    assert set(np.unique(r)) == {2, 3, 4}


def test_seeds(be):
    assert np.array_equal(host(xdl.random.normal((5,), seed=7)), host(xdl.random.normal((5,), seed=7)))
    stream = xdl.random.SeedGenerator(7)
    assert not np.array_equal(host(xdl.random.normal((5,), seed=stream)), host(xdl.random.normal((5,), seed=stream)))


def test_dropout_and_shuffle_pass_gradients(be):
    w = xdl.Variable(np.ones(2000, np.float32))
    with xdl.GradientTape() as tape:
        y = xdl.random.dropout(w, 0.25, seed=5)
        loss = xdl.ops.sum(y)
    g = host(tape.gradient(loss, w))
    kept = host(y.value) != 0
    assert 0.7 < kept.mean() < 0.8 and np.allclose(g[kept], 1 / 0.75) and np.all(g[~kept] == 0)
    x = xdl.Variable(np.arange(6.0, dtype=np.float32))
    with xdl.GradientTape() as tape:
        s = xdl.random.shuffle(x, seed=1)
        loss = xdl.ops.sum(s * xdl.ops.arange(6.0))
    assert sorted(host(s.value)) == list(range(6))
    assert np.array_equal(host(tape.gradient(loss, x))[host(s.value).astype(int)], np.arange(6.0))
