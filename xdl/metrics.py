"""Metrics for ``compile(metrics=[...])``: each returns a batch's mean as a 0-d device array,
so ``fit`` sums them on the device and reads them back with the loss, once per epoch."""

from __future__ import annotations

from ._backend import namespace_of
from ._checks import positive_int
from .losses import BinaryCrossEntropy


class Metric:
    name = "metric"

    def __call__(self, y_true, y_pred):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self):
        return f"{type(self).__name__}()"


def _as_labels(xp, y_true, y_pred):
    """Class indices from integer labels (N, ...) or one-hot/probability rows (N, ..., C)."""
    return y_true if y_true.ndim < y_pred.ndim else xp.argmax(y_true, axis=-1)


def _mean_of(xp, hits, dtype):
    return xp.mean(xp.astype(hits, dtype))


class Accuracy(Metric):
    """Fraction of correct predictions.

    Class labels or one-hot targets: the arg-max of ``y_pred`` must match. Binary targets
    (``y_pred`` with one column, or a model compiled with ``BinaryCrossEntropy``): ``y_pred``
    above ``threshold`` must match ``y_true`` above 0.5. The threshold defaults to 0 for logits
    and 0.5 for probabilities, as the compiled loss says.
    """

    name = "accuracy"

    def __init__(self, threshold=None, binary=None):
        self.threshold, self.binary = threshold, binary

    def get_config(self):
        return {"threshold": self.threshold, "binary": self.binary}

    def for_loss(self, loss):
        binary = self.binary if self.binary is not None else isinstance(loss, BinaryCrossEntropy)
        threshold = self.threshold
        if threshold is None:
            threshold = 0.0 if getattr(loss, "from_logits", False) else 0.5
        return Accuracy(threshold, binary)

    def __call__(self, y_true, y_pred):
        xp = namespace_of(y_pred)
        if self.binary or (y_true.ndim == y_pred.ndim and y_pred.shape[-1] == 1):
            threshold = 0.5 if self.threshold is None else self.threshold
            return _mean_of(xp, (y_pred > threshold) == (y_true > 0.5), y_pred.dtype)
        labels = _as_labels(xp, y_true, y_pred)
        return _mean_of(xp, xp.argmax(y_pred, axis=-1) == xp.astype(labels, xp.int64), y_pred.dtype)


class TopKAccuracy(Metric):
    """Fraction of samples whose true class is among the ``k`` highest scores (ties count
    in the sample's favour)."""

    def __init__(self, k=5):
        self.k = positive_int("TopKAccuracy", "k", k)
        self.name = f"top_{k}_accuracy"

    def __call__(self, y_true, y_pred):
        xp = namespace_of(y_pred)
        labels = _as_labels(xp, y_true, y_pred)
        classes = xp.arange(y_pred.shape[-1], dtype=xp.int64, device=y_pred.device)
        is_true = xp.astype(labels, xp.int64)[..., None] == classes
        true_score = xp.sum(xp.where(is_true, y_pred, 0.0), axis=-1, keepdims=True)
        higher = xp.sum(xp.astype(y_pred > true_score, xp.int32), axis=-1)  # the true class's rank
        return _mean_of(xp, higher < self.k, y_pred.dtype)

    def get_config(self):
        return {"k": self.k}

    def __repr__(self):
        return f"TopKAccuracy(k={self.k})"


class MeanAbsoluteError(Metric):
    name = "mae"

    def __call__(self, y_true, y_pred):
        xp = namespace_of(y_pred)
        return xp.mean(xp.abs(y_pred - y_true))


MAE = MeanAbsoluteError
METRICS = {"accuracy": Accuracy, "acc": Accuracy, "top_k_accuracy": TopKAccuracy,
           "top_5_accuracy": TopKAccuracy, "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError}


def get(metric, loss=None) -> Metric:
    """A ``Metric`` from an instance or a name ("accuracy", "top_k_accuracy", "mae"),
    adapted to the compiled ``loss`` where that matters (binary accuracy)."""
    if isinstance(metric, str) and metric.lower() in METRICS:
        metric = METRICS[metric.lower()]()
    elif isinstance(metric, type) and issubclass(metric, Metric):
        metric = metric()
    if not isinstance(metric, Metric):
        raise ValueError(f"unknown metric {metric!r}; pass a Metric or one of {sorted(METRICS)}")
    return metric.for_loss(loss) if isinstance(metric, Accuracy) else metric
