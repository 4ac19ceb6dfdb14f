"""Optimizers: ``step(parameters)`` updates each ``Parameter`` from its ``grad``.

State (momentum, moments) lives per parameter, created beside it on its device. Updates use
augmented assignment (``p.value -= ...``): in place where the library's arrays are mutable,
a rebinding where they are not. Clipping and learning rates are worked out without reading
anything back from the device.
"""

from __future__ import annotations

import math

from ._backend import clip, namespace_of
from ._checks import number
from .schedules import Schedule


class Optimizer:
    """Base of all optimizers.

    ``learning_rate``: a positive number or a schedule (``xdl.CosineDecay(...)``, any callable
    from step to rate). ``clipnorm`` rescales all gradients together when their global L2 norm
    exceeds it; ``clipvalue`` clips each element to [-clipvalue, clipvalue]. ``weight_decay``
    adds ``weight_decay * w`` to each gradient (L2; ``AdamW`` decouples it instead).
    """

    def __init__(self, learning_rate=0.01, *, clipnorm=None, clipvalue=None, weight_decay=0.0):
        name = type(self).__name__
        if not (callable(learning_rate) and not isinstance(learning_rate, (int, float))):
            number(name, "learning_rate", learning_rate, low_open=True)
        self._learning_rate = learning_rate
        self.clipnorm = None if clipnorm is None else number(name, "clipnorm", clipnorm, low_open=True)
        self.clipvalue = None if clipvalue is None else number(name, "clipvalue", clipvalue, low_open=True)
        self.weight_decay = number(name, "weight_decay", weight_decay)
        self.iterations = 0  # steps taken: drives schedules and bias corrections
        self.state = {}  # Parameter -> dict of state arrays

    # -- the learning rate ------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The rate the next step uses."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    @learning_rate.setter
    def learning_rate(self, value):
        if not callable(value):
            number(type(self).__name__, "learning_rate", value, low_open=True)
        self._learning_rate = value

    # -- stepping ----------------------------------------------------------------------------
    def step(self, parameters) -> None:
        """Update every parameter that has a gradient."""
        params = [p for p in parameters if p.grad is not None]
        if not params:
            return
        self.xp = namespace_of(params[0].value)  # once per step, not per operation
        grads = [p.grad for p in params]
        if self.clipvalue is not None or self.clipnorm is not None:
            grads = self.clipped(grads)
        lr = self.learning_rate
        self.iterations += 1
        decay = self.weight_decay if self.couples_weight_decay else 0.0
        # only per-parameter work stays in the loop: a 10-layer model runs it 20 times a step
        slots, update = self.slots, self.update_parameter
        for p, g in zip(params, grads):
            if decay:
                g = g + decay * p.value
            update(p, g, lr, self._state_for(p) if slots else {})

    def update(self, layer) -> None:
        """The tutorial's call: update one layer's parameters."""
        self.step(layer.parameters())

    def clipped(self, grads) -> list:
        xp = self.xp
        if self.clipvalue is not None:
            c = self.clipvalue
            grads = [clip(xp, g, -c, c) for g in grads]
        if self.clipnorm is not None:
            norm = xp.sqrt(sum(xp.sum(g * g) for g in grads))
            # a 0-d device factor: min(1, clipnorm / norm) without reading the norm back
            scale = self.clipnorm / xp.where(norm > self.clipnorm, norm, self.clipnorm)
            grads = [g * xp.astype(scale, g.dtype) for g in grads]
        return grads

    def _state_for(self, p) -> dict:
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {k: self.xp.zeros_like(p.value) for k in self.slots}
        return state

    #: names of the per-parameter state arrays (zeros like the parameter)
    slots = ()
    #: whether ``weight_decay`` is added to the gradient (L2) rather than applied to weights
    couples_weight_decay = True

    def update_parameter(self, p, g, lr, state) -> None:
        raise NotImplementedError

    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, Schedule):
            lr = {"class": type(lr).__name__, "config": lr.get_config()}
        config = {"learning_rate": lr if isinstance(lr, (dict, int, float)) else self.learning_rate}
        for key in ("clipnorm", "clipvalue"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        if self.weight_decay:
            config["weight_decay"] = self.weight_decay
        return config

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum in PyTorch's convention:
    ``b = momentum * b + g``; ``w -= lr * b`` (Nesterov: ``w -= lr * (g + momentum * b)``)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = number("SGD", "momentum", momentum, high=1.0)
        if nesterov and not self.momentum:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.slots = ("momentum",) if self.momentum else ()

    def update_parameter(self, p, g, lr, state):
        if not self.momentum:
            p.value -= lr * g
            return
        b = state["momentum"]
        b *= self.momentum
        b += g
        state["momentum"] = b  # the same array where updates ran in place; else the new one
        p.value -= lr * (g + self.momentum * b) if self.nesterov else lr * b

    def get_config(self):
        config = super().get_config()
        if self.momentum:
            config.update(momentum=self.momentum, nesterov=self.nesterov)
        return config


class Adam(Optimizer):
    """Adam (Kingma & Ba): moment estimates ``m``, ``v`` with bias correction.

    Computed as ``w -= lr_t * m / (sqrt(v) + eps * sqrt(1 - beta_2^t))`` with
    ``lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``: the textbook update, with the
    corrections folded into two host scalars instead of two array divisions.
    """

    slots = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        name = type(self).__name__
        self.beta_1 = number(name, "beta_1", beta_1, high=1.0)
        self.beta_2 = number(name, "beta_2", beta_2, high=1.0)
        self.epsilon = number(name, "epsilon", epsilon, low_open=True)

    def update_parameter(self, p, g, lr, state):
        t = self.iterations
        m, v = state["m"], state["v"]
        m *= self.beta_1
        m += (1.0 - self.beta_1) * g
        v *= self.beta_2
        v += (1.0 - self.beta_2) * (g * g)
        state["m"], state["v"] = m, v
        root = math.sqrt(1.0 - self.beta_2 ** t)
        p.value -= (lr * root / (1.0 - self.beta_1 ** t)) * m / (self.xp.sqrt(v) + self.epsilon * root)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``w -= lr * weight_decay * w``
    before the Adam step, instead of adding the decay to the gradient."""

    couples_weight_decay = False

    def __init__(self, learning_rate=0.001, weight_decay=0.01, **kwargs):
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)

    def update_parameter(self, p, g, lr, state):
        if self.weight_decay:
            p.value *= 1.0 - lr * self.weight_decay
        super().update_parameter(p, g, lr, state)


class RMSprop(Optimizer):
    """RMSprop: ``v = rho * v + (1 - rho) * g^2``; ``w -= lr * g / (sqrt(v) + eps)``."""

    slots = ("v",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = number("RMSprop", "rho", rho, high=1.0)
        self.epsilon = number("RMSprop", "epsilon", epsilon, low_open=True)

    def update_parameter(self, p, g, lr, state):
        v = state["v"]
        v *= self.rho
        v += (1.0 - self.rho) * (g * g)
        state["v"] = v
        p.value -= lr * g / (self.xp.sqrt(v) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(optimizer) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        return optimizer()
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ValueError(f"unknown optimizer {optimizer!r}; pass one such as xdl.SGD(0.01) or one of {sorted(OPTIMIZERS)}")
