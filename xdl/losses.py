"""Losses: ``forward(y_true, y_pred)`` returns the mean loss, ``backward()`` its gradient
with respect to ``y_pred``. The value stays a 0-d array on the device: no host sync.

Every loss averages over all leading axes, so (batch, time, classes) predictions of a
sequence model need no reshaping.
"""

from __future__ import annotations

import math

from .core.backend import backend_of, clip, convert, floatx, get_backend, namespace_of
from .core.checks import boolean, number
from .errors import ShapeError, shape_str

_EPS = 1e-7  # keeps log() finite for probabilities at exactly 0 or 1
# Scalar bounds go through where(), not minimum/maximum: array-api-compat turns their scalar
# into a tensor, a host-to-device copy (and sync) per call on torch-CUDA.


class Loss:
    """Base of all losses. Subclasses implement ``call`` (on backend arrays) and ``backward``.

    ``call`` and ``backward`` compute in the namespace of the arrays ``call`` is given, whatever
    backend is active.
    """

    #: integer class labels are accepted as targets (kept as integers)
    accepts_labels = False

    def forward(self, y_true, y_pred, sample_weight=None):
        """Mean loss of ``y_pred`` (N, ...) against ``y_true``; accepts any array-like.
        ``sample_weight`` (N,) (or (N, T, ...), leading axes of the loss) weighs each sample's
        terms; the sum is still divided by the number of terms (Keras's "sum_over_batch_size").

        A ``y_pred`` that is an array of some backend stays there and ``y_true`` goes to it;
        host data (lists, scalars) goes to the active backend, in the default float dtype.
        """
        be = backend_of(y_pred)
        if be is None:  # host data: cast once to the default float dtype
            be = get_backend()
            y_pred = convert(be, y_pred, be.dtype(floatx()), f"{type(self).__name__}: y_pred")
        y_true = self.targets(be, y_true, y_pred.dtype)
        self.check_shapes(tuple(y_true.shape), tuple(y_pred.shape))
        y_true = self.check_labels(be, y_true, tuple(y_pred.shape), f"{type(self).__name__}: y_true")
        if sample_weight is not None:
            sample_weight = convert(be, sample_weight, y_pred.dtype, f"{type(self).__name__}: sample_weight")
        return self.call(y_true, y_pred, sample_weight)

    def targets(self, be, y, dtype):
        """``y`` on ``be``: integer labels kept as they are where accepted, else cast to ``dtype``."""
        where = f"{type(self).__name__}: y_true"
        if not self.accepts_labels:  # one conversion, straight to the dtype
            return convert(be, y, dtype, where)
        y = convert(be, y, None, where)
        return y if be.xp.isdtype(y.dtype, "integral") else convert(be, y, dtype, where)

    def check_shapes(self, true_shape, pred_shape):
        if true_shape != pred_shape:
            raise ShapeError(
                f"{type(self).__name__}: y_true has shape {shape_str(true_shape, None)} but y_pred has "
                f"{shape_str(pred_shape, None)}; they must match (one-hot encode class labels for MSE)"
            )

    def check_labels(self, be, y_true, pred_shape, where):
        """``y_true`` as the loss computes with it, after checks that need its values (class
        labels in range); one device read at most. Called once per fit/evaluate call."""
        return y_true

    def call(self, y_true, y_pred, sample_weight=None):
        """The mean loss (0-d); ``sample_weight``: None, or weights for the leading axes of
        ``y_pred`` (N,) or (N, T, ...), broadcast over the rest (see ``weights_for``)."""
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def weights_for(xp, w, ndim):
    """Sample weights (N,) or (N, T, ...) shaped to broadcast over an ``ndim``-axis array."""
    return w if w is None or w.ndim == ndim else xp.reshape(w, tuple(w.shape) + (1,) * (ndim - w.ndim))


def _weighted(xp, terms, w):
    """``terms`` times the (broadcast) weights, or ``terms`` itself without weights."""
    return terms if w is None else terms * w


class MSE(Loss):
    """Mean squared error over all elements: ``mean((y_pred - y_true) ** 2)``."""

    def call(self, y_true, y_pred, sample_weight=None):
        xp = namespace_of(y_pred)
        self.diff = y_pred - y_true
        self.w = weights_for(xp, sample_weight, y_pred.ndim)
        if self.w is None:
            return xp.mean(self.diff * self.diff)
        return xp.sum(self.diff * self.diff * self.w) / math.prod(y_pred.shape)

    def backward(self):
        diff = self.diff
        return _weighted(None, (2.0 / math.prod(diff.shape)) * diff, self.w)


class MAE(Loss):
    """Mean absolute error: ``mean(|y_pred - y_true|)``; its gradient is the sign, scaled."""

    def call(self, y_true, y_pred, sample_weight=None):
        self.xp = xp = namespace_of(y_pred)
        self.diff = y_pred - y_true
        self.w = weights_for(xp, sample_weight, y_pred.ndim)
        return xp.sum(_weighted(xp, xp.abs(self.diff), self.w)) / math.prod(y_pred.shape)

    def backward(self):
        return _weighted(self.xp, self.xp.sign(self.diff) * (1.0 / math.prod(self.diff.shape)), self.w)


class Huber(Loss):
    """Quadratic within ``delta`` of the target, linear beyond: robust to outliers."""

    def __init__(self, delta=1.0):
        self.delta = number("Huber", "delta", delta, low_open=True)

    def call(self, y_true, y_pred, sample_weight=None):
        self.xp = xp = namespace_of(y_pred)
        self.diff = d = y_pred - y_true
        self.w = weights_for(xp, sample_weight, y_pred.ndim)
        a = xp.abs(d)
        quadratic = xp.where(a < self.delta, a, self.delta)  # the part of |d| inside delta
        terms = 0.5 * quadratic * quadratic + self.delta * (a - quadratic)
        return xp.sum(_weighted(xp, terms, self.w)) / math.prod(d.shape)

    def backward(self):
        d = self.diff
        return _weighted(self.xp, clip(self.xp, d, -self.delta, self.delta) * (1.0 / math.prod(d.shape)), self.w)

    def get_config(self):
        return {"delta": self.delta}


class CrossEntropy(Loss):
    """Categorical cross-entropy over the last axis of ``y_pred`` (N, ..., C).

    Targets are integer class labels (N, ...) or one-hot/probability rows (N, ..., C).
    With ``from_logits=True`` (the default) ``y_pred`` are raw scores: the softmax is
    computed here, stably (max subtracted), and its gradient fuses into ``softmax - target``.
    With ``from_logits=False`` ``y_pred`` are probabilities (Keras's "categorical_crossentropy"
    and "sparse_categorical_crossentropy"). In a model whose output comes from ``Softmax`` the
    loss is computed from the Softmax's input either way, stably and never squashed twice
    (see objectives.py). Float labels must hold whole numbers.
    """

    accepts_labels = True

    def __init__(self, from_logits=True):
        self.from_logits = boolean(type(self).__name__, "from_logits", from_logits)

    def check_labels(self, be, y_true, pred_shape, where):
        """Labels (y_true of shape ``pred_shape[:-1]``) must be class indices in
        [0, classes): integers, or floats holding whole numbers (then made integers); anything
        else (3.5, NaN, 10 for 10 classes) is an error, not a silent all-zero target."""
        if tuple(y_true.shape) != pred_shape[:-1] or 0 in y_true.shape:
            return y_true
        xp, classes = be.xp, pred_shape[-1]
        whole = xp.isdtype(y_true.dtype, "integral")
        figures = [xp.min(y_true), xp.max(y_true)]
        if not whole:  # count values that are not whole numbers (NaN and inf included)
            finite = xp.isfinite(y_true)
            fractional = xp.logical_or(xp.logical_not(finite), xp.floor(xp.where(finite, y_true, 0.0)) != y_true)
            figures.append(xp.sum(xp.astype(fractional, y_true.dtype)))
        low, high, *bad = (float(v) for v in be.to_numpy(xp.stack([xp.astype(f, xp.float64) for f in figures])))
        if bad and bad[0]:
            raise ValueError(f"{where}: float class labels must be whole numbers; {int(bad[0])} of them are not "
                             f"(fractions, NaN or inf; values from {low:g} to {high:g}). Pass integer labels in "
                             f"[0, {classes - 1}], or one-hot/probability rows of shape (N, ..., {classes})")
        if low < 0 or high >= classes:
            raise ValueError(f"{where}: class labels must lie in [0, {classes - 1}] for a model with "
                             f"{classes} outputs; got labels from {low:g} to {high:g}")
        return y_true if whole else xp.astype(y_true, xp.int64)

    def check_shapes(self, true_shape, pred_shape):
        if true_shape != pred_shape and true_shape != pred_shape[:-1]:
            raise ShapeError(
                f"{type(self).__name__}: y_pred has shape {shape_str(pred_shape, None)}, so y_true must be "
                f"labels of shape {shape_str(pred_shape[:-1], None)} or one-hot/probabilities of shape "
                f"{shape_str(pred_shape, None)}; got {shape_str(true_shape, None)}"
            )

    def call(self, y_true, y_pred, sample_weight=None):
        self.xp = xp = namespace_of(y_pred)
        self.w = weights_for(xp, sample_weight, y_pred.ndim)  # (N, ..., 1): one weight per row
        self.be = be = backend_of(y_pred)
        self.labels = y_true.ndim < y_pred.ndim
        self.count = math.prod(y_pred.shape[:-1])
        if self.from_logits:
            log_prob, self.prob = be.log_softmax(y_pred)
        else:
            self.prob = clip(xp, y_pred, _EPS, 1.0)
            log_prob = xp.log(self.prob)
        # plain labels: the loss and its gradient straight from the indices (Backend hooks, one
        # kernel each where the library has one); otherwise one-hot rows, by comparison
        self.indexed = self.labels and self.w is None
        if self.indexed:
            self.target = y_true
            return be.label_nll_sum(log_prob, y_true) / self.count
        if self.labels:
            y_true = _one_hot(xp, y_true, y_pred)
        self.target = y_true
        return -xp.sum(_weighted(xp, y_true, self.w) * log_prob) / self.count

    def backward(self):
        xp, t, scale = self.xp, self.target, 1.0 / self.count
        if self.indexed and self.from_logits:
            return self.be.label_softmax_grad(self.prob, t, scale)
        if self.indexed:
            t = _one_hot(xp, t, self.prob)
        if not self.from_logits:
            return _weighted(xp, (-scale) * t / self.prob, self.w)
        # d/dz of -sum(t * log softmax(z)) is softmax * sum(t) - t; sum(t) is 1 for one-hot rows
        if self.labels:
            grad = self.prob - t
            grad *= scale
            return _weighted(xp, grad, self.w)
        return _weighted(xp, (self.prob * xp.sum(t, axis=-1, keepdims=True) - t) * scale, self.w)

    def get_config(self):
        return {"from_logits": self.from_logits}


def _one_hot(xp, labels, like):
    """Class indices (N, ...) as one-hot rows (N, ..., C) in ``like``'s dtype."""
    classes = xp.arange(like.shape[-1], dtype=labels.dtype, device=labels.device)
    return xp.astype(labels[..., None] == classes, like.dtype)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy, elementwise against targets in [0, 1] of the same shape.

    ``from_logits=True`` (the default, as for ``CrossEntropy``) takes raw scores and is stable
    for any magnitude (``max(z, 0) - z t + log1p(exp(-|z|))``); ``from_logits=False`` takes
    probabilities (Keras's "binary_crossentropy"). In a model whose output comes from
    ``Sigmoid`` the loss is computed from the Sigmoid's input either way (see objectives.py).
    """

    def __init__(self, from_logits=True):
        self.from_logits = boolean(type(self).__name__, "from_logits", from_logits)

    def call(self, y_true, y_pred, sample_weight=None):
        self.xp = xp = namespace_of(y_pred)
        self.target, self.count = y_true, math.prod(y_pred.shape)
        self.w = weights_for(xp, sample_weight, y_pred.ndim)
        if self.from_logits:
            self.logits = y_pred
            terms = xp.where(y_pred > 0, y_pred, 0.0) - y_pred * y_true + xp.log1p(xp.exp(-xp.abs(y_pred)))
        else:
            self.prob = p = clip(xp, y_pred, _EPS, 1.0 - _EPS)
            terms = -(y_true * xp.log(p) + (1.0 - y_true) * xp.log1p(-p))
        return xp.sum(_weighted(xp, terms, self.w)) / self.count

    def backward(self):
        xp, t, scale = self.xp, self.target, 1.0 / self.count
        if self.from_logits:
            prob = 0.5 * (xp.tanh(0.5 * self.logits) + 1.0)  # sigmoid without overflow
            return _weighted(xp, (prob - t) * scale, self.w)
        p = self.prob
        return _weighted(xp, (p - t) / (p * (1.0 - p)) * scale, self.w)

    def get_config(self):
        return {"from_logits": self.from_logits}


class CategoricalCrossEntropy(CrossEntropy):
    """Keras's ``CategoricalCrossentropy``: ``CrossEntropy`` on probabilities by default."""

    def __init__(self, from_logits=False):
        super().__init__(from_logits)


class SparseCategoricalCrossEntropy(CrossEntropy):
    """Keras's ``SparseCategoricalCrossentropy``: ``CrossEntropy`` on probabilities by default."""

    def __init__(self, from_logits=False):
        super().__init__(from_logits)


MeanSquaredError, MeanAbsoluteError = MSE, MAE

# xdl's names take logits, as xdl's classes do; Keras's names mean what they mean in Keras:
# probabilities (a model ending in Softmax or Sigmoid is scored from its logits either way:
# see objectives.py).
LOSSES = {
    "mse": (MSE, {}), "mean_squared_error": (MSE, {}), "mae": (MAE, {}), "mean_absolute_error": (MAE, {}),
    "huber": (Huber, {}),
    "cross_entropy": (CrossEntropy, {}), "categorical_crossentropy": (CategoricalCrossEntropy, {}),
    "sparse_categorical_crossentropy": (SparseCategoricalCrossEntropy, {}),
    "binary_cross_entropy": (BinaryCrossEntropy, {}), "binary_crossentropy": (BinaryCrossEntropy, {"from_logits": False}),
}
#: the classes a model file may name
CLASSES = {cls.__name__: cls for cls in (MSE, MAE, Huber, CrossEntropy, CategoricalCrossEntropy,
                                         SparseCategoricalCrossEntropy, BinaryCrossEntropy)}


def get(loss) -> Loss:
    """A ``Loss`` instance, or one built from a name such as "mse" or "cross_entropy"."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str) and loss.lower() in LOSSES:
        cls, options = LOSSES[loss.lower()]
        return cls(**options)
    raise ValueError(f"unknown loss {loss!r}; pass a Loss such as xdl.MSE() or one of {sorted(LOSSES)}")
