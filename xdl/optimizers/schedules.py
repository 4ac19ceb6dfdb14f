"""Learning-rate schedules: callables from the optimizer's step count (0, 1, ...) to a rate.

Pass one as ``learning_rate=``; the rate is computed on the host each step (no device work).
"""

from __future__ import annotations

import math

from ..core.checks import boolean, int_at_least, number, positive_int
from ..errors import missing_method


class Schedule:
    def __call__(self, step: int) -> float:
        raise missing_method(self, "__call__(step)")

    def get_config(self) -> dict:
        return dict(vars(self))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class StepDecay(Schedule):
    """``initial * gamma ** (step // step_size)``: drop by ``gamma`` every ``step_size`` steps."""

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        self.initial_learning_rate = number("StepDecay", "initial_learning_rate", initial_learning_rate,
                                                    low_open=True)
        self.step_size = positive_int("StepDecay", "step_size", step_size)
        self.gamma = number("StepDecay", "gamma", gamma, low_open=True, high=1.0)  # > 1 overflows

    def __call__(self, step):
        return self.initial_learning_rate * self.gamma ** (step // self.step_size)


class ExponentialDecay(Schedule):
    """``initial * decay_rate ** (step / decay_steps)``, floored to whole periods with ``staircase``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = number("ExponentialDecay", "initial_learning_rate", initial_learning_rate,
                                                           low_open=True)
        self.decay_steps = positive_int("ExponentialDecay", "decay_steps", decay_steps)
        self.decay_rate = number("ExponentialDecay", "decay_rate", decay_rate, low_open=True, high=1.0)
        self.staircase = boolean("ExponentialDecay", "staircase", staircase)

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)


class CosineDecay(Schedule):
    """Linear warm-up from 0 over ``warmup_steps``, then a half cosine from the initial rate
    down to ``alpha * initial`` over ``decay_steps``, constant after."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_steps=0):
        self.initial_learning_rate = number("CosineDecay", "initial_learning_rate", initial_learning_rate,
                                                      low_open=True)
        self.decay_steps = positive_int("CosineDecay", "decay_steps", decay_steps)
        self.alpha = number("CosineDecay", "alpha", alpha, high=1.0)
        self.warmup_steps = int_at_least("CosineDecay", "warmup_steps", warmup_steps, 0)

    def __call__(self, step):
        lr = self.initial_learning_rate
        if step < self.warmup_steps:
            return lr * (step + 1) / self.warmup_steps
        progress = min(step - self.warmup_steps, self.decay_steps) / self.decay_steps
        return lr * (self.alpha + (1.0 - self.alpha) * 0.5 * (1.0 + math.cos(math.pi * progress)))


SCHEDULES = {cls.__name__: cls for cls in (StepDecay, ExponentialDecay, CosineDecay)}  # for model files
