"""The layer protocol, and the registry of layer types a model file may name."""

from __future__ import annotations

import re

from ..core.backend import convert, floatx, get_backend, to_numpy
from ..errors import ShapeError, shape_str
from ..core.parameter import Parameter
from ..core import symbolic
from ..core.symbolic import unique_name, valid_name
from ..tutorial import TutorialLayer

LAYERS = {}


def register_layer(cls):
    """Class decorator: let model files name this layer type (custom layers too)."""
    LAYERS[cls.__name__] = cls
    return cls


class Layer(TutorialLayer):
    """Base of all layers.

    A layer implements:

    - ``build(input_shape)``: create its ``Parameter``s for inputs of per-sample shape
      ``input_shape`` (the batch axis left out; a list of shapes for a layer that takes
      several inputs); called once, on first use.
    - ``apply(x, training)``: forward on backend arrays; returns ``(y, backprop)``, where
      ``backprop(dy, need_dx=True)`` adds this call's gradients to the parameters
      (``Parameter.add_grad``) and returns ``dx`` (None when ``need_dx`` is false: nobody
      reads it, e.g. the first layer of a model). Everything the backward needs lives in the
      closure, so a layer applied twice in one step backpropagates both uses.
    - ``output_shape(input_shape)`` when it changes the shape, ``get_config()`` when its
      constructor takes arguments, ``check_input_shape`` when it only takes some shapes.

    A layer with ``multiple_inputs = True`` takes a list of arrays and its ``backprop``
    returns a list of gradients; one whose ``output_shape`` is a list has several outputs
    (a tuple), and its ``backprop`` takes a tuple of gradients (None for an unused one).

    ``forward(x)`` and ``backward(dy)`` are the public entry points: they accept lists,
    NumPy or other backends' arrays, build the layer and check shapes, then run ``apply``
    and its ``backprop``; ``backward`` gives the gradients of that one pass (it clears the
    layer's gradients first). ``layer(tensor)`` on an ``xdl.Input`` (or another layer's
    symbolic output) builds a graph for ``xdl.Model``; ``layer(x)`` on data is ``forward``.

    ``layer.trainable = False`` freezes it, as in Keras: its weights get no gradient and no
    update (a frozen BatchNorm also normalizes with its moving statistics); it is saved with
    the model and may be set before the layer is built. ``get_weights``/``set_weights``
    read and write the parameters as NumPy arrays.
    """

    #: "float" inputs are cast to the layer's dtype; "int" inputs (indices) keep theirs
    input_kind = "float"
    #: True: the layer takes a list of inputs (merge layers)
    multiple_inputs = False
    #: keyword flags of ``apply`` (and ``output_shape``) a graph node records and saves,
    #: e.g. MultiHeadAttention's ``use_causal_mask``; their values must be JSON-able
    call_arguments = ()
    #: Keras's flag: the layer takes inputs that carry a mask (padded sequences, see
    #: ``compute_mask``); a mask reaching a layer without it is dropped, with a warning
    supports_masking = False

    def __init__(self, name=None, dtype=None):
        if dtype is not None and dtype not in ("float32", "float64"):
            raise ValueError(f"{type(self).__name__}: unknown dtype {dtype!r}; use 'float32' or 'float64'")
        if name is not None and not valid_name(name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string without '/', got {name!r}")
        self.name = name or self._default_name()
        self.dtype_name = dtype
        self.backend = None
        self.dtype = None
        self.input_shape = None
        self.built = False
        self._trainable_flag = True  # see the trainable property
        self._parameters = {}

    def _default_name(self) -> str:
        base = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type(self).__name__)
        base = re.sub(r"([a-z])([A-Z])", r"\1_\2", base).lower()  # LeakyReLU -> leaky_re_lu, Conv2D -> conv2d
        return unique_name(base)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"

    # -- what subclasses implement ------------------------------------------------------
    def build(self, input_shape) -> None:
        """Bind the layer to the active backend and dtype; subclasses then add parameters."""
        self.backend = get_backend()
        self.dtype_name = self.dtype_name or floatx()
        self.dtype = self.backend.dtype(self.dtype_name)
        self.input_shape = [tuple(s) for s in input_shape] if self.multiple_inputs else tuple(input_shape)
        self.built = True

    def apply(self, x, training=False):
        """``(y, backprop)`` for backend arrays ``x``; see the class doc."""
        raise NotImplementedError(f"{type(self).__name__} implements no apply(x, training)")

    def call(self, x, training=False, **kwargs):
        """The output for backend arrays ``x``, for inference."""
        return self.apply(x, training, **kwargs)[0]

    def output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    # -- masks (padded sequences: xdl/layers/masking.py) ------------------------------------
    def compute_mask(self, x, mask):
        """The output's mask for input ``x`` and its ``mask`` (booleans over the leading
        axes, e.g. (N, T), True where a step counts; None for none): by default the mask
        passes unchanged. A list of masks for a layer with several inputs or outputs."""
        return mask

    def output_masked(self, masked):
        """Whether the output carries a mask (a list, one per output, for several), decided
        as the graph is built: ``masked`` says whether the input does. Mirrors ``compute_mask``."""
        if isinstance(masked, list):  # several inputs: the default compute_mask needs an override
            masked = any(masked)
        return masked if self.supports_masking else False

    def apply_masked(self, x, mask, training=False, **kwargs):
        """``(y, output mask, backprop)``: ``apply`` for an input whose steps ``mask`` marks.
        Layers that read the mask (recurrent layers, pooling over time) override it. Graphs
        call it only when some layer makes a mask: other models run ``apply`` alone."""
        y, backprop = self.apply(x, training, **kwargs)
        return y, self.compute_mask(x, mask), backprop

    def start_epoch(self, epoch: int, stream: int = 0) -> None:
        """Called by ``fit`` before each epoch: layers with randomness reseed from the epoch
        and ``stream`` (the process's rank in data-parallel training, so ranks differ)."""

    def check_values(self, x, where) -> None:
        """Checks that need the values of an input (on the host: one read per call of
        fit/predict/forward, never inside a step); ``x`` is this layer's (first) input."""

    def check_input_shape(self, input_shape) -> None:
        """Raise ``ShapeError`` if a built layer cannot take per-sample ``input_shape``."""

    def get_config(self) -> dict:
        """The constructor's arguments; "trainable" is written only for a frozen layer."""
        config = {"name": self.name, "dtype": self.dtype_name}
        if not self.trainable:
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config, build_layer=None):
        """The layer a model file describes (``get_config``'s dict); models build the layers
        inside them through ``build_layer(spec)``."""
        config = dict(config)
        trainable = config.pop("trainable", True)
        layer = cls(**config)
        layer.trainable = trainable
        return layer

    # -- freezing -------------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        """False: the layer is frozen (see the class doc)."""
        return self._trainable_flag

    @trainable.setter
    def trainable(self, value):
        if not isinstance(value, bool):
            raise TypeError(f"{self.describe()}: trainable must be True or False, got {value!r}")
        self._trainable_flag = value
        for layer in self._sublayers():
            layer.trainable = value
        for p in self._parameters.values():
            if not p.state and p.trainable != value:
                p.trainable = value

    def _sublayers(self) -> list:
        """Layers inside this one (a model's, a sequence layer's cell) that ``trainable`` sets."""
        return []

    # -- parameters -----------------------------------------------------------------------
    def add_parameter(self, name: str, value, trainable: bool = True, regularizer=None) -> Parameter:
        """Register an array; ``trainable=False`` for state such as BatchNorm's running mean
        (never trained). The others follow the layer's ``trainable``. ``regularizer``: a
        penalty (xdl.regularizers) added to the loss while the parameter trains."""
        p = Parameter(value, name, trainable and self.trainable, state=not trainable)
        p.regularizer = regularizer
        self._parameters[name] = p
        return p

    def get_weights(self) -> list:
        """Every parameter as a NumPy array, in ``parameters()`` order (state included)."""
        return [to_numpy(p.value) for p in self.parameters()]

    def set_weights(self, weights) -> None:
        """Set every parameter from a list of arrays in ``parameters()`` order (as
        ``get_weights`` gives), each of the parameter's shape; converted to its dtype."""
        params = self.parameters()
        path = {id(p): key for key, p in self.named_parameters().items()}
        if not isinstance(weights, (list, tuple)) or len(weights) != len(params):
            got = f"{len(weights)} arrays" if isinstance(weights, (list, tuple)) else type(weights).__name__
            built = "" if self.built else " (not built yet: it makes its parameters on first use)"
            raise ValueError(f"{self.describe()}: set_weights takes a list of {len(params)} arrays{built}, "
                             f"one per parameter {list(path.values())}, got {got}")
        values = []
        for p, w in zip(params, weights):
            key = path.get(id(p), p.name)
            value = convert(self.backend, w, p.dtype, f"{self.describe()}: set_weights {key}")
            if tuple(value.shape) != p.shape:
                raise ValueError(f"{self.describe()}: set_weights: {key} has shape {p.shape}, got an array "
                                 f"of shape {tuple(value.shape)}")
            values.append(self.backend.xp.asarray(value, copy=True))  # never the caller's array
        for p, value in zip(params, values):  # all checked first: nothing is half set
            p.value = value

    def parameters(self) -> list:
        """This layer's ``Parameter``s, in a fixed order."""
        return list(self._parameters.values())

    def named_parameters(self) -> dict:
        """``{name: Parameter}``, named by path as model files name them."""
        return {p.name: p for p in self._parameters.values()}

    def zero_grad(self) -> None:
        """Clear every parameter's gradient (None counts as zeros)."""
        for p in self.parameters():
            p.grad = None

    def describe(self) -> str:
        return f"{self.name} ({type(self).__name__})"

    # -- public entry points --------------------------------------------------------------
    def __call__(self, x, *args, **kwargs):
        """On symbolic tensors (``xdl.Input``...): a new node of a graph; on data: ``forward``."""
        if symbolic.is_symbolic(x):
            flags = {k: v for k, v in kwargs.items() if k in self.call_arguments}
            if args or len(flags) != len(kwargs):
                extra = {k: v for k, v in kwargs.items() if k not in flags}
                raise TypeError(f"{self.describe()}: called on symbolic tensors with extra arguments "
                                f"{args or ''}{extra or ''}; a graph node takes its inputs only"
                                + (f" and {list(self.call_arguments)}" if self.call_arguments else ""))
            return symbolic.connect(self, x, flags)
        return self.forward(x, *args, **kwargs)

    def input_dtype(self, be):
        """The dtype inputs are cast to on ``be`` (None: keep theirs, e.g. integer indices)."""
        if self.input_kind != "float":
            return None
        return self.dtype or be.dtype(self.dtype_name or floatx())

    def accept(self, x):
        """Move ``x`` onto this layer's backend and dtype, building the layer on first use."""
        be = self.backend or get_backend()
        if self.multiple_inputs:
            if not isinstance(x, (list, tuple)) or len(x) < 2:
                raise TypeError(f"{self.describe()}: expects a list of at least two inputs, got "
                                f"{type(x).__name__}")
            xs = [self._accept_one(be, part) for part in x]
            shapes = [tuple(part.shape[1:]) for part in xs]
        else:
            xs = self._accept_one(be, x)
            shapes = tuple(xs.shape[1:])
        if not self.built:
            self.build(shapes)
        else:
            self.check_input_shape(shapes)
        self.check_values(xs[0] if self.multiple_inputs else xs, self.describe())
        return xs

    def _accept_one(self, be, x):
        x = convert(be, x, self.input_dtype(be), self.describe())
        if x.ndim < 1:
            raise ShapeError(f"{self.describe()}: expected an array with a batch axis, got a scalar")
        return x


def expect_last_axis(layer, input_shape, size, hint=""):
    """Shared check for layers that act on the last axis (Dense and friends)."""
    if len(input_shape) < 1 or input_shape[-1] != size:
        raise ShapeError(
            f"{layer.describe()}: expected input shape (N, ..., {size}), got {shape_str(input_shape)}"
            + (f"; {hint}" if hint else "")
        )
