"""Symbolic tensors: what ``xdl.Input`` returns and what calling a layer on one gives.

A symbolic tensor holds no data, only the per-sample shape (the batch axis left out; None
where a size is free, such as the length of a sequence) and the ``Node`` that made it: one
application of a layer to input tensors. ``xdl.Model(inputs, outputs)`` walks those nodes
back from its outputs. Shapes are checked here, as the graph is built, before any data.
"""

from __future__ import annotations

import contextvars
import re
import warnings
from collections import Counter

from ..errors import ArgumentError, ShapeError, XdlError, shape_str
from ..text.strings import STRING
from .checks import boolean, one_of, positive_int

_counts = Counter()
#: the dtypes ("int64"... or None: floats) of the tensors a layer is being connected to, for
#: layers that find their output shape by a trial run (layers/traced.py)
probe_dtypes = contextvars.ContextVar("probe_dtypes", default=None)
#: while the ONNX export traces a layer's ``call`` on symbolic tensors (xdl/io/export/trace.py):
#: the function that records each op instead of a graph node (weights may be among its arguments)
tracer = contextvars.ContextVar("tracer", default=None)


def valid_name(name) -> bool:
    """What layers, models and inputs may be called: names are parts of parameter paths."""
    return isinstance(name, str) and name != "" and "/" not in name


def reset_names() -> None:
    """Default names count from the start again (Keras's ``clear_session``)."""
    _counts.clear()


def unique_name(base: str) -> str:
    """``base``, then ``base_1``, ``base_2``...: default names of layers and inputs."""
    n = _counts[base]
    _counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


class SymbolicTensor:
    """A placeholder for a batch of arrays of per-sample shape ``sample_shape`` in a graph under
    construction. ``shape`` is Keras's, the batch axis first: ``Input((4,)).shape == (None, 4)``
    (the batch size where ``Input(batch_size=...)`` gave one)."""

    __slots__ = ("sample_shape", "node", "index", "name", "dtype", "masked", "batch_size")

    def __init__(self, shape, node, index, name, dtype=None, masked=False, batch_size=None):
        self.sample_shape, self.node, self.index, self.name, self.dtype = tuple(shape), node, index, name, dtype
        #: a mask (which steps count) comes with this tensor's values: see Layer.compute_mask
        self.masked = masked
        self.batch_size = batch_size

    @property
    def shape(self) -> tuple:
        return (self.batch_size, *self.sample_shape)

    @property
    def ndim(self) -> int:
        return len(self.sample_shape) + 1

    def __repr__(self):
        return f"<SymbolicTensor {self.name!r} shape={shape_str(self.sample_shape)}>"

    def __bool__(self):
        raise XdlError(f"{self!r} holds no data: it only describes a graph; build an xdl.Model from it "
                       "and call fit or predict")

    __float__ = __int__ = __bool__  # float(x), int(x): a value of the data, which a graph does not have

    def __array__(self, *args, **kwargs):
        raise XdlError(f"{self!r} is symbolic: it cannot become an array; build an xdl.Model(inputs, "
                       "outputs) and call predict")


class Node:
    """One application of ``layer`` (None for an ``Input``) to ``inputs``, giving ``outputs``.
    ``listed``: the layer was called on a list (merge layers). ``kwargs``: the call's keyword
    flags (names in the layer's ``call_arguments``, JSON values), passed to its ``apply`` and
    ``output_shape`` at every run and saved with the graph."""

    __slots__ = ("layer", "inputs", "outputs", "listed", "several", "kwargs", "tensor_kwargs")

    def __init__(self, layer, inputs, listed, several=False, kwargs=None, tensor_kwargs=()):
        self.layer, self.inputs, self.listed, self.several, self.outputs = layer, list(inputs), listed, several, []
        self.kwargs = dict(kwargs or {})
        #: keyword arguments that are tensors (an RNN's ``initial_state=[h, c]``): ``(name, count,
        #: given as a list)`` each, their tensors at the end of ``inputs`` in this order
        self.tensor_kwargs = tuple(tensor_kwargs)


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None,  # noqa: N802 (Keras's name)
          sparse=None):
    """A model input of per-sample ``shape``: e.g. ``Input(shape=(8, 8, 1))`` for 8x8 images,
    ``Input(shape=(None,), dtype="int64")`` for token sequences of any length.

    Keras's keywords: ``batch_shape`` is the shape with the batch axis first
    (``batch_shape=(None, 4)`` is ``shape=(4,)``); ``batch_size`` (or a size in
    ``batch_shape[0]``) is checked and otherwise free: xdl's graphs take any batch size.
    ``sparse=True`` is refused (xdl has no sparse tensors).

    ``dtype`` None: floats in the model's dtype, unless the layers it feeds take integer
    indices (``Embedding``); "int32"/"int64" keep integers; "float32"/"float64" cast to that;
    "string": text, kept on the host for the layers that read strings (``TextVectorization``,
    ``StringLookup``, ``Hashing``), with ``shape=(1,)`` or ``shape=()`` for one string a sample.
    """
    if boolean("Input", "sparse", sparse, optional=True):
        raise ArgumentError("Input: sparse=True is not supported (xdl has no sparse tensors); feed dense arrays")
    batch_size = positive_int("Input", "batch_size", batch_size, optional=True)
    if batch_shape is not None:
        if shape is not None:
            raise ArgumentError(f"Input: give shape={shape!r} or batch_shape={batch_shape!r}, not both")
        if not isinstance(batch_shape, (tuple, list)) or len(batch_shape) < 1:
            raise ArgumentError(f"Input: batch_shape must be a tuple (batch size or None, *shape), got {batch_shape!r}")
        first = batch_shape[0]
        if first is not None and (isinstance(first, bool) or not isinstance(first, int) or first < 1):
            raise ArgumentError(f"Input: batch_shape[0] (the batch size) must be a positive int or None, got {first!r}")
        if batch_size is not None and first is not None and first != batch_size:
            raise ArgumentError(f"Input: batch_size={batch_size} and batch_shape[0]={first} disagree")
        shape = tuple(batch_shape[1:])
    if shape is None:
        raise ArgumentError("Input: pass shape= (one sample's shape, e.g. shape=(4,)) or batch_shape= "
                            "(with the batch axis first, e.g. batch_shape=(None, 4))")
    dims = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 1) for d in dims):
        raise ArgumentError(f"Input: shape must hold positive ints or None (a free size), got {shape!r}")
    one_of("Input", "dtype", dtype, (None, "float32", "float64", "int32", "int64", "string"))
    if name is not None and not valid_name(name):
        raise ArgumentError(f"Input: name must be a non-empty string without '/', got {name!r}")
    node = Node(None, [], False)
    tensor = SymbolicTensor(dims, node, 0, name or unique_name("input"), dtype,
                            batch_size=batch_size if batch_shape is None else batch_shape[0])
    node.outputs.append(tensor)
    return tensor


def is_symbolic(x) -> bool:
    """Whether ``x`` is a symbolic tensor, or a list holding one."""
    if isinstance(x, SymbolicTensor):
        return True
    return isinstance(x, (list, tuple)) and any(isinstance(t, SymbolicTensor) for t in x)


def record_op(op, args, kwargs):
    """``xdl.ops.<op>(*args, **kwargs)`` with a symbolic tensor among the arguments: a graph
    node. layers/operation.py installs the function (core does not import layers)."""
    raise XdlError(f"ops.{op} on a symbolic tensor needs xdl.layers imported")


def symbolic_in(values) -> bool:
    """Whether a symbolic tensor is among ``values`` (or inside a list or tuple of them)."""
    for v in values:
        if type(v) is SymbolicTensor or (type(v) in (list, tuple) and any(type(t) is SymbolicTensor for t in v)):
            return True
    return False


def connect(layer, inputs, kwargs=None):
    """``layer(inputs, **kwargs)`` on symbolic tensors: build or check the layer for their
    shapes and return its symbolic output (a list of them for a layer with several outputs).
    ``kwargs`` may name only the layer's ``call_arguments``."""
    kwargs = dict(kwargs or {})
    tensor_kwargs, extra = [], []
    for name in list(kwargs):
        value = kwargs[name]
        if name in getattr(layer, "tensor_arguments", ()) and symbolic_in([value]):
            parts = list(value) if isinstance(value, (list, tuple)) else [value]
            if not all(type(t) is SymbolicTensor for t in parts):
                raise XdlError(f"{layer.describe()}: {name} mixes symbolic tensors with data; give tensors from "
                               "xdl.Input or other layers")
            layer.check_tensor_argument(name, [t.sample_shape for t in parts])
            tensor_kwargs.append((name, len(parts), isinstance(value, (list, tuple))))
            extra += parts
            del kwargs[name]
    unknown = sorted(set(kwargs) - set(getattr(layer, "call_arguments", ())))
    if unknown:
        raise XdlError(f"{layer.describe()}: called on symbolic tensors with arguments {unknown} it does not take "
                       f"in a graph (it takes {list(getattr(layer, 'call_arguments', ())) or 'its inputs only'})")
    listed = isinstance(inputs, (list, tuple))
    tensors = list(inputs) if listed else [inputs]
    mixed = [type(t).__name__ for t in tensors if not isinstance(t, SymbolicTensor)]
    if mixed:
        raise XdlError(f"{layer.describe()}: called on symbolic tensors mixed with data ({', '.join(mixed)}); "
                       "in a graph every input must come from xdl.Input or another layer; feed data to "
                       "the Model's fit or predict")
    if tensor_kwargs and listed:
        raise XdlError(f"{layer.describe()}: keyword tensors go with one input tensor, not a list")
    if listed != layer.multiple_inputs:
        if layer.multiple_inputs:
            raise XdlError(f"{layer.describe()}: takes a list of tensors, e.g. {type(layer).__name__}()([a, b])")
        if len(tensors) != 1:
            raise XdlError(f"{layer.describe()}: takes one tensor, got a list of {len(tensors)}; "
                           "merge them first, e.g. xdl.Concatenate()([a, b])")
        listed = False
    if any(t.dtype == STRING for t in tensors) and getattr(layer, "input_kind", None) != STRING:
        raise XdlError(f"{layer.describe()}: takes numbers, and is called on a string input; strings go to "
                       "TextVectorization, StringLookup or Hashing first")
    shapes = [t.sample_shape for t in tensors] if listed else tensors[0].sample_shape
    if not layer.built:
        with _building(layer):
            # a Sequential's own build reads Keras's batch-first shapes; shapes here are per sample
            getattr(layer, "_build_sample", layer.build)(shapes)
    else:
        layer.check_input_shape(shapes)
    token = probe_dtypes.set([t.dtype for t in tensors])
    try:
        out = layer.output_shape(shapes, **kwargs)
    finally:
        probe_dtypes.reset(token)
    several = isinstance(out, list)
    node = Node(layer, tensors + extra, listed, several, kwargs, tensor_kwargs)
    masked = _output_masked(layer, tensors, listed, len(out) if several else 1)
    for k, shape in enumerate(out if several else [out]):
        name = f"{layer.name}_{k}" if several else layer.name
        node.outputs.append(SymbolicTensor(shape, node, k, name, masked=masked[k]))
    # the layer's graph nodes, in order: layer.input / layer.output read the first (Keras's)
    layer.__dict__.setdefault("_inbound_nodes", []).append(node)
    return list(node.outputs) if several else node.outputs[0]


def _output_masked(layer, tensors, listed, count):
    """Which of the ``count`` outputs carry a mask. A mask reaching a layer that does not
    support masking stops there, as in Keras 3, with a warning: later steps would all count."""
    flags = [t.masked for t in tensors]
    if any(flags) and not layer.supports_masking:
        warnings.warn(f"{layer.describe()}: its input carries a mask (from Embedding(mask_zero=True) or "
                      "Masking), which this layer does not support: the mask stops here, and later layers, "
                      "the loss and the metrics count every step", UserWarning, stacklevel=4)
        flags = [False] * len(flags)
    out = layer.output_masked(flags if listed else flags[0])
    out = [bool(m) for m in out] if isinstance(out, (list, tuple)) else [bool(out)]
    return out + [False] * (count - len(out))  # a single flag marks the first output only


class _building:
    """Name the layer in errors raised while it builds on symbolic shapes."""

    def __init__(self, layer):
        self.layer = layer

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is TypeError and value is not None and "NoneType" in str(value):
            raise ShapeError(f"{self.layer.describe()}: needs sizes that the graph leaves free (None) "
                             f"here: {value}") from None
        return False


def snake_case(name: str) -> str:
    """Keras's default names from class names: "MyLoss" -> "my_loss", "MAE" -> "mae"."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


class Named:
    """A ``name`` that defaults to the class name in snake case (Keras's losses and metrics)."""

    @property
    def name(self) -> str:
        return self.__dict__.get("_name") or snake_case(type(self).__name__)

    @name.setter
    def name(self, value):
        self.__dict__["_name"] = value
