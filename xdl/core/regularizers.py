"""Weight penalties, as Keras defines them: ``Dense(..., kernel_regularizer=xdl.regularizers.L2(1e-4))``.

A regularizer belongs to one parameter (``Parameter.regularizer``). The training step adds
every trainable parameter's penalty to the loss it reports (Keras's ``loss`` includes it;
each output's own loss does not) and the penalty's gradient to the parameter's gradient;
``evaluate`` reports the same total. A model without regularizers does no extra work.
"""

from __future__ import annotations

import math

from ..errors import ArgumentError, missing_method
from .backend import namespace_of


class Regularizer:
    """``penalty(w)``: a 0-d array on ``w``'s device; ``gradient(w)``: its gradient, w's shape."""

    def penalty(self, w):
        raise missing_method(self, "penalty(w)")

    def gradient(self, w):
        raise missing_method(self, "gradient(w)")

    def __call__(self, w):
        return self.penalty(w)

    def get_config(self) -> dict:
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))


def _factor(kind, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ArgumentError(f"{kind}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w ** 2)`` (Keras's L1L2; both 0 by default)."""

    def __init__(self, l1=0.0, l2=0.0):
        kind = type(self).__name__
        self.l1, self.l2 = _factor(kind, "l1", l1), _factor(kind, "l2", l2)

    def penalty(self, w):
        xp, total = namespace_of(w), None
        if self.l1:
            total = self.l1 * xp.sum(xp.abs(w))
        if self.l2:
            term = self.l2 * xp.sum(w * w)
            total = term if total is None else total + term
        return xp.sum(w * 0.0) if total is None else total

    def gradient(self, w):
        xp, grad = namespace_of(w), None
        if self.l1:
            grad = self.l1 * xp.sign(w)
        if self.l2:
            term = (2.0 * self.l2) * w
            grad = term if grad is None else grad + term
        return xp.zeros_like(w) if grad is None else grad

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)``; Keras's default factor 0.01. Its gradient at 0 is 0 (``sign``)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w ** 2)`` (no 1/2, as in Keras); Keras's default factor 0.01."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
#: the names Keras accepts, each with its default factor
NAMES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


#: Keras's lower-case spellings: ``regularizers.l2(1e-4)`` is an ``L2``
l1, l2 = L1, L2


def l1_l2(l1=0.01, l2=0.01):
    """Keras's helper: ``L1L2`` with both factors 0.01 by default."""
    return L1L2(l1=l1, l2=l2)


def get(identifier, where="regularizer"):
    """A ``Regularizer`` (or None) from an instance, None, a name ("l1", "l2", "l1_l2") or
    a config as ``spec`` writes it (``{"class": "L2", "config": {"l2": 1e-4}}``)."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in NAMES:
        return NAMES[identifier.lower()]()
    if isinstance(identifier, dict) and identifier.get("class") in CLASSES \
            and isinstance(identifier.get("config", {}), dict):
        return CLASSES[identifier["class"]](**identifier.get("config", {}))
    raise ArgumentError(f"{where}: unknown regularizer {identifier!r}; pass xdl.regularizers.L1(0.01), L2(0.01), "
                        f"L1L2(l1, l2), None or a name: {sorted(NAMES)}")


def spec(regularizer):
    """What a layer's config stores: None, or ``{"class", "config"}`` (plain JSON)."""
    if regularizer is None:
        return None
    return {"class": type(regularizer).__name__, "config": regularizer.get_config()}


def penalty(parameters):
    """The sum of the trainable ``parameters``' penalties (a 0-d array), None without any."""
    total = None
    for p in parameters:
        if p.trainable:
            term = p.regularizer.penalty(p.value)
            total = term if total is None else total + term
    return total


def add_gradients(parameters):
    """Add each trainable parameter's penalty gradient to its ``grad``."""
    for p in parameters:
        if p.trainable:
            p.add_grad(p.regularizer.gradient(p.value))


def penalize(figures, parameters, grads=True):
    """A step's loss ``figures`` (the total first) with the penalties of ``parameters`` (those
    with a regularizer) added to the total, and with ``grads`` their gradients to the
    parameters' own; ``figures`` as they are without any."""
    if not parameters:
        return figures
    total = penalty(parameters)
    if grads:
        add_gradients(parameters)
    return figures if total is None else [figures[0] + total] + list(figures[1:])


#: the constructor arguments layers take regularizers by (Keras's names)
KEYS = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "depthwise_regularizer",
        "pointwise_regularizer", "embeddings_regularizer")


def configs(layer) -> dict:
    """A layer's regularizers for its config, only those it has (older files hold none)."""
    return {key: spec(getattr(layer, key)) for key in KEYS if getattr(layer, key, None) is not None}
