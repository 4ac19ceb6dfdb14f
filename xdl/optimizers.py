"""Optimizers: ``step(parameters)`` updates each ``Parameter`` from its ``grad``."""

from __future__ import annotations


class Optimizer:
    def __init__(self, learning_rate=0.01):
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or learning_rate <= 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be a positive number, got {learning_rate!r}")
        self.learning_rate = float(learning_rate)

    def step(self, parameters) -> None:
        """Update every parameter that has a gradient."""
        for p in parameters:
            if p.grad is not None:
                self.update_parameter(p)

    def update(self, layer) -> None:
        """The tutorial's call: update one layer's parameters."""
        self.step(layer.parameters())

    def update_parameter(self, p) -> None:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self.learning_rate})"


class SGD(Optimizer):
    """Plain gradient descent: ``w -= learning_rate * grad``.

    The augmented assignment updates the array in place where the library allows it and
    rebinds ``p.value`` where arrays are immutable.
    """

    def update_parameter(self, p):
        p.value -= self.learning_rate * p.grad


OPTIMIZERS = {"sgd": SGD}


def get(optimizer) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        return optimizer()
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ValueError(f"unknown optimizer {optimizer!r}; pass one such as xdl.SGD(0.01) or one of {sorted(OPTIMIZERS)}")
