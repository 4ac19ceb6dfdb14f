"""Optimizers (Keras's ``keras.optimizers``): ``step(parameters)`` updates each ``Parameter``
from its gradient; ``schedules`` holds learning-rate schedules."""

from ..errors import ArgumentError
from . import schedules
from .algorithms import SGD, Adagrad, Adam, AdamW, Lion, Nadam, RMSprop
from .base import Optimizer

OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad, "nadam": Nadam,
              "lion": Lion}


def get(optimizer) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        return optimizer()
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ArgumentError(f"unknown optimizer {optimizer!r}; pass one such as xdl.SGD(0.01) or one of "
                        f"{sorted(OPTIMIZERS)}")


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam", "Lion", "OPTIMIZERS", "get", "schedules"]
