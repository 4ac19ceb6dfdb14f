"""BatchNorm and LayerNorm: normalize, then scale by ``gamma`` and shift by ``beta``; and
Keras's ``BatchNormalization`` and ``LayerNormalization``, the same layers under Keras's
names, arguments and defaults."""

from __future__ import annotations

from ..core import initializers, regularizers
from ..core.checks import boolean, number
from ..errors import ArgumentError
from .base import Layer, expect_last_axis, initializer, register_layer, regularizer


class _Normalization(Layer):
    """Shared by both: a (features,) ``gamma`` and ``beta`` on the last axis (either left out
    by Keras's ``scale=False`` / ``center=False``: then a constant 1 or 0, not a parameter)."""

    sized_axes = ((-1, None),)
    center = scale = True
    gamma_initializer, beta_initializer = "ones", "zeros"
    gamma_regularizer = beta_regularizer = None

    def __init__(self, epsilon, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.epsilon = number(type(self).__name__, "epsilon", epsilon, 0.0, 1.0, low_open=True, high_open=True)

    def build(self, input_shape):
        super().build(input_shape)
        self.features = input_shape[-1]
        be, shape = self.backend, (self.features,)
        self.gamma = self.beta = None
        if self.scale:
            init = initializer(self.describe(), "gamma_initializer", self.gamma_initializer)
            self.gamma = self.add_parameter("gamma", init(be, shape, self.dtype), regularizer=self.gamma_regularizer)
        else:
            self._ones = initializers.ones(be, shape, self.dtype)
        if self.center:
            init = initializer(self.describe(), "beta_initializer", self.beta_initializer)
            self.beta = self.add_parameter("beta", init(be, shape, self.dtype), regularizer=self.beta_regularizer)
        else:
            self._zeros = initializers.zeros(be, shape, self.dtype)

    def _gamma(self):
        return self._ones if self.gamma is None else self.gamma.value

    def _beta(self):
        return self._zeros if self.beta is None else self.beta.value

    def check_input_shape(self, input_shape):
        expect_last_axis(self, input_shape, self.features, "normalization acts on the last (feature) axis")

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


class _KerasOptions:
    """Keras's arguments of ``BatchNormalization`` and ``LayerNormalization``, checked: the
    normalized ``axis`` must be the last (what xdl's layers do), constraints are refused."""

    def _keras_options(self, axis, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                       gamma_regularizer, beta_constraint, gamma_constraint):
        owner = f"{type(self).__name__} {self.name!r}"
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if len(axes) != 1 or isinstance(axes[0], bool) or not isinstance(axes[0], int) or axes[0] == 0 \
                or axes[0] < -1:
            raise ArgumentError(f"{owner}: axis={axis!r} is not supported: xdl normalizes the last axis only "
                                "(axis=-1, the features, channels last); 0 is the batch axis")
        self.axis = axis
        self.center = boolean(owner, "center", center)
        self.scale = boolean(owner, "scale", scale)
        for key, value in (("beta_constraint", beta_constraint), ("gamma_constraint", gamma_constraint)):
            if value is not None:
                raise ArgumentError(f"{owner}: {key} is not supported (xdl has no constraints); pass None")
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        initializer(owner, "beta_initializer", beta_initializer)  # checked now, used in build
        initializer(owner, "gamma_initializer", gamma_initializer)
        self.beta_regularizer = regularizer(f"{owner}: beta_regularizer", beta_regularizer)
        self.gamma_regularizer = regularizer(f"{owner}: gamma_regularizer", gamma_regularizer)

    def _check_axis(self, input_shape):
        axis = self.axis[0] if isinstance(self.axis, (list, tuple)) else self.axis
        if axis not in (-1, len(input_shape)):  # counting the batch axis as 0, as Keras does
            raise ArgumentError(f"{self.describe()}: axis={self.axis!r} is not the last axis of inputs of shape "
                                f"(N, {', '.join(map(str, input_shape))}); xdl normalizes the last axis only")

    def _keras_config(self):
        config = {"axis": self.axis, "center": self.center, "scale": self.scale,
                  "beta_initializer": initializers.spec(self.beta_initializer),
                  "gamma_initializer": initializers.spec(self.gamma_initializer)}
        for key in ("beta_regularizer", "gamma_regularizer"):
            if getattr(self, key) is not None:
                config[key] = regularizers.spec(getattr(self, key))
        return config


@register_layer
class BatchNorm(_Normalization):
    """Batch normalization over every axis but the last: (N, F) after Dense, (N, H, W, C) after
    Conv2D (channels last).

    Training normalizes with the batch's mean and variance and updates the running statistics
    (``running = momentum * running + (1 - momentum) * batch``); evaluation uses the running ones,
    and so does training while the layer is frozen (``trainable = False``, as in Keras).
    """

    def __init__(self, momentum=0.9, epsilon=1e-3, name=None, dtype=None, **kwargs):
        super().__init__(epsilon, name=name, dtype=dtype, **kwargs)
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
            dxhat = dy * self._gamma()
            if not training:  # fixed statistics: a per-feature affine map
                return dxhat * inv
            return self._normalized_backward(dxhat, xhat, inv, tuple(range(dy.ndim - 1)))

        return self._scale_shift(xhat), backprop

    def _parameter_grads(self, dy, xhat):
        """Add gamma's and beta's gradients: sums over every row of the last axis."""
        be, xp = self.backend, self.backend.xp
        rows = (-1, self.features)
        if self.gamma is not None:
            self.gamma.add_row_sums(be, xp.reshape(dy * xhat, rows))
        if self.beta is not None:
            self.beta.add_row_sums(be, xp.reshape(dy, rows))

    def _scale_shift(self, xhat):
        return xhat * self._gamma() + self._beta()

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

    def __init__(self, epsilon=1e-5, name=None, dtype=None, **kwargs):
        super().__init__(epsilon, name=name, dtype=dtype, **kwargs)

    def apply(self, x, training=False):
        be = self.backend
        y, saved = be.layer_norm(x, self._gamma(), self._beta(), self.epsilon)

        def backprop(dy, need_dx=True):
            dx, dgamma, dbeta = be.layer_norm_backward(dy, saved, self._gamma(), need_dx)
            if self.gamma is not None:
                self.gamma.add_grad(dgamma)
            if self.beta is not None:
                self.beta.add_grad(dbeta)
            return dx

        return y, backprop


@register_layer
class BatchNormalization(_KerasOptions, BatchNorm):
    """Keras's ``BatchNormalization``: ``BatchNorm`` with Keras's arguments and defaults
    (``momentum=0.99``, ``epsilon=1e-3``; xdl's ``BatchNorm`` keeps ``momentum=0.9``). The
    moving statistics follow Keras's rule, ``moving = moving * momentum + batch * (1 - momentum)``
    (the batch's variance is the biased one, as Keras's).

    ``center=False`` / ``scale=False`` leave out ``beta`` / ``gamma``; initializers and
    regularizers of ``beta``/``gamma`` and the moving statistics' initializers are taken. Not
    supported, refused with an ``ArgumentError``: an ``axis`` other than the last (xdl
    normalizes over every axis but the last: channels last), constraints, ``synchronized=True``
    (data-parallel replicas keep their own batch statistics), ``renorm``."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False, *, name=None, dtype=None, **kwargs):
        super().__init__(momentum=momentum, epsilon=epsilon, name=name, dtype=dtype, **kwargs)
        self._keras_options(axis, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                            gamma_regularizer, beta_constraint, gamma_constraint)
        if synchronized is not False:
            raise ArgumentError(f"BatchNormalization {self.name!r}: synchronized=True is not supported (each "
                                "data-parallel replica normalizes with its own batch's statistics)")
        owner = f"BatchNormalization {self.name!r}"
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        initializer(owner, "moving_mean_initializer", moving_mean_initializer)
        initializer(owner, "moving_variance_initializer", moving_variance_initializer)

    def build(self, input_shape):
        self._check_axis(input_shape)
        super().build(input_shape)
        be, shape = self.backend, (self.features,)
        for attribute, key in (("moving_mean", "moving_mean_initializer"),
                               ("moving_var", "moving_variance_initializer")):
            if getattr(self, key) != ("zeros" if attribute == "moving_mean" else "ones"):
                getattr(self, attribute).value = initializer(self.describe(), key, getattr(self, key))(
                    be, shape, self.dtype)

    def get_config(self):
        return {**super().get_config(), **self._keras_config(),
                "moving_mean_initializer": initializers.spec(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.spec(self.moving_variance_initializer)}


@register_layer
class LayerNormalization(_KerasOptions, LayerNorm):
    """Keras's ``LayerNormalization``: ``LayerNorm`` with Keras's arguments and defaults
    (``epsilon=1e-3``; xdl's ``LayerNorm`` keeps ``epsilon=1e-5``), over the last axis.

    ``center=False`` / ``scale=False`` leave out ``beta`` / ``gamma``; their initializers and
    regularizers are taken. Refused with an ``ArgumentError``: an ``axis`` other than the last
    (or several axes), constraints, ``rms_scaling=True``."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, *, name=None, dtype=None, **kwargs):
        super().__init__(epsilon=epsilon, name=name, dtype=dtype, **kwargs)
        self._keras_options(axis, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                            gamma_regularizer, beta_constraint, gamma_constraint)
        if rms_scaling is not False:
            raise ArgumentError(f"LayerNormalization {self.name!r}: rms_scaling=True is not supported")

    def build(self, input_shape):
        self._check_axis(input_shape)
        super().build(input_shape)

    def get_config(self):
        return {**super().get_config(), **self._keras_config()}
