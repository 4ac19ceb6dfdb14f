"""``Parameter``: the one trainable-array type every layer uses and every optimizer updates."""

from __future__ import annotations

import contextlib

from ..errors import ArgumentError, ShapeError
from .backend import backend_of, convert, to_numpy

#: bumped whenever a parameter's ``trainable`` changes: graphs cache which nodes need a backward
GENERATION = 0

#: while ``gradient_sink`` is open: {Parameter: gradient} that gradients go to instead of ``.grad``
_sink = None


@contextlib.contextmanager
def gradient_sink():
    """Collect the gradients backward passes give parameters in a dict of new arrays, leaving
    each ``.grad`` as it was (``GradientTape.gradient`` returns them)."""
    global _sink
    previous, _sink = _sink, {}
    try:
        yield _sink
    finally:
        _sink = previous


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Gradients accumulate: every use of the parameter in a backward pass adds its part
    (``add_grad``, or ``add_product``/``add_row_sums``, which form it in place), and the
    training step clears them once, before its forward pass (``grad`` reads None until the
    first use of the step, which writes instead of adding). Inside a model's flat buffer
    (core/flat.py) the buffer's ``claim`` is the one place that says where a gradient goes:
    into the parameter's view, set or added to, or nowhere for a frozen parameter; outside
    one the parameter keeps an array of its own.

    Inside a model, ``value`` and ``grad`` are views of one flat buffer per dtype, so that an
    optimizer updates every parameter in a few operations. Users and layers see ordinary
    arrays: reading ``value`` gives the view, assigning to it copies into the view (``p.value =
    new`` keeps the layout).
    """

    __slots__ = ("name", "_value", "_grad", "_trainable", "state", "flat", "regularizer", "_seen")

    def __init__(self, value, name: str, trainable: bool = True, *, state: bool = False):
        self.name = name
        self._value = value
        self._grad = None  # this step's gradient so far; in a flat buffer, the view it owns
        self._seen = -1  # in a flat buffer: the buffer's bookkeeping (FlatBuffer.claim)
        #: the FlatBuffer holding this parameter's value and grad (None: arrays of its own)
        self.flat = None
        #: True for state saved with the model but never trained (BatchNorm's moving
        #: statistics): it stays non-trainable whatever its layer's ``trainable`` says
        self.state = bool(state)
        self._trainable = bool(trainable) and not self.state  # False: never given a grad
        #: a penalty on the value added to the loss (xdl.regularizers), or None
        self.regularizer = None

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, new):
        if self.flat is None:
            self._value = new
        elif new is not self._value:  # ``p.value -= x`` on a view hands the view back
            if tuple(new.shape) != tuple(self._value.shape):
                raise ArgumentError(f"parameter {self.name!r} has shape {self.shape}, got {tuple(new.shape)}")
            self._value[...] = new

    @property
    def grad(self):
        """The gradient summed over this step's uses so far; None before the first."""
        return self._grad if self.flat is None else self.flat.grad_of(self)

    @grad.setter
    def grad(self, g):
        if self.flat is None:
            self._grad = g
        elif g is None:
            self.flat.forget(self)
        else:
            out, _ = self.flat.claim(self)
            if out is not None:  # a frozen parameter takes no gradient
                out[...] = g

    @property
    def trainable(self) -> bool:
        """False: frozen (``layer.trainable = False``) or state; gets no gradient, no update."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        global GENERATION
        if value and self.state:
            raise ArgumentError(f"parameter {self.name!r} is state (such as moving statistics), never trainable")
        if bool(value) != self._trainable:
            self._trainable = bool(value)
            GENERATION += 1  # models recompute which nodes backpropagate, and their layout

    # -- gradients: each use adds its part -------------------------------------------------------
    # Inside a flat buffer the buffer's ``claim`` says where a use's gradient goes (the view, to
    # set or to add to; nothing for a frozen parameter); outside one the parameter keeps an array.
    def add_grad(self, grad) -> None:
        """Add one use's gradient, a ready array."""
        if _sink is not None:
            _sink[self] = grad if self not in _sink else _sink[self] + grad
            return
        if self.flat is not None:
            out, add = self.flat.claim(self)
            if out is None:
                return
            if add:
                out += grad
            else:
                out[...] = grad
        elif self._trainable:
            self._grad = grad if self._grad is None else self._grad + grad

    def add_product(self, backend, a, b) -> None:
        """Add ``a @ b`` (2-D; a kernel of more axes takes it in row-major order), formed straight
        into the flat buffer where the library can (``Backend.matmul_into``): a weight gradient
        without a temporary."""
        if self.flat is not None and _sink is None:
            out, add = self.flat.claim(self)
            if out is not None:
                backend.matmul_into(a, b, out if out.ndim == 2 else backend.xp.reshape(out, (a.shape[0], b.shape[1])),
                                    add)
        elif self._trainable or _sink is not None:
            g = a @ b
            self.add_grad(g if g.ndim == self._value.ndim else backend.xp.reshape(g, self.shape))

    def add_row_sums(self, backend, x) -> None:
        """Add the column sums of the 2-D ``x`` (a bias gradient), as ``add_product`` does."""
        if self.flat is not None and _sink is None:
            out, add = self.flat.claim(self)
            if out is not None:
                backend.sum_rows_into(x, out, add)
        elif self._trainable or _sink is not None:
            self.add_grad(backend.sum_rows(x))

    # -- Keras's Variable (core/variable.py) ------------------------------------------------------
    def assign(self, value):
        """Set the value to a copy of ``value`` (an array-like, a Tensor, another Variable) of
        this shape, in this dtype; not recorded for gradients. Returns the Variable."""
        new = getattr(value, "value", value)  # a Tensor's or a Variable's array
        be = backend_of(self._value)
        new = convert(be, new, self.dtype, f"Variable {self.name!r}: assign")
        if tuple(new.shape) != self.shape:
            raise ShapeError(f"Variable {self.name!r} has shape {self.shape}; assign got shape {tuple(new.shape)}")
        self.value = be.xp.asarray(new, copy=True) if self.flat is None else new
        return self

    def assign_add(self, delta):
        return self.assign(self._value + self._same_kind(delta, "assign_add"))

    def assign_sub(self, delta):
        return self.assign(self._value - self._same_kind(delta, "assign_sub"))

    def _same_kind(self, value, where):
        """``value`` (a Tensor's or Variable's array, or any array-like) on this one's backend."""
        value = getattr(value, "value", value)
        if isinstance(value, (int, float)):
            return value
        return convert(backend_of(self._value), value, self.dtype, f"Variable {self.name!r}: {where}")

    def numpy(self):
        """The value as a NumPy array (a host read)."""
        return to_numpy(self._value)

    @property
    def shape(self) -> tuple:
        return tuple(self._value.shape)

    @property
    def dtype(self):
        return self._value.dtype

    @property
    def size(self) -> int:
        n = 1
        for d in self._value.shape:
            n *= d
        return n

    def __repr__(self):
        return f"Parameter({self.name!r}, shape={self.shape}, dtype={self.dtype})"
