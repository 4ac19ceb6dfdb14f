"""Optimizers: ``step(parameters)`` updates each ``Parameter`` from its ``grad``.

Inside a model the trainable parameters of each dtype are views of one flat buffer
(xdl/core/flat.py), and an optimizer updates the whole buffer at once: a fixed number of
operations per step whatever the number of layers (kernel launches, on a GPU). Parameters
outside a flat buffer (a lone layer, or a library without views) are updated one by one by
the same formulas. The update formulas are backend hooks (``Backend.adam_step``...), so an
adapter may do them in one pass; their portable forms are in backends/_base.py.

State (momentum, moments) is kept per flat buffer and seen per parameter, as views, in
``optimizer.state[parameter]`` (what checkpoints save). Clipping and learning rates are
worked out without reading anything back from the device.
"""

from __future__ import annotations

from ..core import flat as _flat
from ..core.backend import backend_of, clip
from ..core.checks import number, short
from ..core.parameter import Parameter
from ..core.tape import unwrap
from ..errors import ArgumentError, ArgumentTypeError, missing_method
from ..tutorial import TutorialOptimizer
from .schedules import Schedule


class _Unit:
    """What one update covers: a flat buffer (all its parameters) or one parameter."""

    __slots__ = ("flat", "param", "state")

    def __init__(self, flat=None, param=None):
        self.flat, self.param, self.state = flat, param, None

    @property
    def value(self):
        return self.flat.values if self.flat is not None else self.param.value

    @value.setter
    def value(self, new):
        if self.flat is None:
            self.param.value = new
        elif new is not self.flat.values:  # a library whose updates are not in place
            self.flat.values[...] = new

    def grad(self):
        """This step's gradient, or None where there is none to apply."""
        if self.flat is not None:
            return self.flat.grads if self.flat.complete() else None
        return self.param.grad


class Optimizer(TutorialOptimizer):
    """Base of all optimizers.

    ``learning_rate``: a positive number or a schedule (``xdl.CosineDecay(...)``, any callable
    from step to rate). ``clipnorm`` rescales all gradients together when their global L2 norm
    exceeds it; ``clipvalue`` clips each element to [-clipvalue, clipvalue]. ``weight_decay``
    adds ``weight_decay * w`` to each gradient (L2; ``AdamW`` decouples it instead).

    A parameter of a flat buffer that got no gradient in a step while others did (an output
    without a loss) is updated with a zero gradient, as in a fused PyTorch optimizer; one
    outside any flat buffer with no gradient is skipped.
    """

    def __init__(self, learning_rate=0.01, *, clipnorm=None, clipvalue=None, weight_decay=0.0):
        name = type(self).__name__
        if not (callable(learning_rate) and not isinstance(learning_rate, (int, float))):
            number(name, "learning_rate", learning_rate, low_open=True)
        self._learning_rate = learning_rate
        self.clipnorm = None if clipnorm is None else number(name, "clipnorm", clipnorm, low_open=True)
        self.clipvalue = None if clipvalue is None else number(name, "clipvalue", clipvalue, low_open=True)
        self.weight_decay = number(name, "weight_decay", weight_decay)
        self.iterations = 0  # steps taken: drives schedules and bias corrections
        self.state = {}  # Parameter -> dict of state arrays (views of a flat buffer's state)
        self._plan = (None, None, [])  # (parameter list, layout key, units)

    # -- the learning rate ------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The rate the next step uses: a float that also has Keras's ``assign(value)`` (as
        setting ``optimizer.learning_rate = value`` does) and ``numpy()``."""
        return LearningRate(self._rate(), self)

    def _rate(self) -> float:
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    @learning_rate.setter
    def learning_rate(self, value):
        if not callable(value):
            number(type(self).__name__, "learning_rate", value, low_open=True)
        self._learning_rate = value

    # -- stepping ----------------------------------------------------------------------------
    def step(self, parameters) -> None:
        """Update every parameter that has a gradient."""
        work = []
        for unit in self._units(parameters):
            g = unit.grad()
            if g is not None:
                work.append((unit, g))
        if not work:
            return
        be = backend_of(work[0][1])
        grads = [g for _, g in work]
        owned = [unit.flat is not None for unit, _ in work]  # flat gradients may be overwritten
        if self.clipvalue is not None or self.clipnorm is not None:
            grads = self.clipped(be, grads, owned)
        lr = self._rate()
        self.iterations += 1
        self.begin_step()
        decay = self.weight_decay if self.couples_weight_decay else 0.0
        for (unit, _), g, own in zip(work, grads, owned):
            if decay:
                g = _add(g, decay * unit.value, own)
            state = self._state_of(be, unit) if self.slots else None
            unit.value = self.formula(be, unit.value, g, state, lr)

    def apply(self, grads, trainable_variables=None) -> None:
        """Keras's ``optimizer.apply(grads, variables)``: one step with these gradients (arrays
        or Tensors, None for a variable to leave alone), e.g. ``tape.gradient``'s. Each
        variable's ``.grad`` is set to its gradient first, then ``step`` updates them."""
        if trainable_variables is None:
            raise ArgumentTypeError(f"{type(self).__name__}.apply: pass the variables too: "
                                    "optimizer.apply(grads, model.trainable_variables)")
        grads, variables = list(grads), list(trainable_variables)
        if len(grads) != len(variables):
            raise ArgumentError(f"{type(self).__name__}.apply: {len(grads)} gradients for {len(variables)} variables")
        chosen = []
        for g, v in zip(grads, variables):
            if not isinstance(v, Parameter):
                raise ArgumentTypeError(f"{type(self).__name__}.apply: variables must be xdl Variables (layer "
                                        f"weights), got {short(v)}")
            if g is not None:
                v.grad = None  # this step's gradient is g alone
                v.add_grad(unwrap(g))
                chosen.append(v)
        self.step(chosen)

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras's ``apply_gradients(zip(grads, variables))``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def clipped(self, be, grads, owned) -> list:
        xp = be.xp
        if self.clipvalue is not None:
            c = self.clipvalue
            grads = [_put(g, clip(xp, g, -c, c), own) for g, own in zip(grads, owned)]
        if self.clipnorm is not None:
            grads = be.scale_by_norm(grads, self.clipnorm, all(owned))
        return grads

    def _units(self, parameters) -> list:
        """The flat buffers ``parameters`` fill whole, and the remaining parameters one by one;
        remembered while the same list (a model's) and layout come back."""
        key = _flat.layout_key()
        if parameters is self._plan[0] and key == self._plan[1]:
            return self._plan[2]
        parameters = list(parameters) if not isinstance(parameters, list) else parameters
        flats, loose = _flat.partition(parameters)
        units = [_Unit(flat=f) for f in flats] + [_Unit(param=p) for p in loose]
        self._plan = (parameters, key, units)
        return units

    def _state_of(self, be, unit) -> dict:
        """The unit's state arrays by slot, made (zeros, or what ``state`` already holds for its
        parameters, e.g. from a checkpoint) on first use."""
        if unit.state is not None:
            return unit.state
        xp = be.xp
        if unit.flat is None:
            p = unit.param
            state = self.state.get(p)
            if state is None or set(state) != set(self.slots):
                state = self.state[p] = {k: xp.zeros_like(p.value) for k in self.slots}
            unit.state = state
            return state
        f = unit.flat
        buffers = {}
        for slot in self.slots:
            buf = xp.zeros_like(f.values)
            views = be.views(buf, [p.shape for p in f.params])
            for p, view in zip(f.params, views):
                old = self.state.get(p, {}).get(slot)
                if old is not None:
                    view[...] = old
                self.state.setdefault(p, {})[slot] = view
            buffers[slot] = buf
        unit.state = buffers
        return buffers

    #: names of the per-parameter state arrays (zeros like the parameter)
    slots = ()
    #: whether ``weight_decay`` is added to the gradient (L2) rather than applied to weights
    couples_weight_decay = True

    def begin_step(self) -> None:
        """Host-side work once per step, before the updates (bias corrections)."""

    def formula(self, be, w, g, state, lr):
        """The step's formula for one array ``w`` (a flat buffer or a parameter), its gradient
        ``g`` and state arrays by slot (replace an entry when the library rebinds); returns
        the new ``w``."""
        raise missing_method(self, "formula(be, w, g, state, lr)")

    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, Schedule):
            lr = {"class": type(lr).__name__, "config": lr.get_config()}
        config = {"learning_rate": lr if isinstance(lr, (dict, int, float)) else float(self.learning_rate)}
        for key in ("clipnorm", "clipvalue"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        if self.weight_decay:
            config["weight_decay"] = self.weight_decay
        return config

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _put(g, new, in_place):
    """``new`` written into ``g`` when ``g`` is the optimizer's own (a flat buffer)."""
    if in_place:
        g[...] = new
        return g
    return new


def _add(g, term, in_place):
    if in_place:
        g += term
        return g
    return g + term


class LearningRate(float):
    """An optimizer's current rate, a float with Keras's Variable methods: ``assign(value)``
    sets the optimizer's rate (a number, or a schedule), ``numpy()`` reads it."""

    def __new__(cls, value, optimizer):
        self = super().__new__(cls, value)
        self._optimizer = optimizer
        return self

    def assign(self, value):
        self._optimizer.learning_rate = float(value) if hasattr(value, "__float__") and not callable(value) else value

    def numpy(self) -> float:
        return float(self)
