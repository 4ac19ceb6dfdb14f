"""BatchNorm and LayerNorm: normalize, then scale by ``gamma`` and shift by ``beta``."""

from __future__ import annotations

from ..core import initializers
from ..core.checks import number
from .base import Layer, expect_last_axis, register_layer


class _Normalization(Layer):
    """Shared by both: a (features,) ``gamma`` and ``beta`` on the last axis."""

    sized_axes = ((-1, None),)

    def __init__(self, epsilon, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.epsilon = number(type(self).__name__, "epsilon", epsilon, 0.0, 1.0, low_open=True, high_open=True)

    def build(self, input_shape):
        super().build(input_shape)
        self.features = input_shape[-1]
        be, shape = self.backend, (self.features,)
        self.gamma = self.add_parameter("gamma", initializers.ones(be, shape, self.dtype))
        self.beta = self.add_parameter("beta", initializers.zeros(be, shape, self.dtype))

    def check_input_shape(self, input_shape):
        expect_last_axis(self, input_shape, self.features, "normalization acts on the last (feature) axis")

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@register_layer
class BatchNorm(_Normalization):
    """Batch normalization over every axis but the last: (N, F) after Dense, (N, H, W, C) after
    Conv2D (channels last).

    Training normalizes with the batch's mean and variance and updates the running statistics
    (``running = momentum * running + (1 - momentum) * batch``); evaluation uses the running ones,
    and so does training while the layer is frozen (``trainable = False``, as in Keras).
    """

    def __init__(self, momentum=0.9, epsilon=1e-3, name=None, dtype=None):
        super().__init__(epsilon, name=name, dtype=dtype)
        self.momentum = number("BatchNorm", "momentum", momentum, 0.0, 1.0, high_open=True)

    def build(self, input_shape):
        super().build(input_shape)
        be, shape = self.backend, (self.features,)
        self.moving_mean = self.add_parameter("moving_mean", initializers.zeros(be, shape, self.dtype), False)
        self.moving_var = self.add_parameter("moving_variance", initializers.ones(be, shape, self.dtype), False)

    def apply(self, x, training=False):
        xp = self.backend.xp
        training = training and self.trainable
        if training:
            axes = tuple(range(x.ndim - 1))
            mean = xp.mean(x, axis=axes)
            centered = x - mean
            var = xp.mean(centered * centered, axis=axes)
            m = self.momentum
            self.moving_mean.value = self.moving_mean.value * m + (1.0 - m) * mean
            self.moving_var.value = self.moving_var.value * m + (1.0 - m) * var
        else:
            centered, var = x - self.moving_mean.value, self.moving_var.value
        inv = 1.0 / xp.sqrt(var + self.epsilon)
        xhat = centered * inv

        def backprop(dy, need_dx=True):
            self._parameter_grads(dy, xhat)
            if not need_dx:
                return None
            dxhat = dy * self.gamma.value
            if not training:  # fixed statistics: a per-feature affine map
                return dxhat * inv
            return self._normalized_backward(dxhat, xhat, inv, tuple(range(dy.ndim - 1)))

        return self._scale_shift(xhat), backprop

    def _parameter_grads(self, dy, xhat):
        """Add gamma's and beta's gradients: sums over every row of the last axis."""
        be, xp = self.backend, self.backend.xp
        rows = (-1, self.features)
        self.gamma.add_row_sums(be, xp.reshape(dy * xhat, rows))
        self.beta.add_row_sums(be, xp.reshape(dy, rows))

    def _scale_shift(self, xhat):
        return xhat * self.gamma.value + self.beta.value

    def _normalized_backward(self, dxhat, xhat, inv, axes):
        """dx for xhat = (x - mean(x)) * inv with both statistics taken over ``axes``
        (LayerNorm's is the backend's ``layer_norm_backward``)."""
        xp = self.backend.xp
        mean_d = xp.mean(dxhat, axis=axes, keepdims=True)
        mean_dx = xp.mean(dxhat * xhat, axis=axes, keepdims=True)
        return (dxhat - mean_d - xhat * mean_dx) * inv

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


@register_layer
class LayerNorm(_Normalization):
    """Layer normalization over the last axis of each sample (and time step): the same in
    training and evaluation."""

    supports_masking = True  # per position: a mask on the input passes on

    def __init__(self, epsilon=1e-5, name=None, dtype=None):
        super().__init__(epsilon, name=name, dtype=dtype)

    def apply(self, x, training=False):
        be = self.backend
        y, saved = be.layer_norm(x, self.gamma.value, self.beta.value, self.epsilon)

        def backprop(dy, need_dx=True):
            dx, dgamma, dbeta = be.layer_norm_backward(dy, saved, self.gamma.value, need_dx)
            self.gamma.add_grad(dgamma)
            self.beta.add_grad(dbeta)
            return dx

        return y, backprop
