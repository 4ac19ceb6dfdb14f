"""Metrics that count: ``Precision``, ``Recall``, ``F1Score`` and ``AUC``, as Keras defines them.

Their statistics are weighted counts (true and false positives, ...; for AUC a histogram of
scores per label) summed on the device over an epoch's batches (and over processes), turned
into the figure once, on the host, by ``result``. See base.py for the protocol.
"""

from __future__ import annotations

from ..core.backend import backend_of, namespace_of
from ..core.checks import boolean, int_at_least, one_of, text
from ..errors import ArgumentError
from ..losses import CrossEntropy, weights_for
from .base import Metric

_EPS = 1e-7  # Keras's backend.epsilon(), where Keras's formulas use it


class _Scores(Metric):
    """Metrics on probabilities against 0/1 targets of the same shape (N, ..., C): integer
    labels become one-hot rows (for one output column, 0/1 values). ``from_logits=None`` takes
    the compiled loss's word: logits get a softmax (cross-entropy) or a sigmoid first."""

    from_logits, activation = False, "sigmoid"

    def for_loss(self, loss):
        if getattr(self, "_from_logits_given", None) is not None:
            return self
        from_logits = bool(getattr(loss, "from_logits", False))
        activation = "softmax" if isinstance(loss, CrossEntropy) else "sigmoid"
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound.from_logits, bound.activation = from_logits, activation
        return bound

    def prepare(self, y_true, y_pred, sample_weight):
        """``(xp, targets, probabilities, weights)``, all of ``y_pred``'s shape."""
        xp = namespace_of(y_pred)
        if self.from_logits:
            if self.activation == "softmax" and y_pred.shape[-1] > 1:
                e = xp.exp(y_pred - xp.max(y_pred, axis=-1, keepdims=True))
                y_pred = e / xp.sum(e, axis=-1, keepdims=True)
            else:
                y_pred = 0.5 * (xp.tanh(0.5 * y_pred) + 1.0)
        if y_true.ndim < y_pred.ndim:
            if y_pred.shape[-1] == 1:
                y_true = xp.reshape(y_true, tuple(y_true.shape) + (1,))
            else:
                classes = xp.arange(y_pred.shape[-1], dtype=xp.int64, device=y_pred.device)
                y_true = xp.astype(y_true, xp.int64)[..., None] == classes
        t = xp.astype(y_true, y_pred.dtype)
        if sample_weight is None:
            w = xp.ones_like(y_pred)
        else:
            w = xp.broadcast_to(weights_for(xp, xp.astype(sample_weight, y_pred.dtype), y_pred.ndim), y_pred.shape)
        return xp, t, y_pred, w


def _check_threshold(cls, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ArgumentError(f"{cls}: threshold must be a number in [0, 1], got {value!r}")
    return float(value)


class _Confusion(_Scores):
    """True positives, false positives and false negatives at one threshold, summed over
    every position (Keras's micro view), or over one column with ``class_id``."""

    def __init__(self, thresholds=0.5, class_id=None, name=None, from_logits=None):
        self.thresholds = _check_threshold(type(self).__name__, thresholds)
        self.class_id = int_at_least(type(self).__name__, "class_id", class_id, 0, optional=True)
        self.name = text(type(self).__name__, "name", name, optional=True) or self.name
        self._from_logits_given = from_logits
        if from_logits is not None:
            self.from_logits = boolean(type(self).__name__, "from_logits", from_logits)

    def counts(self, y_true, y_pred, sample_weight):
        xp, t, p, w = self.prepare(y_true, y_pred, sample_weight)
        if self.class_id is not None:
            t, p, w = t[..., self.class_id], p[..., self.class_id], w[..., self.class_id]
        predicted = xp.astype(p > self.thresholds, p.dtype)
        return xp.sum(w * t * predicted), xp.sum(w * (1.0 - t) * predicted), xp.sum(w * t * (1.0 - predicted))

    def get_config(self):
        return {"thresholds": self.thresholds, "class_id": self.class_id, "name": self.name,
                "from_logits": self._from_logits_given}


class Precision(_Confusion):
    """Keras's ``Precision``: ``TP / (TP + FP)`` of ``y_pred > thresholds`` (0 when nothing is
    predicted positive)."""

    name = "precision"

    def statistics(self, y_true, y_pred, sample_weight=None):
        tp, fp, _ = self.counts(y_true, y_pred, sample_weight)
        return [tp, fp]

    def result(self, sums):
        tp, fp = sums
        return tp / (tp + fp) if tp + fp else 0.0


class Recall(_Confusion):
    """Keras's ``Recall``: ``TP / (TP + FN)`` of ``y_pred > thresholds``."""

    name = "recall"

    def statistics(self, y_true, y_pred, sample_weight=None):
        tp, _, fn = self.counts(y_true, y_pred, sample_weight)
        return [tp, fn]

    def result(self, sums):
        tp, fn = sums
        return tp / (tp + fn) if tp + fn else 0.0


class F1Score(_Scores):
    """Keras's ``F1Score`` per class, averaged: ``average`` "macro" (the default here: logs hold
    one number; Keras's default None gives the per-class array), "micro" or "weighted" (by
    each class's support). ``threshold=None``: each row's highest score is its prediction
    (one output column: 0.5); else every score above ``threshold``."""

    name = "f1_score"

    def __init__(self, average="macro", threshold=None, name="f1_score", from_logits=None):
        self.average = one_of("F1Score", "average", average, ("macro", "micro", "weighted"))
        self.name = text("F1Score", "name", name)
        self.threshold = None if threshold is None else _check_threshold("F1Score", threshold)
        self._from_logits_given = from_logits
        if from_logits is not None:
            self.from_logits = boolean(type(self).__name__, "from_logits", from_logits)

    def size_for(self, output_shape):
        return 3 * int(output_shape[-1])

    def statistics(self, y_true, y_pred, sample_weight=None):
        xp, t, p, w = self.prepare(y_true, y_pred, sample_weight)
        if self.threshold is None and p.shape[-1] > 1:
            predicted = xp.astype(p >= xp.max(p, axis=-1, keepdims=True), p.dtype)
        else:
            predicted = xp.astype(p > (0.5 if self.threshold is None else self.threshold), p.dtype)
        axes = tuple(range(p.ndim - 1))  # per class (the last axis)
        return [xp.sum(w * t * predicted, axis=axes), xp.sum(w * (1.0 - t) * predicted, axis=axes),
                xp.sum(w * t * (1.0 - predicted), axis=axes)]

    def result(self, sums):
        c = len(sums) // 3
        tp, fp, fn = sums[:c], sums[c:2 * c], sums[2 * c:]
        if self.average == "micro":
            tp, fp, fn = [sum(tp)], [sum(fp)], [sum(fn)]
        scores = []
        for a, b, d in zip(tp, fp, fn):  # Keras's FBetaScore with beta = 1
            precision, recall = a / (a + b + _EPS), a / (a + d + _EPS)
            scores.append(2.0 * precision * recall / (precision + recall + _EPS))
        if self.average == "weighted":
            support = [a + d for a, d in zip(tp, fn)]
            total = sum(support)
            return sum(s * n for s, n in zip(scores, support)) / total if total else 0.0
        return sum(scores) / len(scores)

    def get_config(self):
        return {"average": self.average, "threshold": self.threshold, "name": self.name,
                "from_logits": self._from_logits_given}


class AUC(_Scores):
    """Keras's ``AUC`` (ROC curve): area under the curve of true against false positive rate
    over ``num_thresholds`` thresholds evenly spaced in [0, 1], by the trapezoidal rule
    ("interpolation"; or "minoring"/"majoring"). Scores go into one histogram per label on
    the device (a scatter-add per batch), so the epoch's curve is exact for its thresholds.

    ``multi_label=False``: every position counts as one binary decision (binary targets; for
    several columns Keras's micro view). ``multi_label=True``: one curve per column, their
    areas averaged: with class labels or one-hot targets, one-vs-rest AUC (macro average)."""

    name = "auc"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", multi_label=False,
                 name="auc", from_logits=None):
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds < 2:
            raise ArgumentError(f"AUC: num_thresholds must be an integer > 1, got {num_thresholds!r}")
        one_of("AUC", "curve (only ROC is supported)", curve, ("ROC",))
        one_of("AUC", "summation_method", summation_method, ("interpolation", "minoring", "majoring"))
        self.num_thresholds, self.curve, self.summation_method = num_thresholds, curve, summation_method
        self.multi_label, self.name = boolean(type(self).__name__, "multi_label", multi_label), name
        self._from_logits_given = from_logits
        if from_logits is not None:
            self.from_logits = boolean(type(self).__name__, "from_logits", from_logits)

    def size_for(self, output_shape):
        labels = max(int(output_shape[-1]), 1) if self.multi_label else 1
        return 2 * labels * self.num_thresholds

    def statistics(self, y_true, y_pred, sample_weight=None):
        xp, t, p, w = self.prepare(y_true, y_pred, sample_weight)
        steps = self.num_thresholds
        # bucket b: the number of thresholds below p (threshold 0 is -eps, the last 1 + eps)
        interior = xp.ceil(xp.where(p < 0.0, 0.0, xp.where(p > 1.0, 1.0, p)) * (steps - 1)) - 1.0
        bucket = xp.astype(xp.where(interior < 0.0, 0.0, xp.where(interior > steps - 2, steps - 2, interior)),
                           xp.int64) + 1
        if self.multi_label:
            column = xp.arange(p.shape[-1], dtype=xp.int64, device=p.device) * steps
            bucket, labels = bucket + column, p.shape[-1]
        else:
            labels = 1
        rows = xp.stack([xp.reshape(w * t, (-1,)), xp.reshape(w * (1.0 - t), (-1,))], axis=1)
        hist = backend_of(p).index_add(xp.reshape(bucket, (-1,)), rows, labels * steps)  # (L*T, 2)
        return [xp.reshape(hist.T, (-1,))]  # positives then negatives, label by label

    def result(self, sums):
        steps = self.num_thresholds
        half = len(sums) // 2
        positives, negatives = sums[:half], sums[half:]
        areas = [self._area(positives[i:i + steps], negatives[i:i + steps]) for i in range(0, half, steps)]
        return sum(areas) / len(areas)

    def _area(self, pos, neg):
        # counts at threshold i: predicted positive are the buckets above i
        tp, fp, above_p, above_n = [], [], sum(pos), sum(neg)
        for b in range(len(pos)):
            above_p -= pos[b]
            above_n -= neg[b]
            tp.append(above_p)
            fp.append(above_n)
        total_p, total_n = sum(pos), sum(neg)
        tpr = [a / total_p if total_p else 0.0 for a in tp]
        fpr = [a / total_n if total_n else 0.0 for a in fp]
        pick = {"interpolation": lambda a, b: (a + b) / 2, "minoring": min, "majoring": max}[self.summation_method]
        return sum((fpr[i] - fpr[i + 1]) * pick(tpr[i], tpr[i + 1]) for i in range(len(tpr) - 1))

    def get_config(self):
        return {"num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "multi_label": self.multi_label, "name": self.name,
                "from_logits": self._from_logits_given}
