"""Losses: ``forward(y_true, y_pred)`` returns the mean loss, ``backward()`` its gradient
with respect to ``y_pred``. The value stays a 0-d array on the device: no host sync."""

from __future__ import annotations

import math

from ._backend import floatx, get_backend
from .errors import ShapeError, shape_str


class Loss:
    """Base of all losses. Subclasses implement ``call`` (on backend arrays) and ``backward``."""

    #: integer class labels are accepted as targets (kept as integers)
    accepts_labels = False

    def forward(self, y_true, y_pred):
        """Mean loss of ``y_pred`` (N, ...) against ``y_true``; accepts any array-like."""
        be = get_backend()
        if not be.owns(y_pred):  # host data: cast once to the default float dtype
            y_pred = be.asarray(y_pred, dtype=be.dtype(floatx()))
        y_true = be.asarray(y_true, dtype=y_pred.dtype)
        self.check_shapes(tuple(y_true.shape), tuple(y_pred.shape))
        return self.call(y_true, y_pred)

    def check_shapes(self, true_shape, pred_shape):
        if true_shape != pred_shape:
            raise ShapeError(
                f"{type(self).__name__}: y_true has shape {shape_str(true_shape, None)} but y_pred has "
                f"{shape_str(pred_shape, None)}; they must match (one-hot encode class labels for MSE)"
            )

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class MSE(Loss):
    """Mean squared error over all elements: ``mean((y_pred - y_true) ** 2)``."""

    def call(self, y_true, y_pred):
        self.diff = y_pred - y_true
        return get_backend().xp.mean(self.diff * self.diff)

    def backward(self):
        diff = self.diff
        return (2.0 / math.prod(diff.shape)) * diff


MeanSquaredError = MSE

LOSSES = {"mse": MSE, "mean_squared_error": MSE}


def get(loss) -> Loss:
    """A ``Loss`` instance, or one built from a name such as "mse"."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str) and loss.lower() in LOSSES:
        return LOSSES[loss.lower()]()
    raise ValueError(f"unknown loss {loss!r}; pass a Loss such as xdl.MSE() or one of {sorted(LOSSES)}")
