"""The layer protocol, and the registry of layer types a model file may name."""

from __future__ import annotations

import inspect
import math
import re

from ..core import initializers, regularizers, symbolic, tape
from ..core.backend import convert, floatx, get_backend, to_numpy
from ..core.checks import MAX_SIZE, boolean, one_of, positive_int, short
from ..core.parameter import Parameter
from ..text.strings import STRING
from ..core.symbolic import unique_name, valid_name
from ..core.variable import initial_value
from ..errors import (
    ArgumentError,
    ArgumentTypeError,
    NotBuiltAttributeError,
    ShapeError,
    missing_method,
    shape_str,
)
from ..tutorial import TutorialLayer
from . import traced

LAYERS = {}
#: the keywords every layer's constructor takes (Layer's), beside its own
LAYER_KEYWORDS = ("trainable", "input_shape", "input_dim", "batch_size", "batch_input_shape", "activity_regularizer",
                  "autocast")


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

    #: "float" inputs are cast to the layer's dtype; "int" inputs (indices) keep theirs;
    #: "string": text, kept on the host (xdl/text/strings.py)
    input_kind = "float"
    #: True: the layer takes a list of inputs (merge layers)
    multiple_inputs = False
    #: keyword flags of ``apply`` (and ``output_shape``) a graph node records and saves,
    #: e.g. MultiHeadAttention's ``use_causal_mask``; their values must be JSON-able
    call_arguments = ()
    #: keyword arguments of ``apply`` that may be tensors in a graph (an RNN's ``initial_state``):
    #: recorded as inputs of the node, differentiated through, saved with the graph
    tensor_arguments = ()
    #: Keras's flag: the layer takes inputs that carry a mask (padded sequences, see
    #: ``compute_mask``); a mask reaching a layer without it is dropped, with a warning
    supports_masking = False
    #: the input axes whose sizes the weights are made for, each with the constructor argument
    #: that fixes it (None: none does), e.g. ``((-1, "input_size"),)``: a graph (or a model
    #: file) may leave other sizes free (None), never these; ``build`` checks before any weight
    sized_axes = ()
    #: the class writes its forward Keras's way (``call`` with xdl.ops, no ``apply``): the tape
    #: gives its backward (layers/traced.py); set for each class by ``__init_subclass__``
    keras_style = False
    _keras_building = False  # inside a Keras-style build: super().build(shape) is Keras's no-op
    #: attributes holding layers that are not inside this one (a model's bookkeeping)
    untracked = frozenset()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.keras_style = cls.apply is Layer.apply and cls.call not in _BUILTIN_CALLS
        if cls.keras_style and "build" in cls.__dict__:
            cls.build = _keras_build(cls.__dict__["build"])
        if not cls.keras_style and "infer" not in cls.__dict__:
            cls.infer = cls.call  # a graph's inference calls it per layer: no frame in between

    def __init__(self, name=None, dtype=None, *, trainable=True, input_shape=None, input_dim=None, batch_size=None,
                 batch_input_shape=None, activity_regularizer=None, autocast=True):
        kind = type(self).__name__
        one_of(kind, "dtype", dtype, (None, "float32", "float64"))
        if name is not None and not valid_name(name):
            raise ArgumentError(f"{kind}: name must be a non-empty string without '/', got {name!r}")
        self.name = name or self._default_name()
        self.dtype_name = dtype
        self.backend = None
        self.dtype = None
        self.input_shape = None
        self.built = False
        self._trainable_flag = boolean(kind, "trainable", trainable)  # see the trainable property
        self._parameters = {}
        #: Keras's ``input_shape=``/``input_dim=`` on a first layer: the batch-first shape a
        #: Sequential starts from (other models ignore it, as Keras does)
        self._declared_input = declared_input(kind, input_shape, input_dim, batch_size, batch_input_shape)
        boolean(kind, "autocast", autocast)  # Keras's mixed-precision flag: xdl computes in the layer's dtype
        if activity_regularizer is not None:
            raise ArgumentError(f"{kind}: activity_regularizer is not supported (xdl's built-in layers do not "
                                "penalize their outputs); add the penalty with add_loss in a layer of your own")

    def _default_name(self) -> str:
        base = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type(self).__name__)
        base = re.sub(r"([a-z])([A-Z])", r"\1_\2", base).lower()  # LeakyReLU -> leaky_re_lu, Conv2D -> conv2d
        return unique_name(base)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"

    # -- what subclasses implement ------------------------------------------------------
    def build(self, input_shape) -> None:
        """Bind the layer to the active backend and dtype; subclasses then add parameters."""
        if self._keras_building:
            return
        if not self.multiple_inputs:
            check_sized_axes(self, input_shape, self.sized_axes)
        self.backend = get_backend()
        self.dtype_name = self.dtype_name or floatx()
        self.dtype = self.backend.dtype(self.dtype_name)
        self.input_shape = [tuple(s) for s in input_shape] if self.multiple_inputs else tuple(input_shape)
        self.built = True
        if not self._trainable_flag:  # frozen at construction: so are the layers made inside it since
            self.trainable = False

    def apply(self, x, training=False, **kwargs):
        """``(y, backprop)`` for backend arrays ``x``; see the class doc. A layer that defines
        ``call`` instead (Keras's way) gets it from the tape."""
        if not self.keras_style:
            raise missing_method(self, "call(inputs) (Keras's way, with xdl.ops) or apply(x, training)")
        return traced.apply(self, x, training, kwargs)

    def call(self, x, training=False, **kwargs):
        """The output for backend arrays ``x``, for inference."""
        return self.apply(x, training, **kwargs)[0]

    def infer(self, x, training=False, **kwargs):
        """The output for backend arrays ``x`` with nothing kept for a backward (graphs' inference)."""
        if self.keras_style:
            return traced.infer(self, x, training, **kwargs)
        return self.call(x, training, **kwargs)

    def output_shape(self, input_shape) -> tuple:
        if not self.keras_style:
            return tuple(input_shape)
        if type(self).compute_output_shape is not Layer.compute_output_shape:
            return tuple(self.compute_output_shape(with_batch_axis(input_shape, self.multiple_inputs)))[1:]
        return traced.output_shape(self, input_shape)

    def compute_output_shape(self, input_shape):
        """Keras's form of ``output_shape``: shapes with the batch axis (None)."""
        if self.multiple_inputs:
            out = self.output_shape([tuple(s)[1:] for s in input_shape])
        else:
            out = self.output_shape(tuple(input_shape)[1:])
        return with_batch_axis(out, isinstance(out, list))

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
        for layer in self._sublayers():
            layer.start_epoch(epoch, stream)

    def check_tensor_argument(self, name, shapes) -> None:
        """Raise ``ShapeError`` if per-sample ``shapes`` do not fit keyword tensor ``name``."""

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
        check_config_keys(cls, config)
        trainable = config.pop("trainable", True)
        layer = cls(**config)
        layer.trainable = trainable
        return layer

    @classmethod
    def config_keys(cls):
        """The keys a config may hold: "trainable" and the constructor's keyword arguments
        (None: any key, see ``constructor_keys``)."""
        keys = constructor_keys(cls)
        return None if keys is None else keys | {"trainable"}

    @property
    def sample_input_shape(self):
        """The per-sample input shape the layer was built for (a model's ``input_shape`` is
        Keras's, batch-first: this is the same for every layer)."""
        return self.input_shape

    # -- graph nodes (Keras's layer.input / layer.output) -------------------------------------
    @property
    def input(self):
        """Keras's: the symbolic tensor (a list for a merge layer) this layer was first called
        on in a graph (``xdl.Input``, a functional model, a built Sequential)."""
        node = _first_node(self, "input")
        return list(node.inputs) if node.listed else node.inputs[0]

    @property
    def output(self):
        """Keras's: the symbolic tensor (a list for several outputs) this layer gave the first
        time it was called in a graph: ``xdl.Model(inputs=model.inputs, outputs=[layer.output
        for layer in model.layers])`` reads every layer's output."""
        node = _first_node(self, "output")
        return list(node.outputs) if node.several else node.outputs[0]

    # -- freezing -------------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        """False: the layer is frozen (see the class doc)."""
        return self._trainable_flag

    @trainable.setter
    def trainable(self, value):
        if not isinstance(value, bool):
            raise ArgumentTypeError(f"{self.describe()}: trainable must be True or False, got {value!r}")
        self._trainable_flag = value
        for layer in self._sublayers():
            layer.trainable = value
        for p in self._parameters.values():
            if not p.state and p.trainable != value:
                p.trainable = value

    def _sublayers(self) -> list:
        """Layers inside this one: their weights are this layer's too, and ``trainable`` sets theirs."""
        return [layer for _, layer in self._named_sublayers()]

    def _named_sublayers(self) -> list:
        """``(path, layer)`` for the layers this one's attributes hold (alone, or in a list,
        tuple or dict): "encoder", "blocks/0". The path names their weights in files, so a
        layer made again (with new automatic names) reads them back. Built-in layers that
        override ``_sublayers`` name theirs by layer name."""
        if type(self)._sublayers is not Layer._sublayers:
            return [(layer.name, layer) for layer in self._sublayers()]
        return attribute_layers(self)

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
            raise ArgumentError(f"{self.describe()}: set_weights takes a list of {len(params)} arrays{built}, "
                                f"one per parameter {list(path.values())}, got {got}")
        values = []
        for p, w in zip(params, weights):
            key = path.get(id(p), p.name)
            value = convert(self.backend, w, p.dtype, f"{self.describe()}: set_weights {key}")
            if tuple(value.shape) != p.shape:
                raise ArgumentError(f"{self.describe()}: set_weights: {key} has shape {p.shape}, got an array "
                                    f"of shape {tuple(value.shape)}")
            values.append(self.backend.xp.asarray(value, copy=True))  # never the caller's array
        for p, value in zip(params, values):  # all checked first: nothing is half set
            p.value = value

    def parameters(self) -> list:
        """This layer's ``Parameter``s, then those of the layers inside it, each once."""
        return list(self.named_parameters().values())

    def named_parameters(self) -> dict:
        """``{name: Parameter}``, named by path as model files name them ("inner/kernel")."""
        named = {p.name: p for p in self._parameters.values()}
        seen = {id(p) for p in named.values()}
        for path, layer in self._named_sublayers():
            for key, p in layer.named_parameters().items():
                if id(p) not in seen:
                    seen.add(id(p))
                    named[f"{path}/{key}"] = p
        return named

    # -- Keras's weights API ----------------------------------------------------------------
    def add_weight(self, shape=None, initializer="glorot_uniform", dtype=None, trainable=True, regularizer=None,
                   constraint=None, name=None, autocast=True):
        """A new weight (an xdl Variable, i.e. a ``Parameter``) of ``shape`` from ``initializer``
        (a name, xdl's ``f(be, shape, dtype)``, or the value), trained with the layer; with
        ``trainable=False`` it is state, saved but never trained (Keras's non-trainable
        weights). ``regularizer`` adds a penalty to the loss."""
        if constraint is not None:
            raise ArgumentError(f"{self.describe()}: add_weight(constraint=...) is not supported; clip the weight "
                                "in a callback instead")
        be = self.backend or get_backend()
        dtype_name = one_of(self.describe(), "add_weight dtype", dtype or self.dtype_name or floatx(),
                            ("float32", "float64", "int32", "int64"))
        name = name or f"variable_{len(self._parameters)}"
        if not isinstance(name, str) or name in self._parameters:
            raise ArgumentError(f"{self.describe()}: add_weight name must be a new str, got {short(name)} (names "
                                f"taken: {list(self._parameters)})")
        value = initial_value(be, "zeros" if initializer is None else initializer,
                              None if shape is None else tuple(shape), be.dtype(dtype_name),
                              f"{self.describe()}: add_weight {name!r}")
        trainable = boolean(self.describe(), "add_weight trainable", trainable)
        return self.add_parameter(name, value, trainable, regularizers.get(regularizer, self.describe()))

    def count_params(self) -> int:
        """Keras's: the number of scalars in the layer's weights (trainable or not)."""
        if not self.built:
            raise NotBuiltAttributeError(f"{self.describe()}: count_params needs the layer built (call it on data, "
                                         "or build it) first")
        return sum(math.prod(p.value.shape) for p in self.weights)

    @property
    def trainable_weights(self) -> list:
        """The weights that train (Keras's name): Variables, i.e. ``Parameter``s."""
        return [p for p in self.parameters() if p.trainable]

    @property
    def non_trainable_weights(self) -> list:
        return [p for p in self.parameters() if not p.trainable]

    @property
    def weights(self) -> list:
        """Every weight, trainable first (Keras's order). The tutorial's layers (Dense, the
        convolutions) keep the tutorial's ``weights``: the kernel array."""
        return self.trainable_weights + self.non_trainable_weights

    variables = weights
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def add_loss(self, loss) -> None:
        """Add ``loss`` (a number computed in ``call`` with xdl.ops) to what training minimizes."""
        self._call_losses = [*getattr(self, "_call_losses", []), loss]

    @property
    def losses(self) -> list:
        """The values ``add_loss`` received in the latest call, this layer's and its layers'."""
        return [tape.unwrap(v) for v in traced.collected_losses(self)]

    def zero_grad(self) -> None:
        """Clear every parameter's gradient (None counts as zeros)."""
        for p in self.parameters():
            p.grad = None

    def describe(self) -> str:
        return f"{self.name} ({type(self).__name__})"

    # -- public entry points --------------------------------------------------------------
    def __call__(self, x, *args, **kwargs):
        """On symbolic tensors (``xdl.Input``...): a new node of a graph; on data: ``forward``."""
        if self.keras_style and not self.built:  # a user's layer takes a list where it is given one
            self.multiple_inputs = isinstance(x, (list, tuple))
        if symbolic.is_symbolic(x):
            if symbolic.tracer.get() is not None:  # an export traces inference: a sublayer's training= is moot
                kwargs.pop("training", None)
            flags = {k: v for k, v in kwargs.items() if k in self.call_arguments or k in self.tensor_arguments}
            if args or len(flags) != len(kwargs):
                extra = {k: v for k, v in kwargs.items() if k not in flags}
                raise ArgumentTypeError(f"{self.describe()}: called on symbolic tensors with extra arguments "
                                        f"{args or ''}{extra or ''}; a graph node takes its inputs only"
                                        + (f" and {list(self.call_arguments)}" if self.call_arguments else ""))
            return symbolic.connect(self, x, flags)
        if kwargs.get("training") is True or tape.recording() or _traced(x):  # gradients are being recorded
            if args:
                raise ArgumentTypeError(f"{self.describe()}: pass the call's options by keyword, e.g. training=True")
            training = kwargs.pop("training", False) is True
            return traced.record(self, x, training, kwargs)
        return self.forward(x, *args, **kwargs)

    def input_dtype(self, be):
        """The dtype inputs are cast to on ``be`` (None: keep theirs, e.g. integer indices)."""
        if self.input_kind != "float":
            return STRING if self.input_kind == STRING else None
        return self.dtype or be.dtype(self.dtype_name or floatx())

    def accept(self, x):
        """Move ``x`` onto this layer's backend and dtype, building the layer on first use."""
        be = self.backend or get_backend()
        if self.multiple_inputs:
            if not isinstance(x, (list, tuple)) or len(x) < 2:
                raise ArgumentTypeError(f"{self.describe()}: expects a list of at least two inputs, got "
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
        dtype = self.input_dtype(be)
        if self.keras_style and dtype is not None:  # Keras casts floating inputs only: ids stay integers
            x = convert(be, x, None, self.describe())
            dtype = None if be.xp.isdtype(x.dtype, ("integral", "bool")) else dtype
        x = convert(be, x, dtype, self.describe())
        if x.ndim < 1:
            raise ShapeError(f"{self.describe()}: expected an array with a batch axis, got a scalar")
        return x


_BUILTIN_CALLS = {Layer.call}


def _first_node(layer, what):
    """The layer's first graph node, or an error (an ``AttributeError`` too, as Keras's) saying
    it has none."""
    nodes = layer.__dict__.get("_inbound_nodes")
    if not nodes:
        raise NotBuiltAttributeError(f"{layer.describe()}: has not been called on symbolic tensors, so it has no "
                                     f"{what}; call it on xdl.Input(...) or another layer's output (a Sequential "
                                     "connects its layers when built: give it an xdl.Input or call model.build)")
    return nodes[0]


def attribute_layers(owner) -> list:
    """``(path, layer)`` for each layer ``owner``'s attributes hold, alone or in a list, tuple
    or dict ("encoder", "blocks/0"), in the order they were set; each once."""
    found, seen = [], set()
    for attr, value in vars(owner).items():
        if attr in owner.untracked:
            continue
        if isinstance(value, dict):
            items = [(f"{attr}/{k}", v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            items = [(f"{attr}/{k}", v) for k, v in enumerate(value)]
        else:
            items = [(attr.lstrip("_"), value)]
        for path, item in items:
            if isinstance(item, Layer) and item is not owner and id(item) not in seen:
                seen.add(id(item))
                found.append((path, item))
    return found


def with_batch_axis(shapes, several):
    """Per-sample shapes (a list of them with ``several``) as Keras gives them: the batch axis, None, first."""
    return [(None, *s) for s in shapes] if several else (None, *shapes)


def _traced(x) -> bool:
    if isinstance(x, (list, tuple)):
        return any(tape.node_of(part) is not None for part in x)
    return tape.node_of(x) is not None


def _keras_build(build):
    """A Keras-style ``build``: xdl binds the layer (backend, dtype) first, then the user's
    build gets Keras's shape, with the batch axis (None)."""
    def wrapped(self, input_shape):
        if self._keras_building:  # super().build() of a Keras-style parent class
            return build(self, input_shape)
        Layer.build(self, input_shape)
        self._keras_building = True
        try:
            build(self, with_batch_axis(input_shape, self.multiple_inputs))
        finally:
            self._keras_building = False
        self.built = True
        return None

    wrapped.__wrapped__ = build
    wrapped.__doc__ = build.__doc__
    return wrapped


def declared_input(kind, input_shape, input_dim, batch_size, batch_input_shape):
    """The batch-first input shape Keras's constructor keywords give a first layer, or None:
    ``input_shape=(4,)`` (one sample's), ``input_dim=4`` (that, for a vector), ``batch_size``,
    or ``batch_input_shape=(None, 4)``."""
    given = [k for k, v in (("input_shape", input_shape), ("input_dim", input_dim),
                            ("batch_input_shape", batch_input_shape)) if v is not None]
    if len(given) > 1:
        raise ArgumentError(f"{kind}: give one of {' and '.join(given)}, not both")
    batch_size = positive_int(kind, "batch_size", batch_size, optional=True)
    if input_dim is not None:
        input_shape = (positive_int(kind, "input_dim", input_dim),)
    if batch_input_shape is not None:
        shape = _dims(kind, "batch_input_shape", batch_input_shape)
        if not shape:
            raise ArgumentError(f"{kind}: batch_input_shape needs the batch axis first, e.g. (None, 4), got "
                                f"{batch_input_shape!r}")
        if batch_size is not None and shape[0] not in (None, batch_size):
            raise ArgumentError(f"{kind}: batch_size={batch_size} and batch_input_shape[0]={shape[0]} disagree")
        return shape
    if input_shape is None:
        if batch_size is not None:
            raise ArgumentError(f"{kind}: batch_size={batch_size} needs input_shape= (one sample's shape) with it")
        return None
    if isinstance(input_shape, int) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    return (batch_size,) + _dims(kind, "input_shape", input_shape)


def _dims(kind, key, shape):
    if not isinstance(shape, (tuple, list)) or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_SIZE) for d in shape):
        raise ArgumentError(f"{kind}: {key} must be a tuple of positive ints or None (a free size), got {short(shape)}")
    return tuple(shape)


def expect_last_axis(layer, input_shape, size, hint=""):
    """Shared check for layers that act on the last axis (Dense and friends)."""
    if len(input_shape) < 1 or input_shape[-1] != size:
        raise ShapeError(
            f"{layer.describe()}: expected input shape (N, ..., {size}), got {shape_str(input_shape)}"
            + (f"; {hint}" if hint else "")
        )


def constructor_keys(cls):
    """The keyword arguments ``cls(...)`` takes, following ``**kwargs`` into xdl's base
    classes' constructors; None (any name) where a class outside xdl takes ``**kwargs``."""
    keys = set()
    for base in cls.__mro__:
        init = base.__dict__.get("__init__")
        if init is None or base is object:
            continue
        params = inspect.signature(init).parameters.values()
        keys |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return keys
        if not base.__module__.startswith("xdl."):
            return None
    return keys


def check_config_keys(cls, config):
    """A config (a model file's, or ``get_config``'s) names only arguments ``cls`` takes, and
    every one it requires: else an ``ArgumentTypeError`` naming the class and the keys. Layers
    say what they take with ``config_keys``; other classes (losses, optimizers...) by their
    constructors."""
    keys = cls.config_keys() if hasattr(cls, "config_keys") else constructor_keys(cls)
    unknown = [] if keys is None else sorted(map(str, set(config) - keys))
    if unknown:
        raise ArgumentTypeError(f"{cls.__name__}: unknown config key{'s' if len(unknown) > 1 else ''} "
                                f"{short(unknown)}; it takes {sorted(keys)}")
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    missing = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               and p.name not in config]
    if missing:
        raise ArgumentTypeError(f"{cls.__name__}: its config lacks {missing}, which it requires")


def initializer(owner, key, value):
    """``initializers.get(value)``: the initializer argument ``key`` names, its error naming
    ``owner`` and ``key`` (as ``regularizers.get``'s ``where`` does)."""
    try:
        return initializers.get(value)
    except ArgumentError as e:
        raise ArgumentError(f"{owner}: {key}: {e}") from None


def regularizer(where, value):
    """``regularizers.get(value, where)``, a config (``{"class", "config"}``, as model files
    hold it) checked first: a class name that is not a string, keys its class does not take."""
    if isinstance(value, dict):
        cls, config = value.get("class"), value.get("config", {})
        if not isinstance(cls, str) or cls not in regularizers.CLASSES or not isinstance(config, dict) \
                or set(value) - {"class", "config"}:
            raise ArgumentError(f"{where}: a regularizer's config must be {{'class': one of "
                                f"{sorted(regularizers.CLASSES)}, 'config': {{...}}}}, got {short(value)}")
    try:
        if isinstance(value, dict):
            check_config_keys(regularizers.CLASSES[cls], config)
        return regularizers.get(value, where)
    except (ArgumentError, ArgumentTypeError) as e:  # the regularizer's own ("L2: l2 must be...")
        if str(e).startswith(where):
            raise
        raise type(e)(f"{where}: {e}") from None


def check_sized_axes(layer, input_shape, sized_axes):
    """Refuse a per-sample ``input_shape`` that leaves free (None) an axis the layer's weights
    are made for (``sized_axes``: (axis, the argument that fixes it or None) pairs), naming it."""
    shape = tuple(input_shape)
    for axis, argument in sized_axes:
        if -len(shape) <= axis < len(shape) and shape[axis] is None:
            what = "the last axis" if axis == -1 else f"axis {axis}"
            raise ShapeError(f"{layer.describe()}: {what} of its input must have a size (its weights are made for "
                             f"it), got per-sample shape {shape_str(shape)}; give the input that size"
                             + (f" or pass {argument}" if argument else ""))
