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

import copy
import math

from ..core.backend import backend_of, convert, namespace_of
from ..core.checks import boolean, number, positive_int, short, text
from ..core.tape import unwrap
from ..errors import ArgumentError, ArgumentTypeError, missing_method
from ..losses import BinaryCrossEntropy, fit_targets, function_name, same_rank, weights_for
from .base import Metric


class MeanMetric(Metric):
    """The (weighted) mean of ``values(y_true, y_pred)`` over every position."""

    def values(self, y_true, y_pred):
        raise missing_method(self, "values(y_true, y_pred)")

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
        return xp.mean(xp.astype(self.values(fit_targets(xp, y_true, y_pred), y_pred), y_pred.dtype))


def _as_labels(xp, y_true, y_pred):
    """Class indices from integer labels (N, ...) or one-hot/probability rows (N, ..., C)."""
    return y_true if y_true.ndim < y_pred.ndim else xp.argmax(y_true, axis=-1)


def _sparse_labels(xp, y_true, y_pred):
    """Keras's sparse targets: integer labels (N, ...), or (N, ..., 1) with the last axis squeezed."""
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = xp.reshape(y_true, tuple(y_true.shape[:-1]))
    return xp.astype(y_true, xp.int64)


def _with_name(metric, config, default):
    """``config`` with ``"name"`` when the metric's name is not its class's ``default`` (a string
    of ``compile(metrics=[...])`` names the figure as Keras does; older configs hold none)."""
    return {**config, "name": metric.name} if metric.name != default else config


class Accuracy(MeanMetric):
    """Fraction of correct predictions.

    Class labels or one-hot targets: the arg-max of ``y_pred`` must match. Binary targets
    (``y_pred`` with one column, or a model compiled with ``BinaryCrossEntropy``): ``y_pred``
    above ``threshold`` must match ``y_true`` above 0.5. The threshold defaults to 0 for logits
    and 0.5 for probabilities, as the compiled loss says.
    """

    name = "accuracy"

    def __init__(self, threshold=None, binary=None, name=None):
        if threshold is not None:  # checked here, so that a file's config is refused as the API's is
            threshold = number("Accuracy", "threshold", threshold, low=-math.inf)
        self.threshold, self.binary = threshold, boolean("Accuracy", "binary", binary, optional=True)
        if name is not None:
            self.name = text("Accuracy", "name", name)

    def get_config(self):
        return _with_name(self, {"threshold": self.threshold, "binary": self.binary}, "accuracy")

    def for_loss(self, loss):
        binary = self.binary if self.binary is not None else isinstance(loss, BinaryCrossEntropy)
        threshold = self.threshold
        if threshold is None:
            threshold = 0.0 if getattr(loss, "from_logits", False) else 0.5
        bound = copy.copy(self)  # a subclass stays itself (its name, its own update_state)
        bound.threshold, bound.binary = threshold, binary
        return bound

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

    def __init__(self, k=5, name=None):
        self.k = positive_int(type(self).__name__, "k", k)
        self.name = f"top_{k}_accuracy" if name is None else text(type(self).__name__, "name", name)

    def values(self, y_true, y_pred):
        xp = namespace_of(y_pred)
        labels = _as_labels(xp, y_true, y_pred)
        classes = xp.arange(y_pred.shape[-1], dtype=xp.int64, device=y_pred.device)
        is_true = xp.astype(labels, xp.int64)[..., None] == classes
        true_score = xp.sum(xp.where(is_true, y_pred, 0.0), axis=-1, keepdims=True)
        higher = xp.sum(xp.astype(y_pred > true_score, xp.int32), axis=-1)  # the true class's rank
        return higher < self.k

    def get_config(self):
        return _with_name(self, {"k": self.k}, f"top_{self.k}_accuracy")


class SparseCategoricalAccuracy(MeanMetric):
    """Keras's ``SparseCategoricalAccuracy``: integer labels (N, ...) or (N, ..., 1) against
    scores (N, ..., C) (probabilities or logits): the arg-max of ``y_pred`` must equal the label."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def values(self, y_true, y_pred):
        xp = namespace_of(y_pred)
        return xp.argmax(y_pred, axis=-1) == _sparse_labels(xp, y_true, y_pred)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class CategoricalAccuracy(SparseCategoricalAccuracy):
    """Keras's ``CategoricalAccuracy``: one-hot (or probability) targets (N, ..., C) against
    scores (N, ..., C): the arg-maxes must agree."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def values(self, y_true, y_pred):
        xp = namespace_of(y_pred)
        return xp.argmax(y_pred, axis=-1) == xp.argmax(y_true, axis=-1)


class BinaryAccuracy(MeanMetric):
    """Keras's ``BinaryAccuracy``: ``y_pred > threshold`` (default 0.5, for probabilities; it
    does not follow the compiled loss's ``from_logits``: pass ``threshold=0.0`` for logits)
    must equal ``y_true``; targets (N,) against outputs (N, 1) are brought to one rank."""

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(name=name, dtype=dtype)
        self.threshold = number("BinaryAccuracy", "threshold", threshold, low=-math.inf)

    def values(self, y_true, y_pred):
        xp = namespace_of(y_pred)
        t, p = same_rank(y_true, y_pred)
        t, p = unwrap(t), unwrap(p)
        return xp.astype(p > self.threshold, t.dtype) == t

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "threshold": self.threshold}


class TopKCategoricalAccuracy(TopKAccuracy):
    """Keras's ``TopKCategoricalAccuracy``: one-hot targets; the true class among the ``k``
    highest scores (ties count in the sample's favour)."""

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(k, name=name)
        Metric.__init__(self, name=name, dtype=dtype)

    def get_config(self):
        return {"k": self.k, "name": self.name, "dtype": self.dtype}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """Keras's ``SparseTopKCategoricalAccuracy``: integer labels (N, ...) or (N, ..., 1); the
    true class among the ``k`` highest scores. ``from_sorted_ids=True`` is not supported."""

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False):
        if from_sorted_ids is not False:
            raise ArgumentError("SparseTopKCategoricalAccuracy: from_sorted_ids=True (predictions given as sorted "
                                "class ids) is not supported; pass the scores (N, C)")
        super().__init__(k, name=name, dtype=dtype)

    def values(self, y_true, y_pred):
        xp = namespace_of(y_pred)
        return super().values(_sparse_labels(xp, y_true, y_pred), y_pred)


class MeanAbsoluteError(MeanMetric):
    """Keras's ``MeanAbsoluteError`` metric: the (weighted) mean of ``|y_pred - y_true|``,
    logged as "mean_absolute_error" (Keras's name; ``MAE()`` and the string "mae" log "mae")."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def values(self, y_true, y_pred):
        return namespace_of(y_pred).abs(y_pred - y_true)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class MAE(MeanAbsoluteError):
    """xdl's short name: ``MeanAbsoluteError`` logged as "mae"."""

    def __init__(self, name="mae", dtype=None):
        super().__init__(name=name, dtype=dtype)


class MeanSquaredError(MeanMetric):
    """Keras's ``MeanSquaredError`` metric: the (weighted) mean of ``(y_pred - y_true) ** 2``.
    (``xdl.MeanSquaredError`` is the loss; this is ``xdl.metrics.MeanSquaredError``.)"""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def values(self, y_true, y_pred):
        d = y_pred - y_true
        return d * d

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class RootMeanSquaredError(MeanSquaredError):
    """The square root of the epoch's (weighted) mean squared error (not a mean of roots)."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def result(self, sums):
        return math.sqrt(super().result(sums))

    def __call__(self, y_true, y_pred, sample_weight=None):
        return Metric.__call__(self, y_true, y_pred, sample_weight)


class MeanMetricWrapper(MeanMetric):
    """Keras's ``MeanMetricWrapper``: the (weighted) mean of ``fn(y_true, y_pred, **kwargs)``, a
    plain function written with ``xdl.ops`` returning values per sample or position
    (``compile(metrics=[fn])`` makes one). Named by the function's ``__name__``. It takes the
    statistics path: a weighted sum and its weight per batch, summed on the device."""

    def __init__(self, fn=None, name=None, dtype=None, **kwargs):
        if not callable(fn) or isinstance(fn, type):
            raise ArgumentTypeError(f"MeanMetricWrapper: fn must be a function fn(y_true, y_pred), got {short(fn)}")
        super().__init__(name=function_name(fn) if name is None else name, dtype=dtype)
        self.fn, self.fn_kwargs = fn, dict(kwargs)

    def values(self, y_true, y_pred):
        t, p = same_rank(y_true, y_pred)
        v = unwrap(self.fn(t, p, **self.fn_kwargs))
        xp = namespace_of(y_pred)
        if not hasattr(v, "shape"):
            v = xp.asarray(v, dtype=y_pred.dtype, device=y_pred.device)
        return xp.broadcast_to(v, (y_pred.shape[0],)) if v.ndim == 0 else v  # one number: each sample's

    def get_config(self):
        return {"name": self.name}


def samplewise(xp, values, sample_weight, reduce):
    """Keras's ``reduce_to_samplewise_values``: ``(values, weights)`` per sample, the values
    weighted; the values' extra trailing axes (and then the weights') reduced by ``reduce``
    (``xp.mean`` for a mean, ``xp.sum`` for a sum)."""
    if sample_weight is not None:
        values, sample_weight = same_rank(values, sample_weight)
        wd, vd = sample_weight.ndim, values.ndim
        if vd > wd:
            values = reduce(values, axis=tuple(range(wd, vd)))
        values = values * sample_weight
        sample_weight = xp.broadcast_to(sample_weight, tuple(values.shape))
        if sample_weight.ndim > 1:
            sample_weight = reduce(sample_weight, axis=tuple(range(1, sample_weight.ndim)))
    if values.ndim > 1:
        values = reduce(values, axis=tuple(range(1, values.ndim)))
    return values, sample_weight


def _values_on(metric, variable, values, sample_weight):
    """``values`` and ``sample_weight`` as arrays on the variable's backend, in its dtype."""
    be, where = backend_of(variable.value), type(metric).__name__
    out = []
    for what, v in (("values", values), ("sample_weight", sample_weight)):
        v = unwrap(v)
        if v is not None and not be.owns(v):
            v = convert(be, v, variable.dtype, f"{where}: {what}")
        elif v is not None:
            v = be.xp.astype(v, variable.dtype)
        out.append(v)
    return out


class Mean(Metric):
    """Keras's ``Mean``: the (weighted) mean of the values given to ``update_state(values,
    sample_weight=None)``, kept in two variables (``total``, ``count``) on the device; for the
    figures a custom ``train_step`` computes (Keras's loss trackers), not for ``compile``."""

    takes_targets = False

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", name="total")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, values, sample_weight=None):
        values, sample_weight = _values_on(self, self.total, values, sample_weight)
        xp = namespace_of(values)
        values, sample_weight = samplewise(xp, values, sample_weight, xp.mean)
        self.total.assign_add(xp.sum(values))
        if sample_weight is not None:
            self.count.assign_add(xp.sum(sample_weight))
        else:
            self.count.assign_add(float(values.shape[0] if values.ndim else 1))

    def result(self):
        xp = namespace_of(self.total.value)
        count = self.count.value
        return xp.where(count != 0, self.total.value / xp.where(count != 0, count, 1.0), 0.0)


class Sum(Metric):
    """Keras's ``Sum``: the (weighted) sum of the values given to ``update_state(values,
    sample_weight=None)``, kept in a variable (``total``) on the device."""

    takes_targets = False

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", name="total")

    def update_state(self, values, sample_weight=None):
        values, sample_weight = _values_on(self, self.total, values, sample_weight)
        xp = namespace_of(values)
        values, _ = samplewise(xp, values, sample_weight, xp.sum)
        self.total.assign_add(xp.sum(values))

    def result(self):
        return self.total.value


RMSE = RootMeanSquaredError
