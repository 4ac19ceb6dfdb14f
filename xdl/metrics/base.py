"""``Metric``, the one base of every metric, with two ways to write one.

* xdl's (the built-ins, means.py and confusion.py): ``statistics(y_true, y_pred, sample_weight)``
  gives a batch's numbers to add up over an epoch's batches (summed on the device with the loss
  and read once per epoch: see train/epoch_sums.py), ``result(sums)`` the figure from the sums.
  Nothing is kept between batches, so this is the fast path ``fit`` takes.
* Keras's: the constructor adds variables (``add_variable``), ``update_state(y_true, y_pred,
  sample_weight=None)`` adds a batch to them with ``xdl.ops`` and ``var.assign_add``,
  ``result()`` gives the figure from them and ``reset_state()`` starts afresh. In ``fit`` and
  ``evaluate`` the updates run on the device at every step and ``result()`` is read once per
  epoch (with the other figures, in one transfer).

Every metric has Keras's stateful interface: a built-in's ``update_state`` adds its statistics
to running sums kept on the device, its ``result()`` (no argument) reads them, ``reset_state()``
drops them. ``metric(y_true, y_pred)`` is a built-in's figure of that one batch; for a metric
written Keras's way it is Keras's ``update_state`` then ``result()``.
"""

from __future__ import annotations

import functools
import inspect
import math

from ..losses import fit_targets
from ..core.backend import FLOAT_DTYPES, backend_of, convert, floatx, get_backend, host_floats, namespace_of
from ..core.checks import one_of, short, text
from ..core.symbolic import Named
from ..core.tape import unwrap
from ..core.variable import Variable
from ..errors import ArgumentError, ArgumentTypeError, missing_method

DEFINE = ("update_state(y_true, y_pred, sample_weight=None) and result() (Keras's way), or "
           "statistics(y_true, y_pred, sample_weight) and result(sums)")
AGGREGATIONS = ("sum", "mean", "only_first_replica", "none")


class Metric(Named):
    """Base of metrics (see the module doc for the two ways to write one).

    ``statistics(y_true, y_pred, sample_weight)`` gives ``size_for(shape)`` numbers to sum over
    batches; ``result(sums)`` the figure (a float) from the sums. Or Keras's: ``__init__(name=None,
    dtype=None)`` with ``add_variable``, ``update_state``, ``result()``, ``reset_state()``.
    ``name``: the figure's name in the logs (default: the class name in snake case)."""

    #: False for metrics of values rather than of targets and predictions (``Mean``, ``Sum``:
    #: Keras's trackers of what a custom step computes), which ``compile`` cannot feed
    takes_targets = True
    #: the float dtype of the variables ``add_variable`` makes (None: the default, floatx)
    dtype = None
    _variables = ()  # (variable, its first value, aggregation) per add_variable, in order
    _sums = None  # a statistics metric's running sums since reset_state (update_state)

    def __init__(self, name=None, dtype=None):
        owner = type(self).__name__
        if name is not None:
            self.name = text(owner, "name", name)
        self.dtype = None if dtype is None else one_of(owner, "dtype", dtype, FLOAT_DTYPES)

    def __init_subclass__(cls, **kwargs):
        """A subclass's ``result(self, sums)`` also answers ``result()``: from the running sums.
        A subclass's ``update_state`` gets host data (lists, NumPy arrays) as arrays of the
        backend of its variables (of the active one without), as Keras's ops convert them."""
        super().__init_subclass__(**kwargs)
        result = cls.__dict__.get("result")
        if result is not None and _takes_sums(result):
            @functools.wraps(result)
            def stateful_result(self, sums=None):
                return result(self, self._running_sums() if sums is None else sums)

            cls.result = stateful_result
        update = cls.__dict__.get("update_state")
        if update is not None:
            @functools.wraps(update)
            def update_state(self, *args, **kwargs):
                be = backend_of(self._variables[0][0].value) if self._variables else get_backend()
                where = f"{type(self).__name__}: update_state"
                return update(self, *(_on(be, a, where) for a in args), **{k: _on(be, v, where)
                                                                          for k, v in kwargs.items()})

            cls.update_state = update_state

    @classmethod
    def keras_style(cls) -> bool:
        """True for a metric written Keras's way: the class nearest in its MRO that defines
        ``update_state`` or ``statistics`` defines ``update_state`` alone. ``fit`` runs its
        ``update_state`` at each step and reads its ``result()`` once per epoch."""
        for klass in cls.__mro__:
            if klass is Metric:
                return False
            if "statistics" in klass.__dict__:
                return False
            if "update_state" in klass.__dict__:
                return True
        return False

    @classmethod
    def defined(cls) -> bool:
        """Whether the class defines one of the two ways (the module doc)."""
        if cls.keras_style() or cls.statistics is not Metric.statistics:
            return cls.result is not Metric.result
        return False

    # -- xdl's way: statistics summed over batches ---------------------------------------------------
    def statistics(self, y_true, y_pred, sample_weight=None) -> list:
        raise missing_method(self, "statistics(y_true, y_pred, sample_weight)")

    def size_for(self, output_shape) -> int:
        """How many numbers ``statistics`` gives for outputs of per-sample ``output_shape``."""
        return 2

    # -- Keras's way: variables -----------------------------------------------------------------------
    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A Variable (non-trainable) of ``shape`` on the active backend, first valued by
        ``initializer`` (a name such as "zeros", or the value), that ``reset_state`` puts back.
        ``dtype`` defaults to the metric's (floatx). ``aggregation``: how data-parallel training
        combines the processes' values at a read: "sum" (the default) adds them, the others
        ("mean", "only_first_replica", "none") average them."""
        owner = type(self).__name__
        aggregation = one_of(owner, "aggregation", aggregation, AGGREGATIONS)
        dtype = dtype or self.dtype or floatx()
        if isinstance(dtype, str):
            dtype = one_of(owner, "dtype", dtype, FLOAT_DTYPES + ("int32", "int64"))
        name = text(owner, "name", name, optional=True) or f"{self.name}_variable_{len(self._variables)}"
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                            for d in shape):
            raise ArgumentTypeError(f"{owner}: add_variable's shape must be a tuple of sizes, got {short(shape)}")
        var = Variable(initializer, shape=tuple(shape), dtype=dtype, trainable=False, name=name)
        xp = namespace_of(var.value)
        if "_variables" not in self.__dict__:
            self._variables = []
        self._variables.append((var, xp.asarray(var.value, copy=True), aggregation))
        return var

    def add_weight(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """Keras's other name for ``add_variable``."""
        return self.add_variable(shape, initializer, dtype, aggregation, name)

    @property
    def variables(self) -> list:
        """The variables ``add_variable`` made, in order."""
        return [v for v, _, _ in self._variables]

    @property
    def aggregations(self) -> list:
        """``(variable, aggregation)`` for each variable ``add_variable`` made, in order."""
        return [(v, aggregation) for v, _, aggregation in self._variables]

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch: a statistics metric adds its ``statistics`` to running sums on the
        device (no read); Keras's way, subclasses update their variables here."""
        if type(self).statistics is Metric.statistics:
            raise missing_method(self, DEFINE)
        y_true, y_pred, sample_weight = _accept(self, y_true, y_pred, sample_weight)
        stats = self.aligned_statistics(y_true, y_pred, sample_weight)
        self._sums = list(stats) if self._sums is None else [a + b for a, b in zip(self._sums, stats)]

    def result(self, sums=None):
        """The figure: a statistics metric's from ``sums`` (default: the running sums, one read);
        Keras's way, subclasses compute it from their variables."""
        raise missing_method(self, DEFINE)

    def reset_state(self):
        """Start afresh: the running sums dropped, every variable ``add_variable`` made put back
        to its first value."""
        self._sums = None
        for var, first, _ in self._variables:
            var.assign(first)

    reset_states = reset_state  # Keras 2's name

    def load_sums(self, sums):
        """Take ``sums`` (host numbers: what ``fit`` or ``evaluate`` read) as the running sums, so
        that ``result()`` gives the figure of the latest read, as Keras's metrics do."""
        self._sums = [float(v) for v in sums]

    def _running_sums(self) -> list:
        """The running sums as host floats (zeros before any ``update_state``): one read."""
        if self._sums is None:
            return [0.0] * self.size_for((1,))
        return host_floats(None, self._sums)

    def __call__(self, *args, **kwargs):
        """Keras's way: ``update_state(*args, **kwargs)``, then ``result()``. A statistics metric:
        the figure of the one batch ``(y_true, y_pred, sample_weight=None)``, nothing kept."""
        if self.keras_style():
            self.update_state(*args, **kwargs)
            return self.result()
        return self._batch_figure(*args, **kwargs)

    def aligned_statistics(self, y_true, y_pred, sample_weight=None):
        """``statistics`` with targets (N,) against predictions (N, 1) (or the reverse) given
        the predictions' shape first, as Keras's metrics (and xdl's losses) read them; else a
        comparison would broadcast to (N, N)."""
        return self.statistics(fit_targets(None, y_true, y_pred), y_pred, sample_weight)

    def _batch_figure(self, y_true, y_pred, sample_weight=None):
        stats = self.aligned_statistics(y_true, y_pred, sample_weight)
        xp = namespace_of(y_pred)
        flat = xp.concat([xp.reshape(xp.asarray(s, dtype=y_pred.dtype, device=y_pred.device), (-1,))
                          for s in stats])
        return self.result([float(v) for v in backend_of(y_pred).to_numpy(flat)])

    def get_config(self) -> dict:
        if self.keras_style():
            return {"name": self.name, "dtype": self.dtype}
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _takes_sums(fn) -> bool:
    """Whether ``result`` is written ``result(self, sums)``: a positional argument beyond self."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())[1:]
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def _on(be, x, where):
    """Host data (a list, a NumPy array) as an array of ``be``; arrays of ``be``, Tensors,
    Variables, numbers and None as they are."""
    if x is None or isinstance(x, (bool, int, float)) or unwrap(x) is not x or be.owns(x):
        return x
    return convert(be, x, None, where)


def _accept(metric, y_true, y_pred, sample_weight):
    """Backend arrays for a statistics metric's ``update_state``: host data goes to the active
    backend (predictions in the default float dtype), targets and weights to the predictions'."""
    y_pred, y_true, sample_weight = unwrap(y_pred), unwrap(y_true), unwrap(sample_weight)
    where = type(metric).__name__
    be = backend_of(y_pred)
    if be is None:
        be = get_backend()
        y_pred = convert(be, y_pred, be.dtype(floatx()), f"{where}: y_pred")
    if not be.owns(y_true):
        y_true = convert(be, y_true, None, f"{where}: y_true")
    if sample_weight is not None and not be.owns(sample_weight):
        sample_weight = convert(be, sample_weight, y_pred.dtype, f"{where}: sample_weight")
    return y_true, y_pred, sample_weight


def single_number(metric, value, be=None):
    """A Keras-style metric's ``result()`` as one number: a 0-d array on ``be`` (no read) where
    it is one, else a host float (a read). More than one number is refused."""
    value = unwrap(value)
    if isinstance(value, (int, float)):
        return float(value)
    shape = getattr(value, "shape", None)
    if shape is None:
        raise ArgumentTypeError(f"{type(metric).__name__}: result() must give a number or an array, got "
                                f"{short(value)}")
    if math.prod(shape) != 1:
        raise ArgumentError(f"{type(metric).__name__}: result() gives shape {tuple(shape)}; the logs take one "
                            "number per metric")
    if be is not None and be.owns(value):
        return be.xp.reshape(value, ())
    return float(host_floats(None, [value])[0]) if backend_of(value) is not None else float(value)
