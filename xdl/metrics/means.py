"""Metrics for ``compile(metrics=[...])``, accumulated on the device and read once per epoch.

A metric turns a batch into ``statistics``: device arrays (or host numbers) that add up over
the batches of an epoch, such as a weighted sum and its total weight, or true and false
positive counts. ``fit`` sums them on the device with the loss and reads them back together
once (see train/epoch_sums.py); ``result`` turns the sums into the figure. Sums also add across
processes, so data-parallel figures are those of the whole data.

Weights (``sample_weight``, ``class_weight``) follow Keras: a mean metric is the weighted mean
``sum(w * value) / sum(w)``; counts (true positives, ...) are sums of weights.
"""

from __future__ import annotations

import math

from ..core.backend import namespace_of
from ..core.checks import boolean, number, positive_int
from ..losses import BinaryCrossEntropy, weights_for
from .base import Metric


class MeanMetric(Metric):
    """The (weighted) mean of ``values(y_true, y_pred)`` over every position."""

    def values(self, y_true, y_pred):
        raise NotImplementedError

    def statistics(self, y_true, y_pred, sample_weight=None):
        xp = namespace_of(y_pred)
        v = xp.astype(self.values(y_true, y_pred), y_pred.dtype)
        if sample_weight is None:  # the count is known on the host: no device work
            return [xp.sum(v), float(math.prod(v.shape))]
        w = xp.broadcast_to(weights_for(xp, xp.astype(sample_weight, v.dtype), v.ndim), v.shape)
        return [xp.sum(v * w), xp.sum(w)]

    def result(self, sums):
        total, weight = sums
        return total / weight if weight else 0.0

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            return super().__call__(y_true, y_pred, sample_weight)
        xp = namespace_of(y_pred)
        return xp.mean(xp.astype(self.values(y_true, y_pred), y_pred.dtype))


def _as_labels(xp, y_true, y_pred):
    """Class indices from integer labels (N, ...) or one-hot/probability rows (N, ..., C)."""
    return y_true if y_true.ndim < y_pred.ndim else xp.argmax(y_true, axis=-1)


class Accuracy(MeanMetric):
    """Fraction of correct predictions.

    Class labels or one-hot targets: the arg-max of ``y_pred`` must match. Binary targets
    (``y_pred`` with one column, or a model compiled with ``BinaryCrossEntropy``): ``y_pred``
    above ``threshold`` must match ``y_true`` above 0.5. The threshold defaults to 0 for logits
    and 0.5 for probabilities, as the compiled loss says.
    """

    name = "accuracy"

    def __init__(self, threshold=None, binary=None):
        if threshold is not None:  # checked here, so that a file's config is refused as the API's is
            threshold = number("Accuracy", "threshold", threshold, low=-math.inf)
        self.threshold, self.binary = threshold, boolean("Accuracy", "binary", binary, optional=True)

    def get_config(self):
        return {"threshold": self.threshold, "binary": self.binary}

    def for_loss(self, loss):
        binary = self.binary if self.binary is not None else isinstance(loss, BinaryCrossEntropy)
        threshold = self.threshold
        if threshold is None:
            threshold = 0.0 if getattr(loss, "from_logits", False) else 0.5
        return Accuracy(threshold, binary)

    def values(self, y_true, y_pred):
        xp = namespace_of(y_pred)
        if self.binary or (y_true.ndim == y_pred.ndim and y_pred.shape[-1] == 1):
            threshold = 0.5 if self.threshold is None else self.threshold
            return (y_pred > threshold) == (y_true > 0.5)
        labels = _as_labels(xp, y_true, y_pred)
        return xp.argmax(y_pred, axis=-1) == xp.astype(labels, xp.int64)


class TopKAccuracy(MeanMetric):
    """Fraction of samples whose true class is among the ``k`` highest scores (ties count
    in the sample's favour)."""

    def __init__(self, k=5):
        self.k = positive_int("TopKAccuracy", "k", k)
        self.name = f"top_{k}_accuracy"

    def values(self, y_true, y_pred):
        xp = namespace_of(y_pred)
        labels = _as_labels(xp, y_true, y_pred)
        classes = xp.arange(y_pred.shape[-1], dtype=xp.int64, device=y_pred.device)
        is_true = xp.astype(labels, xp.int64)[..., None] == classes
        true_score = xp.sum(xp.where(is_true, y_pred, 0.0), axis=-1, keepdims=True)
        higher = xp.sum(xp.astype(y_pred > true_score, xp.int32), axis=-1)  # the true class's rank
        return higher < self.k

    def get_config(self):
        return {"k": self.k}


class MeanAbsoluteError(MeanMetric):
    name = "mae"

    def values(self, y_true, y_pred):
        return namespace_of(y_pred).abs(y_pred - y_true)


class MeanSquaredError(MeanMetric):
    """Keras's ``MeanSquaredError`` metric: the (weighted) mean of ``(y_pred - y_true) ** 2``.
    (``xdl.MeanSquaredError`` is the loss; this is ``xdl.metrics.MeanSquaredError``.)"""

    def __init__(self, name="mean_squared_error"):
        self.name = name

    def values(self, y_true, y_pred):
        d = y_pred - y_true
        return d * d

    def get_config(self):
        return {"name": self.name}


class RootMeanSquaredError(MeanSquaredError):
    """The square root of the epoch's (weighted) mean squared error (not a mean of roots)."""

    def __init__(self, name="root_mean_squared_error"):
        self.name = name

    def result(self, sums):
        return math.sqrt(super().result(sums))

    def __call__(self, y_true, y_pred, sample_weight=None):
        return Metric.__call__(self, y_true, y_pred, sample_weight)


MAE = MeanAbsoluteError
RMSE = RootMeanSquaredError
