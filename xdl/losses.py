"""Losses (Keras's ``keras.losses``), stateless: ``value_and_grad(y_true, y_pred,
sample_weight)`` gives the mean loss and its gradient with respect to ``y_pred`` from one call,
nothing kept between calls, so one loss instance serves any number of outputs and calls.
``loss(y_true, y_pred)`` is the value alone on any array-likes. The value stays a 0-d array on
the device: no host sync. (The tutorial's ``forward``/``backward`` pair: see xdl/tutorial.py.)

Every loss averages over all leading axes, so (batch, time, classes) predictions of a
sequence model need no reshaping.

Users write losses Keras's way: a ``Loss`` subclass that defines only ``call(y_true, y_pred)``,
or a plain function given to ``compile(loss=fn)`` (``LossFunctionWrapper``), both with
``xdl.ops``; their values are weighed and reduced as Keras does (``reduce_weighted``) and their
gradient comes from the tape (core/tape.py). The built-ins keep their hand-written, fused
``value_and_grad``.
"""

from __future__ import annotations

import math

from .core import ops, tape
from .core.backend import (
    FLOAT_DTYPES,
    backend_of,
    clip,
    convert,
    floatx,
    get_backend,
    namespace_of,
)
from .core.checks import as_int, boolean, number, one_of, short, text
from .core.symbolic import Named, snake_case
from .core.tape import backpropagate, leaf, node_of, unwrap
from .errors import (
    ArgumentError,
    ArgumentTypeError,
    MissingMethodError,
    ShapeError,
    missing_method,
    shape_str,
)
from .tutorial import TutorialLoss

_EPS = 1e-7  # keeps log() finite for probabilities at exactly 0 or 1
# Scalar bounds go through where(), not minimum/maximum: array-api-compat turns their scalar
# into a tensor, a host-to-device copy (and sync) per call on torch-CUDA.


#: Keras's reductions of a loss's values: "sum_over_batch_size" (the sum of the weighted values
#: over their number) and "mean" alike, "sum", "mean_with_sample_weight" (over the sum of the
#: weights), None or "none" (the weighted values as they are: for direct calls only)
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)
_DEFINE = "call(y_true, y_pred) (Keras's way) or value_and_grad(y_true, y_pred, sample_weight, grad)"


class Loss(Named, TutorialLoss):
    """Base of all losses. Two ways to write one:

    * Keras's: define ``call(y_true, y_pred)`` with ``xdl.ops`` (or Python's operators),
      returning the loss per sample (N,), per position (N, ...) or already one number. The
      values are weighed by ``sample_weight`` and reduced by ``reduction`` as Keras does
      (default "sum_over_batch_size": the sum of the weighted values over their number); the
      gradient with respect to ``y_pred`` comes from the tape (core/tape.py). The constructor
      takes Keras's ``name=None, reduction="sum_over_batch_size", dtype=None`` (``dtype`` is
      accepted for Keras's signature; the loss computes in ``y_pred``'s dtype).
    * xdl's built-ins: define ``value_and_grad`` on backend arrays, in the namespace of the
      arrays they are given, whatever backend is active: the value and a hand-written
      gradient from one pass. Where a class defines both, ``value_and_grad`` is what trains.

    Either way a loss keeps no state between calls. ``compile(loss=fn)`` takes a plain function
    ``fn(y_true, y_pred)`` too (``LossFunctionWrapper``).
    """

    #: integer class labels are accepted as targets (kept as integers)
    accepts_labels = False
    reduction = "sum_over_batch_size"
    dtype = None

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        owner = type(self).__name__
        if name is not None:
            self.name = text(owner, "name", name)
        self.reduction = one_of(owner, "reduction", reduction, REDUCTIONS)
        self.dtype = None if dtype is None else one_of(owner, "dtype", dtype, FLOAT_DTYPES)

    @classmethod
    def keras_style(cls) -> bool:
        """True for a loss written with ``call``, trained by the tape: the class nearest in its
        MRO that defines ``call`` or ``value_and_grad`` defines ``call`` alone (a subclass of a
        built-in that defines ``call`` is computed by its ``call``)."""
        for klass in cls.__mro__:
            if klass is Loss:
                return False
            own = klass.__dict__.get("value_and_grad")
            if own is not None and own is not Loss.__dict__["value_and_grad"]:
                return False
            if "call" in klass.__dict__:
                return True
        return False

    def __init_subclass__(cls, **kwargs):
        """A subclass that defines ``call`` under a built-in's hand-written ``value_and_grad``
        is computed by its ``call``: the tape's ``value_and_grad`` is put back for it."""
        super().__init_subclass__(**kwargs)
        if "call" in cls.__dict__ and "value_and_grad" not in cls.__dict__:
            cls.value_and_grad = Loss.__dict__["value_and_grad"]

    @classmethod
    def defined(cls) -> bool:
        """Whether the class defines ``call`` or ``value_and_grad``: one of them makes a loss."""
        return cls.value_and_grad is not Loss.value_and_grad or cls.call is not Loss.call

    def call(self, y_true, y_pred):
        """Keras's way to write a loss: its values for ``y_pred`` (a Tensor while training:
        use ``xdl.ops`` and operators), per sample (N,), per position (N, ...) or one number."""
        raise missing_method(self, _DEFINE)

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        """``(mean loss (0-d), its gradient w.r.t. y_pred)`` for backend arrays: ``y_pred`` (N, ...),
        ``y_true`` as ``targets`` made it, ``sample_weight`` None or weights for the leading axes
        of ``y_pred``, (N,) or (N, T, ...), broadcast over the rest (see ``weights_for``); the sum
        of the weighted terms is divided by their number (Keras's "sum_over_batch_size").
        ``grad=False``: the gradient is not computed (None).

        Here, for a loss written with ``call``: ``call`` runs on ``y_pred`` as a leaf Tensor, its
        values are weighed and reduced (``reduce_weighted``) and the tape gives the gradient (a
        trainable Variable the loss uses gets its part in ``.grad``, as a layer's would)."""
        if not self.keras_style():
            raise missing_method(self, _DEFINE)
        return self._taped(self.call, y_true, y_pred, sample_weight, grad)

    def _taped(self, call, y_true, y_pred, sample_weight=None, grad=True):
        """``value_and_grad`` of the values ``call(y_true, y_pred)`` gives, weighed and reduced as
        ``reduction`` says, the gradient from the tape."""
        if self.reduction in (None, "none"):
            raise ArgumentError(f"{type(self).__name__}: reduction={self.reduction!r} gives one loss per value; "
                                "training needs one number: use reduction='sum_over_batch_size' (the default) or "
                                "'sum'")
        pred = leaf(y_pred) if grad else y_pred
        truth = leaf(y_true) if grad else y_true  # a Tensor too (a constant: nothing asks its gradient), so
        # that ``y_true * y_pred`` records on every backend (array_api_strict's arrays refuse a Tensor operand)
        total = reduce_weighted(call(truth, pred), sample_weight, self.reduction, y_pred, type(self).__name__)
        value = unwrap(total)
        if not grad:
            return value, None
        xp = namespace_of(y_pred)
        g = None
        if type(total) is tape.Tensor and total.rule is not None:
            g = backpropagate(total, xp.ones_like(value), [pred]).get(id(pred))
        return value, xp.zeros_like(y_pred) if g is None else g  # a loss that ignores y_pred: no gradient

    def value(self, y_true, y_pred, sample_weight=None):
        """The loss alone (0-d; for a ``call`` loss with reduction None, the weighted values),
        for backend arrays (see ``value_and_grad``)."""
        if self.keras_style():
            return unwrap(reduce_weighted(self.call(y_true, y_pred), sample_weight, self.reduction, y_pred,
                                          type(self).__name__))
        return self.value_and_grad(y_true, y_pred, sample_weight, grad=False)[0]

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The mean loss of ``y_pred`` (N, ...) against ``y_true``, on any array-likes; ``sample_weight``
        (N,) (or (N, T, ...), leading axes of the loss) weighs each sample's terms.

        A ``y_pred`` that is an array of some backend stays there and ``y_true`` goes to it;
        host data (lists, scalars) goes to the active backend, in the default float dtype.
        A ``y_pred`` that is a Tensor (inside a ``GradientTape``, a function given to ``grad``)
        gives a Tensor: the loss is recorded, and its gradient flows back to ``y_pred``.
        """
        traced = node_of(y_pred)  # what a gradient flows to: a Tensor, a trainable Variable, a watched array
        y_true, values, sample_weight = self.accept(unwrap(y_true), unwrap(y_pred), unwrap(sample_weight))
        if traced is None:
            return self.value(y_true, values, sample_weight)
        if self.keras_style():
            return reduce_weighted(self.call(leaf(y_true), y_pred), sample_weight, self.reduction, values,
                                   type(self).__name__)
        value, g = self.value_and_grad(y_true, values, sample_weight)  # recorded as one step
        return tape.Tensor(value, (traced,), lambda upstream, need: (upstream * g,))

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
        """``y`` on ``be``: integer labels kept as they are where accepted, else cast to ``dtype``
        (Keras casts a ``call`` loss's targets to the predictions' dtype too)."""
        where = f"{type(self).__name__}: y_true"
        if not self.accepts_labels:  # one conversion, straight to the dtype
            return convert(be, y, dtype, where)
        y = convert(be, y, None, where)
        return y if be.xp.isdtype(y.dtype, "integral") else convert(be, y, dtype, where)

    def check_shapes(self, true_shape, pred_shape):
        """Refuse targets of a shape the loss cannot take. A ``call`` loss decides for itself
        (labels (N,) against scores (N, C) may be what it wants): any shape passes here."""
        if self.keras_style():
            return
        if true_shape != pred_shape and not unit_apart(true_shape, pred_shape):
            raise ShapeError(
                f"{type(self).__name__}: y_true has shape {shape_str(true_shape, None)} but y_pred has "
                f"{shape_str(pred_shape, None)}; they must match (one-hot encode class labels for MSE)"
            )

    def check_labels(self, be, y_true, pred_shape, where):
        """``y_true`` as the loss computes with it, after checks that need its values (class
        labels in range); one device read at most. Called once per fit/evaluate call."""
        return y_true

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction} if self.keras_style() else {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class LossFunctionWrapper(Loss):
    """Keras's ``LossFunctionWrapper``: a plain function ``fn(y_true, y_pred, **kwargs)`` as a
    Loss (``compile(loss=fn)`` makes one), written with ``xdl.ops`` and operators, returning
    values per sample or position, or one number; weighed and reduced as ``Loss`` says, the
    gradient from the tape. Its name is the function's ``__name__``. As Keras does, targets of
    one axis fewer than the predictions whose last axis is 1 (or one more, of size 1) are
    brought to the predictions' rank before ``fn`` sees them."""

    def __init__(self, fn=None, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if not callable(fn) or isinstance(fn, type):
            raise ArgumentTypeError(f"LossFunctionWrapper: fn must be a function fn(y_true, y_pred), got {short(fn)}")
        super().__init__(name=function_name(fn) if name is None else name, reduction=reduction, dtype=dtype)
        self.fn, self.fn_kwargs = fn, dict(kwargs)

    def call(self, y_true, y_pred):
        y_true, y_pred = same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


def function_name(fn) -> str:
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) and name else snake_case(type(fn).__name__)


def same_rank(a, b):
    """Keras's ``squeeze_or_expand_to_same_rank``: ``a`` and ``b`` (arrays or Tensors) whose ranks
    differ by one through a last axis of size 1, brought to one rank (a rank-1 one expanded,
    else the other's last axis squeezed)."""
    ra, rb = len(a.shape), len(b.shape)
    if ra == rb + 1 and a.shape[-1] == 1:
        return (a, ops.expand_dims(b, -1)) if rb == 1 else (ops.squeeze(a, -1), b)
    if rb == ra + 1 and b.shape[-1] == 1:
        return (ops.expand_dims(a, -1), b) if ra == 1 else (a, ops.squeeze(b, -1))
    return a, b


def unit_apart(a, b) -> bool:
    """Whether shapes ``a`` and ``b`` differ only by a last axis of size 1 on one of them ((N,)
    and (N, 1)): Keras brings such targets to the predictions' rank (``same_rank``)."""
    a, b = tuple(a), tuple(b)
    return (len(a) == len(b) + 1 and a[-1] == 1 and a[:-1] == b) or (len(b) == len(a) + 1 and b[-1] == 1
                                                                      and b[:-1] == a)


def fit_targets(xp, y_true, y_pred):
    """Elementwise targets as the predictions' shape: (N,) against (N, 1), or (N, 1) against (N,),
    reshaped (a view, no copy), as Keras's ``squeeze_or_expand_to_same_rank`` gives the same
    values; any other shape as it is. ``xp``: the arrays' namespace (None: found if needed)."""
    na, nb = y_true.ndim, y_pred.ndim  # a step calls this per output: the common cases return at once
    if na == nb + 1 and y_true.shape[-1] == 1 or nb == na + 1 and y_pred.shape[-1] == 1:
        a, b = y_true.shape, y_pred.shape
        if unit_apart(a, b):
            return (xp or namespace_of(y_pred)).reshape(y_true, tuple(b))
    return y_true


def reduce_weighted(values, sample_weight, reduction, like, owner="loss"):
    """A ``call`` loss's ``values`` (an array or Tensor per sample (N,), per position (N, ...), or
    one number) times ``sample_weight`` and reduced, as Keras's losses do: the weights are
    broadcast over the values' trailing axes (weights of more axes than the values, a mask's,
    are averaged over the extra ones); then "sum_over_batch_size"/"mean" divides the sum of the
    weighted values by their number, "sum" sums, "mean_with_sample_weight" divides by the sum
    of the weights, None/"none" keeps them. ``like``: the predictions (their namespace, dtype)."""
    xp = namespace_of(like)
    if values is None or (not hasattr(values, "shape") and not isinstance(values, (int, float))):
        raise ArgumentTypeError(f"{owner}: the loss must return its values as an array (use xdl.ops), got "
                                f"{short(values)}")
    if not hasattr(values, "shape"):  # a Python number
        values = xp.asarray(values, dtype=like.dtype, device=like.device)
    w = sample_weight
    if w is not None:
        ndim = len(values.shape)
        if w.ndim == ndim + 1 and w.shape[-1] == 1:  # (N, 1) weights for (N,) values
            w = xp.reshape(w, tuple(w.shape[:-1]))
        if 0 < ndim < w.ndim:
            w = xp.mean(w, axis=tuple(range(ndim, w.ndim)))
        elif w.ndim < ndim:
            w = weights_for(xp, w, ndim)
        values = values * w
    if reduction is None or reduction == "none":
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and w is not None:
        weight = xp.sum(xp.broadcast_to(w, tuple(values.shape)))
        return total / xp.where(weight != 0, weight, 1.0)
    return total / max(math.prod(values.shape), 1)


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
        y_true = fit_targets(xp, y_true, y_pred)
        diff = y_pred - y_true
        w = weights_for(xp, sample_weight, y_pred.ndim)
        value = xp.mean(diff * diff) if w is None else xp.sum(diff * diff * w) / math.prod(y_pred.shape)
        return value, _weighted((2.0 / math.prod(diff.shape)) * diff, w) if grad else None


class MAE(Loss):
    """Mean absolute error: ``mean(|y_pred - y_true|)``; its gradient is the sign, scaled."""

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        xp = namespace_of(y_pred)
        y_true = fit_targets(xp, y_true, y_pred)
        diff = y_pred - y_true
        w = weights_for(xp, sample_weight, y_pred.ndim)
        value = xp.sum(_weighted(xp.abs(diff), w)) / math.prod(y_pred.shape)
        return value, _weighted(xp.sign(diff) * (1.0 / math.prod(diff.shape)), w) if grad else None


class _HuberFused(Loss):
    """Huber's value and hand-written gradient (``Huber`` is the class to use)."""

    delta = 1.0

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        xp = namespace_of(y_pred)
        y_true = fit_targets(xp, y_true, y_pred)
        d = y_pred - y_true
        w = weights_for(xp, sample_weight, y_pred.ndim)
        a = xp.abs(d)
        quadratic = xp.where(a < self.delta, a, self.delta)  # the part of |d| inside delta
        terms = 0.5 * quadratic * quadratic + self.delta * (a - quadratic)
        value = xp.sum(_weighted(terms, w)) / math.prod(d.shape)
        return value, _weighted(clip(xp, d, -self.delta, self.delta) * (1.0 / math.prod(d.shape)), w) if grad else None



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
            raise ArgumentError(f"{where}: float class labels must be whole numbers; {int(bad[0])} of them are not "
                                f"(fractions, NaN or inf; values from {low:g} to {high:g}). Pass integer labels in "
                                f"[0, {classes - 1}], or one-hot/probability rows of shape (N, ..., {classes})")
        if low < 0 or high >= classes:
            raise ArgumentError(f"{where}: class labels must lie in [0, {classes - 1}] for a model with "
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
    return ops.one_hot(labels, like.shape[-1], dtype=like.dtype)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy, elementwise against targets in [0, 1] of the same shape.

    ``from_logits=True`` (the default, as for ``CrossEntropy``) takes raw scores and is stable
    for any magnitude (``max(z, 0) - z t + log1p(exp(-|z|))``); ``from_logits=False`` takes
    probabilities (Keras's "binary_crossentropy"). In a model whose output comes from
    ``Sigmoid`` the loss is computed from the Sigmoid's input either way (see train/compile.py).
    """

    def __init__(self, from_logits=True):
        self.from_logits = boolean(type(self).__name__, "from_logits", from_logits)

    def check_labels(self, be, y_true, pred_shape, where):
        """Targets outside [0, 1] (or NaN) would train to a meaningless, even negative, loss:
        refused, with one device read of their extremes."""
        if 0 in y_true.shape:
            return y_true
        xp = be.xp
        low, high = (float(v) for v in be.to_numpy(xp.astype(xp.stack([xp.min(y_true), xp.max(y_true)]), xp.float64)))
        if not (0.0 <= low and high <= 1.0):  # False for NaN too
            raise ArgumentError(f"{where}: binary cross-entropy takes targets in [0, 1] (labels 0/1 or "
                                f"probabilities); got values from {low:g} to {high:g}")
        return y_true

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        xp = namespace_of(y_pred)
        y_true = fit_targets(xp, y_true, y_pred)
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


# -- Keras's loss functions: values per sample (the last axis reduced), from xdl.ops, so that a
# Tensor y_pred (inside a GradientTape, a model's call) records them and its gradient flows back.

def _operands(y_true, y_pred, labels=False, match=True):
    """``(y_true, y_pred)`` for a loss function: ``y_pred`` as given when it is traced (a Tensor,
    a Variable), else an array (host data goes to the active backend in the default float
    dtype); ``y_true`` on its backend in its dtype (integer labels kept with ``labels``), a
    constant Tensor where ``y_pred`` is traced; ``match``: brought to one rank (``same_rank``)."""
    traced = node_of(y_pred)
    raw = unwrap(y_pred)
    be = backend_of(raw)
    if be is None:
        be = get_backend()
        raw = convert(be, raw, be.dtype(floatx()), "loss: y_pred")
    y_pred = y_pred if traced is not None else raw
    t = convert(be, unwrap(y_true), None, "loss: y_true")
    if labels:
        t = t if be.xp.isdtype(t.dtype, "integral") else be.xp.astype(t, be.xp.int64)
    elif t.dtype != raw.dtype:
        t = be.xp.astype(t, raw.dtype)
    if match:
        t, y_pred = same_rank(t, y_pred)
    return (leaf(t) if traced is not None else t), y_pred


def mean_squared_error(y_true, y_pred):
    """Keras's ``mean(square(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = _operands(y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_true, y_pred)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """Keras's ``mean(abs(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = _operands(y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_true, y_pred)), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """Keras's ``100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), 1e-7)), axis=-1)``."""
    y_true, y_pred = _operands(y_true, y_pred)
    diff = ops.abs(ops.divide(ops.subtract(y_true, y_pred), ops.maximum(ops.abs(y_true), _EPS)))
    return ops.multiply(ops.mean(diff, axis=-1), 100.0)


def mean_squared_logarithmic_error(y_true, y_pred):
    """Keras's ``mean(square(log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1)), axis=-1)``."""
    y_true, y_pred = _operands(y_true, y_pred)
    first = ops.log1p(ops.maximum(y_pred, _EPS))
    second = ops.log1p(ops.maximum(y_true, _EPS))
    return ops.mean(ops.square(ops.subtract(first, second)), axis=-1)


def _l2_normalize(x, axis):
    """Keras's ``normalize``: ``x / max(||x||, 1e-7)`` along ``axis`` (0 stays 0)."""
    return ops.divide(x, ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), _EPS * _EPS)))


def cosine_similarity(y_true, y_pred, axis=-1):
    """Keras's ``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 for the same direction."""
    y_true, y_pred = _operands(y_true, y_pred)
    return ops.negative(ops.sum(ops.multiply(_l2_normalize(y_true, axis), _l2_normalize(y_pred, axis)), axis=axis))


def huber(y_true, y_pred, delta=1.0):
    """Keras's Huber loss: ``0.5 x**2`` where ``|x| <= delta``, else ``delta |x| - 0.5 delta**2``, x
    = y_pred - y_true, averaged over the last axis."""
    y_true, y_pred = _operands(y_true, y_pred)
    error = ops.subtract(y_pred, y_true)
    a = ops.abs(error)
    inside = unwrap(a) <= delta
    terms = ops.where(inside, ops.multiply(ops.square(error), 0.5), ops.subtract(ops.multiply(a, delta),
                                                                                    0.5 * delta * delta))
    return ops.mean(terms, axis=-1)


def log_cosh(y_true, y_pred):
    """Keras's ``mean(log(cosh(y_pred - y_true)), axis=-1)``, as ``x + softplus(-2x) - log(2)``."""
    y_true, y_pred = _operands(y_true, y_pred)
    x = ops.subtract(y_pred, y_true)
    return ops.mean(ops.subtract(ops.add(x, ops.softplus(ops.multiply(x, -2.0))), math.log(2.0)), axis=-1)


def kl_divergence(y_true, y_pred):
    """Keras's ``sum(t * log(t / p), axis=-1)`` with t and p clipped to [1e-7, 1]."""
    y_true, y_pred = _operands(y_true, y_pred, match=False)
    t, p = ops.clip(y_true, _EPS, 1.0), ops.clip(y_pred, _EPS, 1.0)
    return ops.sum(ops.multiply(t, ops.log(ops.divide(t, p))), axis=-1)


def poisson(y_true, y_pred):
    """Keras's ``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)``."""
    y_true, y_pred = _operands(y_true, y_pred, match=False)
    return ops.mean(ops.subtract(y_pred, ops.multiply(y_true, ops.log(ops.add(y_pred, _EPS)))), axis=-1)


def _hinge_labels(t):
    """Keras's ``convert_binary_labels_to_hinge``: labels all 0 or 1 become -1 and 1 (decided on
    the device, without a read)."""
    raw = unwrap(t)
    xp = namespace_of(raw)
    binary = xp.all(xp.logical_or(raw == 0, raw == 1))
    out = xp.where(binary, 2.0 * raw - 1.0, raw)
    return leaf(out) if node_of(t) is not None else out


def hinge(y_true, y_pred):
    """Keras's ``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``; 0/1 labels taken as -1/1."""
    y_true, y_pred = _operands(y_true, y_pred, match=False)
    return ops.mean(ops.relu(ops.subtract(1.0, ops.multiply(_hinge_labels(y_true), y_pred))), axis=-1)


def squared_hinge(y_true, y_pred):
    """Keras's ``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``; 0/1 labels taken as -1/1."""
    y_true, y_pred = _operands(y_true, y_pred, match=False)
    return ops.mean(ops.square(ops.relu(ops.subtract(1.0, ops.multiply(_hinge_labels(y_true), y_pred)))), axis=-1)


def categorical_hinge(y_true, y_pred):
    """Keras's ``maximum(neg - pos + 1, 0)``, ``pos = sum(t * p)``, ``neg = max((1 - t) * p)`` over the last axis."""
    y_true, y_pred = _operands(y_true, y_pred, match=False)
    pos = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    neg = ops.max(ops.multiply(ops.subtract(1.0, y_true), y_pred), axis=-1)
    return ops.relu(ops.add(ops.subtract(neg, pos), 1.0))


def _log_probabilities(y_pred, from_logits, axis):
    """Keras's: ``log_softmax`` of logits, or the log of probabilities normalized to sum to 1
    and clipped to [1e-7, 1 - 1e-7]."""
    if from_logits:
        return ops.log_softmax(y_pred, axis=axis)
    q = ops.divide(y_pred, ops.sum(y_pred, axis=axis, keepdims=True))
    return ops.log(ops.clip(q, _EPS, 1.0 - _EPS))


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Keras's ``-sum(y_true * log(p), axis)`` for one-hot/probability rows ``y_true``; with
    ``label_smoothing`` s the targets are ``t (1 - s) + s / classes``."""
    y_true, y_pred = _operands(y_true, y_pred, match=False)
    if label_smoothing:
        classes = y_pred.shape[axis]
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), label_smoothing / classes)
    return ops.negative(ops.sum(ops.multiply(y_true, _log_probabilities(y_pred, from_logits, axis)), axis=axis))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Keras's cross-entropy of integer labels ``y_true`` (N, ...) (or (N, ..., 1)) against scores
    or probabilities (N, ..., C). ``ignore_class``: labels of that value count 0."""
    y_true, y_pred = _operands(y_true, y_pred, labels=True, match=False)
    labels = unwrap(y_true)
    xp = namespace_of(labels)
    if labels.ndim == len(y_pred.shape) and labels.shape[axis] == 1:
        labels = xp.squeeze(labels, axis=axis)
    valid = None
    if ignore_class is not None:
        valid = labels != ignore_class
        labels = xp.where(valid, labels, xp.zeros_like(labels))
    target = xp.moveaxis(_one_hot(xp, labels, unwrap(y_pred)), -1, axis) if axis != -1 else _one_hot(
        xp, labels, unwrap(y_pred))
    out = ops.negative(ops.sum(ops.multiply(target, _log_probabilities(y_pred, from_logits, axis)), axis=axis))
    return out if valid is None else ops.where(valid, out, 0.0)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Keras's ``mean(-(t log p + (1 - t) log(1 - p)), axis)``, p clipped to [1e-7, 1 - 1e-7]
    (from logits: the stable ``max(z, 0) - z t + log(1 + exp(-|z|))``); with
    ``label_smoothing`` s the targets are ``t (1 - s) + s / 2``."""
    y_true, y_pred = _operands(y_true, y_pred)
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:
        terms = ops.add(ops.subtract(ops.relu(y_pred), ops.multiply(y_pred, y_true)),
                        ops.softplus(ops.negative(ops.abs(y_pred))))
    else:
        p = ops.clip(y_pred, _EPS, 1.0 - _EPS)
        terms = ops.negative(ops.add(ops.multiply(y_true, ops.log(p)),
                                     ops.multiply(ops.subtract(1.0, y_true), ops.log1p(ops.negative(p)))))
    return ops.mean(terms, axis=axis)


mse = mean_squared_error
mae = mean_absolute_error
mape = mean_absolute_percentage_error
msle = mean_squared_logarithmic_error
kld = kullback_leibler_divergence = kl_divergence
bce = binary_crossentropy
logcosh = log_cosh


# -- Keras's classes ---------------------------------------------------------------------------

_DEFAULT_REDUCTIONS = ("sum_over_batch_size", "mean")


class _KerasBuiltin:
    """Keras's class over one of xdl's fused built-ins: Keras's constructor; the default
    reduction trains through the built-in's hand-written ``value_and_grad``, any other through
    Keras's per-sample function (``per_sample``) and the tape."""

    label_smoothing = 0.0

    def _keras_init(self, reduction, name, dtype):
        Loss.__init__(self, name=name, reduction=reduction, dtype=dtype)

    def per_sample(self, y_true, y_pred):
        raise missing_method(self, "per_sample(y_true, y_pred)")

    def smoothed(self, xp, y_true, y_pred):
        return y_true

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        if self.reduction in _DEFAULT_REDUCTIONS:
            xp = namespace_of(y_pred)
            return super().value_and_grad(self.smoothed(xp, y_true, y_pred), y_pred, sample_weight, grad)
        return self._taped(self.per_sample, y_true, y_pred, sample_weight, grad)

    def value(self, y_true, y_pred, sample_weight=None):
        if self.reduction in _DEFAULT_REDUCTIONS:
            return self.value_and_grad(y_true, y_pred, sample_weight, grad=False)[0]
        return unwrap(reduce_weighted(self.per_sample(y_true, y_pred), sample_weight, self.reduction, y_pred,
                                      type(self).__name__))

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name}


def _axis(owner, axis):
    if as_int(axis) != -1:
        raise ArgumentError(f"{owner}: axis must be -1 (the last axis, the classes'), got {short(axis)}")
    return -1


def _smoothing(owner, value):
    return number(owner, "label_smoothing", value, 0.0, 1.0)


class MeanSquaredError(_KerasBuiltin, MSE):
    """Keras's ``MeanSquaredError``: ``mean(square(y_true - y_pred))``."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        self._keras_init(reduction, name, dtype)

    def per_sample(self, y_true, y_pred):
        return mean_squared_error(y_true, y_pred)


class MeanAbsoluteError(_KerasBuiltin, MAE):
    """Keras's ``MeanAbsoluteError``: ``mean(abs(y_true - y_pred))``."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        self._keras_init(reduction, name, dtype)

    def per_sample(self, y_true, y_pred):
        return mean_absolute_error(y_true, y_pred)


class Huber(_KerasBuiltin, _HuberFused):
    """Quadratic within ``delta`` of the target, linear beyond: robust to outliers. Keras's
    constructor (its default name "huber_loss")."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        self.delta = number("Huber", "delta", delta, low_open=True)
        self._keras_init(reduction, name, dtype)

    def per_sample(self, y_true, y_pred):
        return huber(y_true, y_pred, self.delta)

    def get_config(self):
        return {"delta": self.delta, **super().get_config()}


class BinaryCrossentropy(_KerasBuiltin, BinaryCrossEntropy):
    """Keras's ``BinaryCrossentropy``: ``BinaryCrossEntropy`` on probabilities by default, with
    Keras's ``label_smoothing`` (targets ``t (1 - s) + s / 2``)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        BinaryCrossEntropy.__init__(self, from_logits)
        self.label_smoothing = _smoothing("BinaryCrossentropy", label_smoothing)
        self.axis = _axis("BinaryCrossentropy", axis)
        self._keras_init(reduction, name, dtype)

    def smoothed(self, xp, y_true, y_pred):
        s = self.label_smoothing
        return y_true if not s else y_true * (1.0 - s) + 0.5 * s

    def per_sample(self, y_true, y_pred):
        return binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def get_config(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "axis": self.axis,
                **super().get_config()}


class _KerasCrossEntropy(_KerasBuiltin):
    """Keras's cross-entropy classes over ``CrossEntropy``: probabilities are normalized to sum
    to 1 over the classes (Keras's ``y_pred / sum(y_pred)``) before they are clipped; labels
    (N, ...) or (N, ..., 1), or one-hot/probability rows (N, ..., C), are taken alike."""

    def _labels_column(self, true_shape, pred_shape):
        true_shape, pred_shape = tuple(true_shape), tuple(pred_shape)
        return len(pred_shape) > 0 and pred_shape[-1] != 1 and true_shape == pred_shape[:-1] + (1,)

    def check_shapes(self, true_shape, pred_shape):
        if not self._labels_column(true_shape, pred_shape):
            super().check_shapes(true_shape, pred_shape)

    def check_labels(self, be, y_true, pred_shape, where):
        if self._labels_column(y_true.shape, pred_shape):
            y_true = be.xp.reshape(y_true, tuple(pred_shape[:-1]))
        return super().check_labels(be, y_true, pred_shape, where)

    def smoothed(self, xp, y_true, y_pred):
        s = self.label_smoothing
        if not s:
            return y_true
        target = _one_hot(xp, y_true, y_pred) if y_true.ndim < y_pred.ndim else y_true
        return target * (1.0 - s) + s / y_pred.shape[-1]

    def value_and_grad(self, y_true, y_pred, sample_weight=None, grad=True):
        xp = namespace_of(y_pred)
        if self._labels_column(y_true.shape, y_pred.shape):
            y_true = xp.reshape(y_true, tuple(y_pred.shape[:-1]))
        if self.from_logits or self.reduction not in _DEFAULT_REDUCTIONS:
            return super().value_and_grad(y_true, y_pred, sample_weight, grad)
        total = xp.sum(y_pred, axis=-1, keepdims=True)
        q = y_pred / total
        value, g = super().value_and_grad(y_true, q, sample_weight, grad)
        if g is None:
            return value, None
        return value, (g - xp.sum(g * q, axis=-1, keepdims=True)) / total  # through q = p / sum(p)

    def per_sample(self, y_true, y_pred):
        rows = len(unwrap(y_true).shape) == len(unwrap(y_pred).shape) and not self._labels_column(
            unwrap(y_true).shape, unwrap(y_pred).shape)
        if rows:
            return categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)
        if self.label_smoothing:
            raw_pred = unwrap(y_pred)
            xp = namespace_of(raw_pred)
            labels = unwrap(y_true)
            if self._labels_column(labels.shape, raw_pred.shape):
                labels = xp.reshape(labels, tuple(raw_pred.shape[:-1]))
            t = _one_hot(xp, labels, raw_pred)
            return categorical_crossentropy(leaf(t) if node_of(y_true) is not None else t, y_pred,
                                            self.from_logits, self.label_smoothing)
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits)


class CategoricalCrossentropy(_KerasCrossEntropy, CrossEntropy):
    """Keras's ``CategoricalCrossentropy``: one-hot/probability rows (class labels taken too)
    against probabilities by default, with Keras's ``label_smoothing`` (``t (1 - s) + s / C``)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        CrossEntropy.__init__(self, from_logits)
        self.label_smoothing = _smoothing("CategoricalCrossentropy", label_smoothing)
        self.axis = _axis("CategoricalCrossentropy", axis)
        self._keras_init(reduction, name, dtype)

    def get_config(self):
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "axis": self.axis,
                **_KerasBuiltin.get_config(self)}


class SparseCategoricalCrossentropy(_KerasCrossEntropy, CrossEntropy):
    """Keras's ``SparseCategoricalCrossentropy``: integer class labels (N, ...) or (N, ..., 1)
    against probabilities by default (one-hot rows are taken too). ``ignore_class`` is not
    supported (None only)."""

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        CrossEntropy.__init__(self, from_logits)
        if ignore_class is not None:
            raise ArgumentError("SparseCategoricalCrossentropy: ignore_class is not supported; give the ignored "
                                "samples sample_weight 0 instead")
        self.ignore_class = None
        self._keras_init(reduction, name, dtype)

    def get_config(self):
        return {"from_logits": self.from_logits, "ignore_class": None, **_KerasBuiltin.get_config(self)}


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """Keras's ``MeanAbsolutePercentageError``: ``100 * mean(abs((y_true - y_pred) / y_true))``."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """Keras's ``MeanSquaredLogarithmicError``: ``mean(square(log(y_pred + 1) - log(y_true + 1)))``."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name, dtype=dtype)


class LogCosh(LossFunctionWrapper):
    """Keras's ``LogCosh``: ``mean(log(cosh(y_pred - y_true)))``."""

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction=reduction, name=name, dtype=dtype)


class KLDivergence(LossFunctionWrapper):
    """Keras's ``KLDivergence``: ``sum(y_true * log(y_true / y_pred))`` over the last axis."""

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Poisson(LossFunctionWrapper):
    """Keras's ``Poisson``: ``mean(y_pred - y_true * log(y_pred))``."""

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(poisson, reduction=reduction, name=name, dtype=dtype)


class Hinge(LossFunctionWrapper):
    """Keras's ``Hinge``: ``mean(maximum(1 - y_true * y_pred, 0))``, labels -1/1 (or 0/1)."""

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(hinge, reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(LossFunctionWrapper):
    """Keras's ``SquaredHinge``: ``mean(square(maximum(1 - y_true * y_pred, 0)))``."""

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(LossFunctionWrapper):
    """Keras's ``CategoricalHinge``: ``maximum(neg - pos + 1, 0)`` for one-hot ``y_true``."""

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(LossFunctionWrapper):
    """Keras's ``CosineSimilarity``: ``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ArgumentTypeError(f"CosineSimilarity: axis must be an int, got {short(axis)}")
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"axis": self.axis, **super().get_config()}



# xdl's names take logits, as xdl's classes do; Keras's names mean what they mean in Keras:
# probabilities (a model ending in Softmax or Sigmoid is scored from its logits either way:
# see train/compile.py).
LOSSES = {
    "cross_entropy": (CrossEntropy, {}), "binary_cross_entropy": (BinaryCrossEntropy, {}),
    # Keras's names, Keras's classes (probabilities, not logits, for the cross-entropies)
    "mse": (MSE, {}), "mean_squared_error": (MSE, {}),  # the same values as Keras's MeanSquaredError
    "mae": (MAE, {}), "mean_absolute_error": (MAE, {}),
    "mape": (MeanAbsolutePercentageError, {}), "mean_absolute_percentage_error": (MeanAbsolutePercentageError, {}),
    "msle": (MeanSquaredLogarithmicError, {}), "mean_squared_logarithmic_error": (MeanSquaredLogarithmicError, {}),
    "huber": (Huber, {}), "huber_loss": (Huber, {}), "log_cosh": (LogCosh, {}), "logcosh": (LogCosh, {}),
    "kld": (KLDivergence, {}), "kl_divergence": (KLDivergence, {}), "kullback_leibler_divergence": (KLDivergence, {}),
    "poisson": (Poisson, {}), "hinge": (Hinge, {}), "squared_hinge": (SquaredHinge, {}),
    "categorical_hinge": (CategoricalHinge, {}), "cosine_similarity": (CosineSimilarity, {}),
    "bce": (BinaryCrossentropy, {}), "binary_crossentropy": (BinaryCrossentropy, {}),
    "categorical_crossentropy": (CategoricalCrossentropy, {}),
    "sparse_categorical_crossentropy": (SparseCategoricalCrossentropy, {}),
}
#: Keras's class names, as ``get`` takes them too ("MeanSquaredError")
KERAS_CLASSES = (MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
                 Huber, LogCosh, KLDivergence, Poisson, Hinge, SquaredHinge, CategoricalHinge, CosineSimilarity,
                 BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)
#: the classes a model file may name
CLASSES = {cls.__name__: cls for cls in (MSE, MAE, Huber, CrossEntropy, CategoricalCrossEntropy,
                                         SparseCategoricalCrossEntropy, BinaryCrossEntropy, *KERAS_CLASSES)}


def get(loss) -> Loss:
    """A ``Loss`` instance: one given, one built from a name such as "mse" or "cross_entropy" or
    from a Loss class, or a plain function ``fn(y_true, y_pred)`` wrapped (``LossFunctionWrapper``,
    Keras's way). A Loss class that defines neither ``call`` nor ``value_and_grad`` is refused."""
    if isinstance(loss, type) and issubclass(loss, Loss):
        if not loss.defined():
            raise MissingMethodError(f"{loss.__name__} must define {_DEFINE}")
        loss = loss()
    if isinstance(loss, Loss):
        if not loss.defined():
            raise missing_method(loss, _DEFINE)
        return loss
    if isinstance(loss, str) and loss in CLASSES and loss not in LOSSES:
        return CLASSES[loss]()
    if isinstance(loss, str) and loss.lower() in LOSSES:
        cls, options = LOSSES[loss.lower()]
        return cls(**options)
    if callable(loss) and not isinstance(loss, type):
        return LossFunctionWrapper(loss)
    raise ArgumentError(f"unknown loss {short(loss)}; pass a Loss such as xdl.MSE(), a function fn(y_true, y_pred) "
                        f"or one of {sorted(LOSSES)}")
