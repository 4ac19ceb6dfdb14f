"""Adagrad, Nadam and Lion step by step against their published update rules, written here in
plain NumPy (float64) as Keras states them; on every backend, flat buffer or not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import host

import xdl


def adagrad(w, grads, lr=0.1, initial=0.1, eps=1e-7):
    a = np.full_like(w, initial)
    for g in grads:
        a = a + g * g
        w = w - lr * g / np.sqrt(a + eps)
        yield w


def nadam(w, grads, lr=0.01, b1=0.9, b2=0.999, eps=1e-7):
    m, v, product = np.zeros_like(w), np.zeros_like(w), 1.0
    for t, g in enumerate(grads, start=1):
        u_t, u_next = b1 * (1 - 0.5 * 0.96 ** t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        product *= u_t
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = u_next * m / (1 - product * u_next) + (1 - u_t) * g / (1 - product)
        w = w - lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)
        yield w


def lion(w, grads, lr=0.01, b1=0.9, b2=0.99):
    m = np.zeros_like(w)
    for g in grads:
        w = w - lr * np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
        yield w


RULES = {"adagrad": (lambda: xdl.Adagrad(0.1), adagrad), "nadam": (lambda: xdl.Nadam(0.01), nadam),
         "lion": (lambda: xdl.Lion(0.01), lion)}


@pytest.mark.parametrize("name", RULES)
def test_steps_follow_the_published_rule(be, name):
    make, rule = RULES[name]
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((3, 4)) for _ in range(6)]
    w0 = rng.standard_normal((3, 4))
    with xdl.use_floatx("float64"):
        layer = xdl.Dense(4, 4, use_bias=False)
        layer.W.value = be.asarray(w0)
        opt = make()
        for g, want in zip(grads, rule(w0, grads)):
            layer.W.grad = be.asarray(g)
            opt.update(layer)
            np.testing.assert_allclose(host(layer.W.value), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", RULES)
def test_a_resumed_run_continues_the_rule(be, tmp_path, name):
    """Nadam's momentum schedule is a host product over the steps: a checkpoint resumes it."""
    make, _ = RULES[name]
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)

    def model():
        xdl.seed(0)
        m = xdl.NeuralNetwork([xdl.Dense(output_size=6), xdl.ReLU(), xdl.Dense(output_size=3)])
        m.compile(loss="cross_entropy", optimizer=make())
        return m

    straight = model()
    straight.fit(x, y, epochs=4, batch_size=8, verbose=0, shuffle=False)
    first = model()
    first.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    first.save(tmp_path / "c.xdl", include_optimizer=True)
    resumed = xdl.NeuralNetwork.load(tmp_path / "c.xdl")
    resumed.fit(x, y, epochs=4, batch_size=8, verbose=0, shuffle=False, initial_epoch=resumed.epoch)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        np.testing.assert_allclose(host(q.value), host(p.value), rtol=1e-6, atol=1e-7)
    assert math.isfinite(float(straight.evaluate(x, y)))
