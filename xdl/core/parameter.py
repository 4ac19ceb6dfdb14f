"""``Parameter``: the one trainable-array type every layer uses and every optimizer updates."""

from __future__ import annotations

#: bumped whenever a parameter's ``trainable`` changes: graphs cache which nodes need a backward
GENERATION = 0


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Gradients accumulate: every use of the parameter in a backward pass adds its part
    (``add_grad``, or ``add_product``/``add_row_sums``, which form it in place), and the
    training step clears them once, before its forward pass (``grad`` reads None until the
    first use of the step, which writes instead of adding). All three go through ``_write``,
    the one place that knows where a gradient goes: nowhere for a frozen parameter, into the
    parameter's view of its model's flat buffer (core/flat.py), else to an array of its own.

    Inside a model, ``value`` and ``grad`` are views of one flat buffer per dtype, so that an
    optimizer updates every parameter in a few operations. Users and layers see ordinary
    arrays: reading ``value`` gives the view, assigning to it copies into the view (``p.value =
    new`` keeps the layout).
    """

    __slots__ = ("name", "_value", "_grad", "_trainable", "state", "flat", "regularizer")

    def __init__(self, value, name: str, trainable: bool = True, *, state: bool = False):
        self.name = name
        self._value = value
        self._grad = None  # outside a flat buffer: this step's gradient so far
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
                raise ValueError(f"parameter {self.name!r} has shape {self.shape}, got {tuple(new.shape)}")
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
        elif self._trainable:  # a frozen parameter takes no gradient
            self.flat.claim(self)[0][...] = g

    @property
    def trainable(self) -> bool:
        """False: frozen (``layer.trainable = False``) or state; gets no gradient, no update."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        global GENERATION
        if value and self.state:
            raise ValueError(f"parameter {self.name!r} is state (such as moving statistics), never trainable")
        if bool(value) != self._trainable:
            self._trainable = bool(value)
            GENERATION += 1  # models recompute which nodes backpropagate, and their layout

    # -- gradients: each use adds its part -------------------------------------------------------
    def add_grad(self, grad) -> None:
        """Add one use's gradient, a ready array."""
        self._write(lambda: grad, lambda out, add: _put(out, grad, add))

    def add_product(self, backend, a, b) -> None:
        """Add ``a @ b`` (2-D; a kernel of more axes takes it in row-major order), formed straight
        into the flat buffer where the library can (``Backend.matmul_into``): a weight gradient
        without a temporary."""
        flat = len(self.shape) != 2

        def into(out, add):
            backend.matmul_into(a, b, backend.xp.reshape(out, (a.shape[0], b.shape[1])) if flat else out, add)

        self._write(lambda: backend.xp.reshape(a @ b, self.shape) if flat else a @ b, into)

    def add_row_sums(self, backend, x) -> None:
        """Add the column sums of the 2-D ``x`` (a bias gradient), as ``add_product`` does."""
        self._write(lambda: backend.sum_rows(x), lambda out, add: backend.sum_rows_into(x, out, add))

    def _write(self, compute, write_into):
        """The one way a gradient is written: ``write_into(view, add)`` into a flat buffer's view
        (``add``: an earlier use of this step wrote there), else ``compute()`` kept or added."""
        if not self._trainable:
            return
        if self.flat is None:
            g = compute()
            self._grad = g if self._grad is None else self._grad + g
            return
        write_into(*self.flat.claim(self))

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


def _put(out, g, add):
    if add:
        out += g
    else:
        out[...] = g
