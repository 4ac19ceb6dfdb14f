"""Learning-rate schedules at known steps, and a schedule driving an optimizer."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close
from xdl.core.parameter import Parameter


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
