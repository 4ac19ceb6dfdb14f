"""Losses (Keras's ``keras.losses``), stateless: ``value_and_grad(y_true, y_pred,
sample_weight)`` gives the mean loss and its gradient with respect to ``y_pred`` from one call,
nothing kept between calls, so one loss instance serves any number of outputs and calls.
``loss(y_true, y_pred)`` is the value alone on any array-likes. The value stays a 0-d array on
the device: no host sync. (The tutorial's ``forward``/``backward`` pair: see xdl/tutorial.py.)

Every loss averages over all leading axes, so (batch, time, classes) predictions of a
sequence model need no reshaping.
"""

from __future__ import annotations

import math

from .core.backend import backend_of, clip, convert, floatx, get_backend, namespace_of
from .core.checks import boolean, number
from .errors import ShapeError, shape_str
from .tutorial import TutorialLoss

_EPS = 1e-7  # keeps log() finite for probabilities at exactly 0 or 1
# Scalar bounds go through where(), not minimum/maximum: array-api-compat turns their scalar
# into a tensor, a host-to-device copy (and sync) per call on torch-CUDA.


class Loss(TutorialLoss):
    """Base of all losses. Subclasses implement ``value_and_grad`` on backend arrays, in the
    namespace of the arrays they are given, whatever backend is active.
    """

    #: integer class labels are accepted as targets (kept as integers)
    accepts_labels = False

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        """``(mean loss (0-d), its gradient w.r.t. y_pred)`` for backend arrays: ``y_pred`` (N, ...),
        ``y_true`` as ``targets`` made it, ``sample_weight`` None or weights for the leading axes
        of ``y_pred``, (N,) or (N, T, ...), broadcast over the rest (see ``weights_for``); the sum
        of the weighted terms is divided by their number (Keras's "sum_over_batch_size").
        ``grad=False``: the gradient is not computed (None)."""
        raise NotImplementedError(f"{type(self).__name__} implements no value_and_grad(y_true, y_pred, "
                                  "sample_weight, grad)")

    def value(self, y_true, y_pred, sample_weight=None):
        """The mean loss alone (0-d), for backend arrays (see ``value_and_grad``)."""
        return self.value_and_grad(y_true, y_pred, sample_weight, grad=False)[0]

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The mean loss of ``y_pred`` (N, ...) against ``y_true``, on any array-likes; ``sample_weight``
        (N,) (or (N, T, ...), leading axes of the loss) weighs each sample's terms.

        A ``y_pred`` that is an array of some backend stays there and ``y_true`` goes to it;
        host data (lists, scalars) goes to the active backend, in the default float dtype.
        """
        return self.value(*self.accept(y_true, y_pred, sample_weight))

    def accept(self, y_true, y_pred, sample_weight=None):
        """``(y_true, y_pred, sample_weight)`` as ``value_and_grad`` takes them, from any
        array-likes, with their shapes and label values checked."""
        be = backend_of(y_pred)
        if be is None:  # host data: cast once to the default float dtype
            be = get_backend()
            y_pred = convert(be, y_pred, be.dtype(floatx()), f"{type(self).__name__}: y_pred")
        y_true = self.targets(be, y_true, y_pred.dtype)
        self.check_shapes(tuple(y_true.shape), tuple(y_pred.shape))
        y_true = self.check_labels(be, y_true, tuple(y_pred.shape), f"{type(self).__name__}: y_true")
        if sample_weight is not None:
            sample_weight = convert(be, sample_weight, y_pred.dtype, f"{type(self).__name__}: sample_weight")
        return y_true, y_pred, sample_weight

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

    def get_config(self) -> dict:
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def weights_for(xp, w, ndim):
    """Sample weights (N,) or (N, T, ...) shaped to broadcast over an ``ndim``-axis array."""
    return w if w is None or w.ndim == ndim else xp.reshape(w, tuple(w.shape) + (1,) * (ndim - w.ndim))


def _weighted(terms, w):
    """``terms`` times the (broadcast) weights, or ``terms`` itself without weights."""
    return terms if w is None else terms * w


class MSE(Loss):
    """Mean squared error over all elements: ``mean((y_pred - y_true) ** 2)``."""

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        xp = namespace_of(y_pred)
        diff = y_pred - y_true
        w = weights_for(xp, sample_weight, y_pred.ndim)
        value = xp.mean(diff * diff) if w is None else xp.sum(diff * diff * w) / math.prod(y_pred.shape)
        return value, _weighted((2.0 / math.prod(diff.shape)) * diff, w) if grad else None


class MAE(Loss):
    """Mean absolute error: ``mean(|y_pred - y_true|)``; its gradient is the sign, scaled."""

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        xp = namespace_of(y_pred)
        diff = y_pred - y_true
        w = weights_for(xp, sample_weight, y_pred.ndim)
        value = xp.sum(_weighted(xp.abs(diff), w)) / math.prod(y_pred.shape)
        return value, _weighted(xp.sign(diff) * (1.0 / math.prod(diff.shape)), w) if grad else None


class Huber(Loss):
    """Quadratic within ``delta`` of the target, linear beyond: robust to outliers."""

    def __init__(self, delta=1.0):
        self.delta = number("Huber", "delta", delta, low_open=True)

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        xp = namespace_of(y_pred)
        d = y_pred - y_true
        w = weights_for(xp, sample_weight, y_pred.ndim)
        a = xp.abs(d)
        quadratic = xp.where(a < self.delta, a, self.delta)  # the part of |d| inside delta
        terms = 0.5 * quadratic * quadratic + self.delta * (a - quadratic)
        value = xp.sum(_weighted(terms, w)) / math.prod(d.shape)
        return value, _weighted(clip(xp, d, -self.delta, self.delta) * (1.0 / math.prod(d.shape)), w) if grad else None

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
    (see train/compile.py). Float labels must hold whole numbers.
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

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        xp, be = namespace_of(y_pred), backend_of(y_pred)
        w = weights_for(xp, sample_weight, y_pred.ndim)  # (N, ..., 1): one weight per row
        labels = y_true.ndim < y_pred.ndim
        scale = 1.0 / math.prod(y_pred.shape[:-1])
        if self.from_logits:
            log_prob, prob = be.log_softmax(y_pred)
        else:
            prob = clip(xp, y_pred, _EPS, 1.0)
            log_prob = xp.log(prob)
        if labels and w is None:  # plain labels: the loss and its gradient straight from the indices
            value = be.label_nll_sum(log_prob, y_true) / math.prod(y_pred.shape[:-1])  # (Backend hooks)
            if not grad:
                return value, None
            if self.from_logits:
                return value, be.label_softmax_grad(prob, y_true, scale)
            return value, (-scale) * _one_hot(xp, y_true, prob) / prob
        target = _one_hot(xp, y_true, y_pred) if labels else y_true
        value = -xp.sum(_weighted(target, w) * log_prob) / math.prod(y_pred.shape[:-1])
        if not grad:
            return value, None
        if not self.from_logits:
            return value, _weighted((-scale) * target / prob, w)
        # d/dz of -sum(t * log softmax(z)) is softmax * sum(t) - t; sum(t) is 1 for one-hot rows
        if labels:
            g = prob - target
            g *= scale
            return value, _weighted(g, w)
        return value, _weighted((prob * xp.sum(target, axis=-1, keepdims=True) - target) * scale, w)

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
    ``Sigmoid`` the loss is computed from the Sigmoid's input either way (see train/compile.py).
    """

    def __init__(self, from_logits=True):
        self.from_logits = boolean(type(self).__name__, "from_logits", from_logits)

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        xp = namespace_of(y_pred)
        scale = 1.0 / math.prod(y_pred.shape)
        w = weights_for(xp, sample_weight, y_pred.ndim)
        if self.from_logits:
            terms = xp.where(y_pred > 0, y_pred, 0.0) - y_pred * y_true + xp.log1p(xp.exp(-xp.abs(y_pred)))
        else:
            p = clip(xp, y_pred, _EPS, 1.0 - _EPS)
            terms = -(y_true * xp.log(p) + (1.0 - y_true) * xp.log1p(-p))
        value = xp.sum(_weighted(terms, w)) / math.prod(y_pred.shape)
        if not grad:
            return value, None
        if self.from_logits:
            prob = 0.5 * (xp.tanh(0.5 * y_pred) + 1.0)  # sigmoid without overflow
            return value, _weighted((prob - y_true) * scale, w)
        return value, _weighted((p - y_true) / (p * (1.0 - p)) * scale, w)

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
# see train/compile.py).
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
