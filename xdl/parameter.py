"""``Parameter``: the one trainable-array type every layer uses and every optimizer updates."""

from __future__ import annotations


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Layers read ``value`` afresh on every call and keep no other reference to it, and SGD
    updates it in place where the library allows (``p.value -= ...``). So ``value`` may be a
    view of one flat buffer per model, which a fused optimizer kernel or one all-reduce then
    covers whole; gradients join such a buffer once layers write ``grad`` into it.
    """

    __slots__ = ("name", "value", "grad", "trainable")

    def __init__(self, value, name: str, trainable: bool = True):
        self.name = name
        self.value = value
        self.grad = None
        self.trainable = trainable  # False: state saved with the model but never given a grad

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
