"""``Parameter``: the one trainable-array type every layer uses and every optimizer updates."""

from __future__ import annotations

#: bumped whenever a parameter's ``trainable`` changes: graphs cache which nodes need a backward
GENERATION = 0


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Gradients accumulate: every use of the parameter in a backward pass adds its part with
    ``add_grad`` (a layer applied twice in a model contributes twice), and the training step
    clears them once, before its forward pass (``grad`` reads None until the first use of
    the step, which writes instead of adding).

    Inside a model, ``value`` and ``grad`` are views of one flat buffer per dtype (see
    flat.py), so that an optimizer updates every parameter in a few operations. Users and
    layers see ordinary arrays: reading ``value`` gives the view, assigning to it copies into
    the view (``p.value = new`` keeps the layout), and the layers' fast paths write product
    gradients straight into the view (``Backend.add_matmul_grad``).
    """

    __slots__ = ("name", "_value", "_grad", "_trainable", "state", "flat", "_seen", "regularizer")

    def __init__(self, value, name: str, trainable: bool = True, *, state: bool = False):
        self.name = name
        self._value = value
        self._grad = None
        #: the FlatBuffer holding this parameter's value and grad (None: arrays of its own)
        self.flat = None
        self._seen = -1  # the flat buffer's clock when this step's gradient was first written
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
        if self.flat is None or self._seen == self.flat.clock:
            return self._grad
        return None

    @grad.setter
    def grad(self, g):
        flat = self.flat
        if flat is None:
            self._grad = g
        elif g is None:
            if self._seen == flat.clock:
                flat.written -= 1
            self._seen = -1
        else:
            out, _ = self.claim_grad()
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
            raise ValueError(f"parameter {self.name!r} is state (such as moving statistics), never trainable")
        if bool(value) != self._trainable:
            self._trainable = bool(value)
            GENERATION += 1  # models recompute which nodes backpropagate, and their layout

    def add_grad(self, grad) -> None:
        """Add one use's gradient (the first use of a step sets it); a frozen parameter
        takes none."""
        if not self._trainable:
            return
        if self.flat is None:
            self._grad = grad if self._grad is None else self._grad + grad
            return
        out, live = self.claim_grad()
        if live:
            out += grad
        else:
            out[...] = grad

    def claim_grad(self):
        """``(view, live)`` for a layer writing this step's gradient into the flat buffer
        itself: ``live`` False means the view holds stale numbers, to be overwritten (not
        added to). Marks the gradient as written. ``(None, False)`` outside a flat buffer,
        ``(None, None)`` for a frozen parameter (no gradient to form at all)."""
        if not self._trainable:
            return None, None
        flat = self.flat
        if flat is None:
            return None, False
        if self._seen == flat.clock:
            return self._grad, True
        self._seen = flat.clock
        flat.written += 1
        return self._grad, False

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
