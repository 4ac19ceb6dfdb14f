"""Learning-rate schedules: callables from the optimizer's step count (0, 1, ...) to a rate.

Pass one as ``learning_rate=``; the rate is computed on the host each step (no device work).
"""

from __future__ import annotations

import math


class Schedule:
    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(vars(self))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _positive(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}")
    return value


class StepDecay(Schedule):
    """``initial * gamma ** (step // step_size)``: drop by ``gamma`` every ``step_size`` steps."""

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        self.initial_learning_rate = float(_positive("StepDecay", "initial_learning_rate", initial_learning_rate))
        self.step_size = int(_positive("StepDecay", "step_size", step_size))
        self.gamma = float(_positive("StepDecay", "gamma", gamma))

    def __call__(self, step):
        return self.initial_learning_rate * self.gamma ** (step // self.step_size)


class ExponentialDecay(Schedule):
    """``initial * decay_rate ** (step / decay_steps)``, floored to whole periods with ``staircase``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = float(_positive("ExponentialDecay", "initial_learning_rate",
                                                     initial_learning_rate))
        self.decay_steps = int(_positive("ExponentialDecay", "decay_steps", decay_steps))
        self.decay_rate = float(_positive("ExponentialDecay", "decay_rate", decay_rate))
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)


class CosineDecay(Schedule):
    """Linear warm-up from 0 over ``warmup_steps``, then a half cosine from the initial rate
    down to ``alpha * initial`` over ``decay_steps``, constant after."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_steps=0):
        self.initial_learning_rate = float(_positive("CosineDecay", "initial_learning_rate",
                                                     initial_learning_rate))
        self.decay_steps = int(_positive("CosineDecay", "decay_steps", decay_steps))
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"CosineDecay: alpha must be in [0, 1], got {alpha!r}")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"CosineDecay: warmup_steps must be an int >= 0, got {warmup_steps!r}")
        self.alpha, self.warmup_steps = float(alpha), warmup_steps

    def __call__(self, step):
        lr = self.initial_learning_rate
        if step < self.warmup_steps:
            return lr * (step + 1) / self.warmup_steps
        progress = min(step - self.warmup_steps, self.decay_steps) / self.decay_steps
        return lr * (self.alpha + (1.0 - self.alpha) * 0.5 * (1.0 + math.cos(math.pi * progress)))


SCHEDULES = {cls.__name__: cls for cls in (StepDecay, ExponentialDecay, CosineDecay)}  # for model files
