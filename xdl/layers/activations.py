"""Element-wise activations. Each caches the one array its backward needs."""

from __future__ import annotations

from .base import Layer, register_layer


@register_layer
class ReLU(Layer):
    """``max(x, 0)``, computed as ``x * (x > 0)``: a NaN passes through, as in NumPy and
    PyTorch (and an input of -inf gives NaN, not 0)."""

    def call(self, x, training=False):
        # A 0/1 mask, multiplied: NumPy's where() branches per element and runs ~8x slower on
        # random signs; maximum(x, 0.0) would make array-api-compat copy the scalar to the
        # device, which on torch-CUDA waits for the GPU. No scalar, no branch here. A backend
        # with a fused kernel (Backend.relu) does the same in one pass and keeps x instead.
        if "relu" in self.backend.fused:
            self.x, self.mask = x, None
            return self.backend.relu(x)
        xp = self.backend.xp
        self.mask = xp.astype(x > 0, x.dtype)
        return x * self.mask

    def backprop(self, dy):
        if self.mask is None:
            return self.backend.relu_backward(dy, self.x)
        return dy * self.mask


@register_layer
class LeakyReLU(Layer):
    """``x`` where positive, ``alpha * x`` elsewhere."""

    def __init__(self, alpha=0.01, *, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.alpha = float(alpha)

    def call(self, x, training=False):
        self.x = x
        return self.backend.xp.where(x > 0, x, self.alpha * x)

    def backprop(self, dy):
        return self.backend.xp.where(self.x > 0, dy, self.alpha * dy)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register_layer
class Sigmoid(Layer):
    """``1 / (1 + exp(-x))``, computed as ``(tanh(x / 2) + 1) / 2`` so it never overflows."""

    def call(self, x, training=False):
        self.y = 0.5 * self.backend.xp.tanh(0.5 * x) + 0.5
        return self.y

    def backprop(self, dy):
        y = self.y
        return dy * y * (1.0 - y)


@register_layer
class Tanh(Layer):
    def call(self, x, training=False):
        self.y = self.backend.xp.tanh(x)
        return self.y

    def backprop(self, dy):
        y = self.y
        return dy * (1.0 - y * y)


@register_layer
class Softmax(Layer):
    """Softmax over ``axis`` (default: last). For classification prefer a loss on logits."""

    def __init__(self, axis=-1, *, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.axis = int(axis)

    def call(self, x, training=False):
        xp = self.backend.xp
        e = xp.exp(x - xp.max(x, axis=self.axis, keepdims=True))
        self.y = e / xp.sum(e, axis=self.axis, keepdims=True)
        return self.y

    def backprop(self, dy):
        y = self.y
        return y * (dy - self.backend.xp.sum(dy * y, axis=self.axis, keepdims=True))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
