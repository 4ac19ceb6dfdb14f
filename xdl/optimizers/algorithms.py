"""The update rules: SGD (with momentum), Adam, AdamW, RMSprop, Adagrad, Nadam, Lion.

Each writes its formula once, for one array and its state (``Optimizer.apply``); the formulas
themselves are backend hooks (``Backend.adam_step``...), fused where an adapter can.
"""

from __future__ import annotations

import math

from ..core.checks import boolean, number
from ..errors import ArgumentError
from .base import Optimizer


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum in PyTorch's convention:
    ``b = momentum * b + g``; ``w -= lr * b`` (Nesterov: ``w -= lr * (g + momentum * b)``)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = number("SGD", "momentum", momentum, high=1.0)
        self.nesterov = boolean("SGD", "nesterov", nesterov)
        if self.nesterov and not self.momentum:
            raise ArgumentError("SGD: nesterov=True needs momentum > 0")
        self.slots = ("momentum",) if self.momentum else ()

    def formula(self, be, w, g, state, lr):
        if not self.momentum:
            return be.sgd_step(w, g, lr)
        w, state["momentum"] = be.momentum_step(w, g, state["momentum"], lr, self.momentum, self.nesterov)
        return w

    def get_config(self):
        config = super().get_config()
        if self.momentum:
            config.update(momentum=self.momentum, nesterov=self.nesterov)
        return config


class Adam(Optimizer):
    """Adam (Kingma & Ba): moment estimates ``m``, ``v`` with bias correction.

    Computed as ``w -= lr_t * m / (sqrt(v) + eps * sqrt(1 - beta_2^t))`` with
    ``lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``: the textbook update (PyTorch's
    formula, epsilon outside the root), with the corrections folded into two host scalars
    instead of two array divisions.
    """

    slots = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        name = type(self).__name__
        self.beta_1 = number(name, "beta_1", beta_1, high=1.0)
        self.beta_2 = number(name, "beta_2", beta_2, high=1.0)
        self.epsilon = number(name, "epsilon", epsilon, low_open=True)

    def formula(self, be, w, g, state, lr):
        t = self.iterations
        root = math.sqrt(1.0 - self.beta_2 ** t)
        w, state["m"], state["v"] = be.adam_step(w, g, state["m"], state["v"], lr * root / (1.0 - self.beta_1 ** t),
                                                 self.epsilon * root, self.beta_1, self.beta_2)
        return w

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``w -= lr * weight_decay * w``
    before the Adam step, instead of adding the decay to the gradient."""

    couples_weight_decay = False

    def __init__(self, learning_rate=0.001, weight_decay=0.01, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)

    def formula(self, be, w, g, state, lr):
        if self.weight_decay:
            w *= 1.0 - lr * self.weight_decay
        return super().formula(be, w, g, state, lr)


class RMSprop(Optimizer):
    """RMSprop: ``v = rho * v + (1 - rho) * g^2``; ``w -= lr * g / (sqrt(v) + eps)``."""

    slots = ("v",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = number("RMSprop", "rho", rho, high=1.0)
        self.epsilon = number("RMSprop", "epsilon", epsilon, low_open=True)

    def formula(self, be, w, g, state, lr):
        w, state["v"] = be.rmsprop_step(w, g, state["v"], lr, self.rho, self.epsilon)
        return w

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adagrad(Optimizer):
    """Adagrad as Keras defines it: ``a += g^2``; ``w -= lr * g / sqrt(a + eps)``, the
    accumulator starting at ``initial_accumulator_value`` (Keras's defaults: rate 0.001,
    0.1, 1e-7; PyTorch's differ: rate 0.01, start 0, epsilon added outside the root)."""

    slots = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = number("Adagrad", "initial_accumulator_value", initial_accumulator_value)
        self.epsilon = number("Adagrad", "epsilon", epsilon, low_open=True)

    def _state_of(self, be, unit):
        fresh = unit.state is None and all(
            "accumulator" not in self.state.get(p, {})
            for p in (unit.flat.params if unit.flat is not None else [unit.param]))
        state = super()._state_of(be, unit)
        if fresh and self.initial_accumulator_value:
            state["accumulator"] += self.initial_accumulator_value
        return state

    def formula(self, be, w, g, state, lr):
        w, state["accumulator"] = be.adagrad_step(w, g, state["accumulator"], lr, self.epsilon)
        return w

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam (Dozat), as Keras computes it: Adam with Nesterov momentum whose schedule is
    ``u_t = beta_1 * (1 - 0.5 * 0.96^t)``;
    ``w -= lr * (u_{t+1} m / (1 - prod u_1..u_{t+1}) + (1 - u_t) g / (1 - prod u_1..u_t))
    / (sqrt(v / (1 - beta_2^t)) + eps)``. The products are host numbers."""

    slots = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = number("Nadam", "beta_1", beta_1, high=1.0)
        self.beta_2 = number("Nadam", "beta_2", beta_2, high=1.0)
        self.epsilon = number("Nadam", "epsilon", epsilon, low_open=True)
        self._product = (0, 1.0)  # (t, u_1 * ... * u_t)

    def _u(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def begin_step(self):
        t, product = self._product
        if t != self.iterations - 1:  # resumed from a checkpoint: replay the host products
            t, product = 0, 1.0
            for k in range(1, self.iterations):
                product *= self._u(k)
            t = self.iterations - 1
        self._product = (t + 1, product * self._u(t + 1))

    def formula(self, be, w, g, state, lr):
        t, product = self._product
        u_t, u_next = self._u(t), self._u(t + 1)
        c_m, c_g = u_next / (1.0 - product * u_next), (1.0 - u_t) / (1.0 - product)
        w, state["m"], state["v"] = be.nadam_step(w, g, state["m"], state["v"], lr, c_m, c_g,
                                                  math.sqrt(1.0 - self.beta_2 ** t), self.epsilon,
                                                  self.beta_1, self.beta_2)
        return w

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion (Chen et al. 2023), as Keras and the paper define it:
    ``w -= lr * sign(beta_1 * m + (1 - beta_1) * g)``; then ``m = beta_2 * m + (1 - beta_2) * g``.
    Defaults: rate 1e-4 (the paper's advice: 3-10x below Adam's), 0.9, 0.99."""

    slots = ("m",)

    def __init__(self, learning_rate=0.0001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = number("Lion", "beta_1", beta_1, high=1.0)
        self.beta_2 = number("Lion", "beta_2", beta_2, high=1.0)

    def formula(self, be, w, g, state, lr):
        w, state["m"] = be.lion_step(w, g, state["m"], lr, self.beta_1, self.beta_2)
        return w

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
