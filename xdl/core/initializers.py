"""Weight initializers, chosen per layer by name: ``Dense(..., kernel_initializer="he_normal")``."""

from __future__ import annotations

import contextlib
import functools
import math

from ..errors import ArgumentError, missing_method
from . import random
from .checks import as_int, number, one_of, short

_budget = None  # elements still allowed while a model file is being loaded (None: no limit)


@contextlib.contextmanager
def limit(elements: int, error):
    """Refuse (raise ``error(message)``) to create more than ``elements`` parameter elements
    in this block: a model file's architecture may not ask for more than the file holds."""
    global _budget
    saved, _budget = _budget, [elements, error]
    try:
        yield
    finally:
        _budget = saved


def _charge(shape):
    """Count ``shape``'s elements against the budget of a model file being loaded."""
    if _budget is not None:
        n = math.prod(shape)
        if n > _budget[0]:
            raise _budget[1](f"the architecture asks for a parameter of shape {tuple(shape)}, "
                             f"more than the file's {_budget[0]:,} remaining weights")
        _budget[0] -= n


def _budgeted(init):
    @functools.wraps(init)
    def checked(be, shape, dtype):
        _charge(shape)
        return init(be, shape, dtype)
    return checked


def _fans(shape):
    if not shape:  # a scalar weight (add_weight(shape=())): Keras counts one in, one out
        return 1, 1
    fan_in = math.prod(shape[:-1]) if len(shape) > 1 else shape[0]
    return max(fan_in, 1), max(shape[-1], 1)


def _host(be, values, dtype):
    return be.asarray(values, dtype=dtype)


def _uniform(be, shape, dtype, limit):
    """Uniform draws in [-limit, limit] from xdl's generator, on ``be``."""
    return _host(be, random.generator().uniform(-limit, limit, shape), dtype)


def _normal(be, shape, dtype, stddev):
    return _host(be, random.generator().normal(0.0, stddev, shape), dtype)


@_budgeted
def zeros(be, shape, dtype):
    return be.xp.zeros(shape, dtype=dtype, device=be.device)


@_budgeted
def ones(be, shape, dtype):
    return be.xp.ones(shape, dtype=dtype, device=be.device)


@_budgeted
def uniform(be, shape, dtype):
    """Uniform in [-0.05, 0.05] (Keras' RandomUniform default; embeddings start here)."""
    return _uniform(be, shape, dtype, 0.05)


@_budgeted
def glorot_uniform(be, shape, dtype):
    fan_in, fan_out = _fans(shape)
    return _uniform(be, shape, dtype, math.sqrt(6.0 / (fan_in + fan_out)))


@_budgeted
def glorot_normal(be, shape, dtype):
    fan_in, fan_out = _fans(shape)
    return _normal(be, shape, dtype, math.sqrt(2.0 / (fan_in + fan_out)))


@_budgeted
def he_uniform(be, shape, dtype):
    return _uniform(be, shape, dtype, math.sqrt(6.0 / _fans(shape)[0]))


@_budgeted
def he_normal(be, shape, dtype):
    return _normal(be, shape, dtype, math.sqrt(2.0 / _fans(shape)[0]))


def _truncated(shape, stddev):
    return _cut(random.generator(), shape, stddev)


def _cut(rng, shape, stddev):
    """Normal draws with |x| < 2 stddev (redrawn beyond), as Keras's TruncatedNormal."""
    out = rng.normal(0.0, stddev, shape)
    bad = abs(out) >= 2 * stddev
    while bad.any():
        out[bad] = rng.normal(0.0, stddev, int(bad.sum()))
        bad = abs(out) >= 2 * stddev
    return out


@_budgeted
def random_normal(be, shape, dtype):
    """Normal with standard deviation 0.05 (Keras's RandomNormal default)."""
    return _normal(be, shape, dtype, 0.05)


@_budgeted
def truncated_normal(be, shape, dtype):
    """Keras's TruncatedNormal default: standard deviation 0.05, cut at two of them."""
    return _host(be, _truncated(shape, 0.05), dtype)


@_budgeted
def lecun_normal(be, shape, dtype):
    """Keras's: truncated normal of variance 1 / fan_in (the cut's shrinkage made up)."""
    return _host(be, _truncated(shape, math.sqrt(1.0 / _fans(shape)[0]) / 0.87962566103423978), dtype)


@_budgeted
def lecun_uniform(be, shape, dtype):
    return _uniform(be, shape, dtype, math.sqrt(3.0 / _fans(shape)[0]))


@_budgeted
def orthogonal(be, shape, dtype):
    """Keras's Orthogonal (gain 1): a random orthogonal matrix over (fan_in, last axis)."""
    return _orthogonal(be, shape, dtype, random.generator())


def _orthogonal(be, shape, dtype, rng):
    rows, cols = _fans(shape)
    xp = be.xp
    a = be.asarray(rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols))), dtype=dtype)
    q, r = xp.linalg.qr(a)  # the array API's linalg extension, on the device
    q = q * xp.sign(xp.linalg.diagonal(r))
    q = q if rows >= cols else xp.matrix_transpose(q)
    return xp.reshape(xp.reshape(q, (-1,)), tuple(shape))  # through 1-D: a row-major copy, not a transposed view


_BY_NAME = {f.__name__: f for f in (zeros, ones, uniform, glorot_uniform, glorot_normal, he_uniform, he_normal,
                                    random_normal, truncated_normal, lecun_normal, lecun_uniform, orthogonal)}
_BY_NAME.update(xavier_uniform=glorot_uniform, xavier_normal=glorot_normal, random_uniform=uniform)


# -- Keras's initializer objects ------------------------------------------------------------------
class Initializer:
    """Keras's initializers as objects: ``Dense(4, kernel_initializer=GlorotUniform(seed=1))``,
    or ``init(shape, dtype=None)`` for an array on the active backend. Layers call
    ``initial(be, shape, dtype)``; ``get_config`` holds the arguments (saved with the layer).
    A ``seed`` makes every call draw the same values; without one, draws come from xdl's
    generator (``xdl.utils.set_random_seed``)."""

    def __call__(self, shape, dtype=None):
        from .backend import floatx, get_backend
        be = get_backend()
        return self.initial(be, tuple(shape), be.dtype(dtype or floatx()))

    def initial(self, be, shape, dtype):
        _charge(shape)
        return be.asarray(self.draw(tuple(shape), self._rng()), dtype=dtype)

    def draw(self, shape, rng):
        """The values (a NumPy array) for ``shape`` from ``rng``."""
        raise missing_method(self, "draw(shape, rng) or initial(be, shape, dtype)")

    def _rng(self):
        seed = getattr(self, "seed", None)
        return random.generator() if seed is None else random.generator([seed])

    def get_config(self) -> dict:
        return dict(self._config)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._config.items())})"


def _seed(owner, seed):
    if seed is not None and (as_int(seed) is None or as_int(seed) < 0):
        raise ArgumentError(f"{owner}: seed must be a non-negative int or None, got {short(seed)}")
    return None if seed is None else as_int(seed)


class Constant(Initializer):
    """Every element ``value`` (a number)."""

    def __init__(self, value=0.0):
        self.value = number("Constant", "value", value, low=-math.inf)
        self._config = {"value": self.value}

    def initial(self, be, shape, dtype):
        _charge(shape)
        return be.xp.full(tuple(shape), self.value, dtype=dtype, device=be.device)


class Zeros(Constant):
    def __init__(self):
        super().__init__(0.0)
        self._config = {}


class Ones(Constant):
    def __init__(self):
        super().__init__(1.0)
        self._config = {}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = number("RandomUniform", "minval", minval, low=-math.inf)
        self.maxval = number("RandomUniform", "maxval", maxval, low=-math.inf)
        self.seed = _seed("RandomUniform", seed)
        self._config = {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}

    def draw(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = number("RandomNormal", "mean", mean, low=-math.inf)
        self.stddev = number("RandomNormal", "stddev", stddev)
        self.seed = _seed("RandomNormal", seed)
        self._config = {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}

    def draw(self, shape, rng):
        return rng.normal(self.mean, self.stddev, shape)


class TruncatedNormal(RandomNormal):
    """Normal draws within two standard deviations of the mean (redrawn beyond)."""

    def draw(self, shape, rng):
        return self.mean + _cut(rng, shape, self.stddev)


class VarianceScaling(Initializer):
    """Keras's: draws of variance ``scale / n``, n the fan in, the fan out or their mean
    (``mode``), from a truncated normal (its cut made up), a normal or a uniform."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        kind = type(self).__name__
        self.scale = number(kind, "scale", scale, low_open=True)
        self.mode = one_of(kind, "mode", mode, ("fan_in", "fan_out", "fan_avg"))
        self.distribution = one_of(kind, "distribution", distribution,
                                   ("truncated_normal", "untruncated_normal", "normal", "uniform"))
        self.seed = _seed(kind, seed)
        self._config = {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                        "seed": self.seed}

    def draw(self, shape, rng):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            return _cut(rng, shape, math.sqrt(variance) / 0.87962566103423978)
        if self.distribution in ("normal", "untruncated_normal"):
            return rng.normal(0.0, math.sqrt(variance), shape)
        limit = math.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, shape)


def _scaled(name, scale, mode, distribution):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)
        self._config = {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "__doc__": f"Keras's {name}: VarianceScaling("
                                           f"{scale}, {mode!r}, {distribution!r})."})


GlorotUniform = _scaled("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _scaled("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _scaled("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _scaled("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _scaled("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _scaled("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """A random orthogonal matrix over (fan_in, last axis), times ``gain``."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = number("Orthogonal", "gain", gain, low=-math.inf)
        self.seed = _seed("Orthogonal", seed)
        self._config = {"gain": self.gain, "seed": self.seed}

    def initial(self, be, shape, dtype):
        _charge(shape)
        return _orthogonal(be, shape, dtype, self._rng()) * self.gain


class Identity(Initializer):
    """The identity matrix (2-D shapes), times ``gain``."""

    def __init__(self, gain=1.0):
        self.gain = number("Identity", "gain", gain, low=-math.inf)
        self._config = {"gain": self.gain}

    def initial(self, be, shape, dtype):
        if len(shape) != 2:
            raise ArgumentError(f"Identity: takes 2-D shapes, got {tuple(shape)}")
        _charge(shape)
        return be.xp.eye(*shape, dtype=dtype, device=be.device) * self.gain


CLASSES = {cls.__name__: cls for cls in (Constant, Zeros, Ones, RandomUniform, RandomNormal, TruncatedNormal,
                                         VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal,
                                         LecunUniform, LecunNormal, Orthogonal, Identity)}


def spec(initializer):
    """What a layer's config holds for an initializer: its name, or ``{"class", "config"}``
    for an object of the classes above (a function of the user's: its name)."""
    if isinstance(initializer, str):
        return initializer
    if isinstance(initializer, Initializer) and type(initializer).__name__ in CLASSES:
        return {"class": type(initializer).__name__, "config": initializer.get_config()}
    return getattr(initializer, "__name__", repr(initializer))


def get(name):
    """An initializer ``f(be, shape, dtype)``: by name ("glorot_uniform", or Keras's class name
    "GlorotUniform"), an ``Initializer`` object or its ``{"class", "config"}``, or a callable
    ``f(be, shape, dtype)`` passed through."""
    if isinstance(name, Initializer):
        return name.initial
    if isinstance(name, dict):
        cls, config = name.get("class"), name.get("config", {})
        if not isinstance(cls, str) or cls not in CLASSES or not isinstance(config, dict) or set(name) - {
                "class", "config"}:
            raise ArgumentError(f"an initializer's config must be {{'class': one of {sorted(CLASSES)}, "
                                f"'config': {{...}}}}, got {short(name)}")
        try:
            return CLASSES[cls](**config).initial
        except TypeError as e:
            raise ArgumentError(f"{cls}: {e}") from None
    if callable(name):
        return name
    if isinstance(name, str) and name in CLASSES:
        return CLASSES[name]().initial
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):  # TypeError: unhashable
        raise ArgumentError(f"unknown initializer {short(name)}; choose one of {sorted(_BY_NAME)}, an "
                            f"initializer object or one of {sorted(CLASSES)}") from None
