"""``Parameter``: the one trainable-array type every layer uses and every optimizer updates."""

from __future__ import annotations

#: bumped whenever a parameter's ``trainable`` changes: graphs cache which nodes need a backward
GENERATION = 0


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Gradients accumulate: every use of the parameter in a backward pass adds its part with
    ``add_grad`` (a layer applied twice in a model contributes twice), and the training step
    clears them once, before its forward pass (``grad = None`` stands for zeros, so the first
    use costs no addition).

    Layers read ``value`` afresh on every call and keep no other reference to it beyond the
    call's backward, and SGD updates it in place where the library allows
    (``p.value -= ...``). So ``value`` may be a view of one flat buffer per model.
    """

    __slots__ = ("name", "value", "grad", "_trainable", "state")

    def __init__(self, value, name: str, trainable: bool = True, *, state: bool = False):
        self.name = name
        self.value = value
        self.grad = None
        #: True for state saved with the model but never trained (BatchNorm's moving
        #: statistics): it stays non-trainable whatever its layer's ``trainable`` says
        self.state = bool(state)
        self._trainable = bool(trainable) and not self.state  # False: never given a grad

    @property
    def trainable(self) -> bool:
        """False: frozen (``layer.trainable = False``) or state; gets no gradient, no update."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        global GENERATION
        if value and self.state:
            raise ValueError(f"parameter {self.name!r} is state (such as moving statistics), never trainable")
        self._trainable = bool(value)
        GENERATION += 1  # models recompute which nodes backpropagate

    def add_grad(self, grad) -> None:
        """Add one use's gradient (the first use of a step sets it); a frozen parameter
        takes none."""
        if self._trainable:
            self.grad = grad if self.grad is None else self.grad + grad

    @property
    def shape(self) -> tuple:
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def size(self) -> int:
        n = 1
        for d in self.value.shape:
            n *= d
        return n

    def __repr__(self):
        return f"Parameter({self.name!r}, shape={self.shape}, dtype={self.dtype})"
