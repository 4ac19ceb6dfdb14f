"""Optimizers against their textbook updates, step by step; clipping; schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import assert_close, host

import xdl
from xdl.core.parameter import Parameter

STEPS = 5
RNG = np.random.default_rng(3)
W0 = [RNG.standard_normal((3, 4)), RNG.standard_normal(4)]
GRADS = [[RNG.standard_normal(w.shape) for w in W0] for _ in range(STEPS)]


def sgd(lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    def run(w, grads):
        b = [np.zeros_like(x) for x in w]
        for gs in grads:
            for i, g in enumerate(gs):
                g = g + weight_decay * w[i]
                b[i] = momentum * b[i] + g
                w[i] = w[i] - lr * ((g + momentum * b[i]) if nesterov else (b[i] if momentum else g))
        return w
    return run


def adam(lr, b1=0.9, b2=0.999, eps=1e-7, decoupled_decay=0.0):
    def run(w, grads):
        m = [np.zeros_like(x) for x in w]
        v = [np.zeros_like(x) for x in w]
        for t, gs in enumerate(grads, start=1):
            for i, g in enumerate(gs):
                w[i] = w[i] * (1 - lr * decoupled_decay)
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                m_hat, v_hat = m[i] / (1 - b1 ** t), v[i] / (1 - b2 ** t)
                w[i] = w[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
        return w
    return run


def rmsprop(lr, rho=0.9, eps=1e-7):
    def run(w, grads):
        v = [np.zeros_like(x) for x in w]
        for gs in grads:
            for i, g in enumerate(gs):
                v[i] = rho * v[i] + (1 - rho) * g * g
                w[i] = w[i] - lr * g / (np.sqrt(v[i]) + eps)
        return w
    return run


CASES = {
    "sgd": (lambda: xdl.SGD(0.1), sgd(0.1)),
    "sgd-momentum": (lambda: xdl.SGD(0.1, momentum=0.9), sgd(0.1, 0.9)),
    "sgd-nesterov": (lambda: xdl.SGD(0.1, momentum=0.9, nesterov=True), sgd(0.1, 0.9, True)),
    "sgd-l2": (lambda: xdl.SGD(0.1, weight_decay=0.01), sgd(0.1, weight_decay=0.01)),
    "adam": (lambda: xdl.Adam(0.01), adam(0.01)),
    "adamw": (lambda: xdl.AdamW(0.01, weight_decay=0.1), adam(0.01, decoupled_decay=0.1)),
    "rmsprop": (lambda: xdl.RMSprop(0.01), rmsprop(0.01)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_optimizer_matches_textbook_update(be, case):
    make, textbook = CASES[case]
    optimizer = make()
    params = [Parameter(be.asarray(w.copy(), dtype=be.xp.float64), f"p{i}") for i, w in enumerate(W0)]
    for gs in GRADS:
        for p, g in zip(params, gs):
            p.grad = be.asarray(g, dtype=be.xp.float64)
        optimizer.step(params)
    expected = textbook([w.copy() for w in W0], GRADS)
    for p, w in zip(params, expected):
        assert_close(p.value, w, rtol=1e-10, atol=1e-12, err_msg=case)
    assert optimizer.iterations == STEPS


def test_state_lives_beside_each_parameter(be):
    optimizer = xdl.Adam()
    p = Parameter(be.asarray(W0[0].copy(), dtype=be.xp.float32), "w")
    p.grad = be.asarray(GRADS[0][0], dtype=be.xp.float32)
    optimizer.step([p])
    for state in optimizer.state[p].values():
        assert be.owns(state) and state.dtype == be.xp.float32 and tuple(state.shape) == p.shape
    assert p.value.dtype == be.xp.float32


def test_clipnorm_rescales_all_gradients_together(be):
    grads = [np.full((2, 2), 3.0), np.full(2, 4.0)]  # global norm sqrt(4*9 + 2*16) = sqrt(68)
    for clipnorm, factor in [(1.0, 1 / math.sqrt(68)), (100.0, 1.0)]:
        params = [Parameter(be.asarray(np.zeros(g.shape)), f"p{i}") for i, g in enumerate(grads)]
        for p, g in zip(params, grads):
            p.grad = be.asarray(g)
        xdl.SGD(1.0, clipnorm=clipnorm).step(params)
        for p, g in zip(params, grads):
            assert_close(p.value, -g * factor, rtol=1e-6)


def test_clipvalue_clips_each_element(be):
    p = Parameter(be.asarray(np.zeros(3)), "p")
    p.grad = be.asarray(np.array([-5.0, 0.25, 7.0]))
    xdl.SGD(1.0, clipvalue=0.5).step([p])
    assert_close(p.value, [0.5, -0.25, -0.5])


def test_parameters_without_gradients_are_left_alone(be):
    frozen = Parameter(be.asarray(np.ones(2)), "running_mean", trainable=False)
    xdl.Adam().step([frozen])
    assert_close(frozen.value, [1.0, 1.0])


def test_schedules_at_known_steps():
    step = xdl.StepDecay(0.1, step_size=10, gamma=0.5)
    assert [step(s) for s in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    exp = xdl.ExponentialDecay(1.0, decay_steps=10, decay_rate=0.5)
    assert [exp(0), exp(10), exp(5)] == pytest.approx([1.0, 0.5, 0.5 ** 0.5])
    assert xdl.ExponentialDecay(1.0, 10, 0.5, staircase=True)(15) == pytest.approx(0.5)
    cos = xdl.CosineDecay(1.0, decay_steps=100, alpha=0.1, warmup_steps=10)
    assert [cos(0), cos(4), cos(9)] == pytest.approx([0.1, 0.5, 1.0])
    assert [cos(10), cos(60), cos(110), cos(500)] == pytest.approx([1.0, 0.55, 0.1, 0.1])


def test_schedule_drives_the_optimizer(be):
    optimizer = xdl.SGD(learning_rate=xdl.StepDecay(1.0, step_size=1, gamma=0.5))
    p = Parameter(be.asarray(np.zeros(1)), "p")
    for _ in range(3):
        p.grad = be.asarray(np.ones(1))
        optimizer.step([p])
    assert_close(p.value, [-(1.0 + 0.5 + 0.25)])
    assert optimizer.learning_rate == pytest.approx(0.125)


def test_bad_hyperparameters_are_named():
    with pytest.raises(ValueError, match="Adam: beta_1 must be a number >= 0 and <= 1, got 1.5"):
        xdl.Adam(beta_1=1.5)
    with pytest.raises(ValueError, match="SGD: nesterov=True needs momentum > 0"):
        xdl.SGD(nesterov=True)
    with pytest.raises(ValueError, match="RMSprop: clipnorm must be a positive number, got 0"):
        xdl.RMSprop(clipnorm=0)
    with pytest.raises(ValueError, match="unknown optimizer 'adadelta'"):
        xdl.optimizers.get("adadelta")


def test_optimizers_by_name():
    for name, cls in [("adam", xdl.Adam), ("adamw", xdl.AdamW), ("rmsprop", xdl.RMSprop), ("sgd", xdl.SGD)]:
        assert isinstance(xdl.optimizers.get(name), cls)
    assert host(np.zeros(1)).shape == (1,)
