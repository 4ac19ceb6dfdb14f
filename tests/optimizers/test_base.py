"""What every optimizer does (optimizers/base.py): state beside each parameter, clipping by norm
and by value, parameters without gradients left alone, hyperparameters checked, names."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close, host
from xdl.core.parameter import Parameter


def test_state_lives_beside_each_parameter(be):
    optimizer = xdl.Adam()
    rng = np.random.default_rng(3)
    p = Parameter(be.asarray(rng.standard_normal((3, 4)), dtype=be.xp.float32), "w")
    p.grad = be.asarray(rng.standard_normal((3, 4)), dtype=be.xp.float32)
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
