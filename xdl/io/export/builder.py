"""The ONNX graph under construction, and the registry of emitters that fill it.

An emitter writes one xdl layer as ONNX nodes: ``emitter(b, layer, call) -> [output names]``,
``b`` the ``Builder``, ``call`` a ``Call`` (the ONNX names of the node's inputs, their
per-sample shapes, the node's flags, their masks). Emitters are registered per exact class:
a subclass may compute something else, so it is refused until it has an emitter of its own.
Layers of one's own written Keras's way (``call`` with xdl.ops) are traced instead (trace.py).
Weights are read once per parameter, as NumPy arrays (``xdl.to_numpy``): this is the host
boundary, as io/weights.py's ``export_weights`` is.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from ...core.backend import to_numpy
from ...core.parameter import Parameter
from ...errors import ExportError

#: the ONNX opset the emitters write (LayerNormalization needs 17; reductions take their axes
#: as an input from 18 on, one form for all of them)
OPSET = 18
INT64_MAX = 2**63 - 1
INT64_MIN = -2**63

#: layer class -> emitter
EMITTERS = {}
#: the classes whose emitter reads ``Call.masks`` (padded steps): see graph.py
READS_MASKS = set()
#: the emitter of layers of one's own (a ``call`` with xdl.ops, a subclassed model's), which
#: traces the call (trace.py registers it)
TRACED = []


def traced(layer) -> bool:
    """Whether ``layer`` is written by tracing its ``call``: a layer of one's own (or a
    ``Lambda``) written Keras's way, or a subclassed model."""
    return type(layer) not in EMITTERS and (getattr(layer, "keras_style", False)
                                            or getattr(layer, "keras_call", False))


def emits(*classes, masks=False):
    """Decorator: the function writes layers of exactly these classes (``masks``: and reads the
    masks of their inputs)."""
    def register(fn):
        for cls in classes:
            EMITTERS[cls] = fn
            if masks:
                READS_MASKS.add(cls)
        return fn
    return register


@dataclass
class Call:
    """One application of a layer: ``inputs`` (ONNX names, in the layer's input order),
    ``shapes`` (their per-sample shapes, None where a size is free), ``kwargs`` (the node's
    flags, e.g. ``use_causal_mask``), ``states`` (ONNX names of ``initial_state`` tensors) and
    ``masks`` (per input, the ONNX name of its (N, T) boolean mask or None; empty where the
    layer reads none)."""

    inputs: list
    shapes: list
    kwargs: dict = field(default_factory=dict)
    states: list = field(default_factory=list)
    masks: list = field(default_factory=list)

    @property
    def mask(self):
        """The first input's mask, or None."""
        return self.masks[0] if self.masks else None

    @property
    def x(self):
        return self.inputs[0]

    @property
    def shape(self):
        return tuple(self.shapes[0])


def one(name, shape):
    """The ``Call`` of a single input."""
    return Call([name], [tuple(shape)])


class Builder:
    """ONNX nodes and initializers, names unique, floats in the model's ``dtype``.

    ``op(kind, inputs, **attributes)`` adds a node and returns its output name (a list of
    ``outputs`` names when it has several); ``weight(parameter)`` and ``const(array)`` add
    initializers; ``scope(name)`` prefixes the names made inside it (a layer's name), so that
    the graph reads like the model."""

    def __init__(self, onnx, dtype):
        self.helper, self.numpy_helper, self.dtype = onnx.helper, onnx.numpy_helper, np.dtype(dtype)
        self.nodes, self.initializers = [], []
        self._taken, self._weights, self._prefix, self._kept = set(), {}, [], []
        self.path = []  # the layers being written, outermost first (errors name them)

    # -- names -----------------------------------------------------------------------------
    def name(self, base):
        """A new tensor or node name: ``scope/base``, with a count where it is taken."""
        full = "/".join([*self._prefix, base])
        candidate, k = full, 1
        while candidate in self._taken:
            candidate, k = f"{full}_{k}", k + 1
        self._taken.add(candidate)
        return candidate

    def taken(self, name):
        return name in self._taken

    def reserve(self, name):
        """Claim ``name`` as it is (graph inputs and outputs): an error if it is taken."""
        if name in self._taken:
            raise ExportError(f"ONNX export: two graph inputs or outputs are named {name!r}")
        self._taken.add(name)
        return name

    @contextlib.contextmanager
    def scope(self, name):
        self._prefix.append(name)
        try:
            yield
        finally:
            self._prefix.pop()

    # -- nodes -----------------------------------------------------------------------------
    def op(self, kind, inputs, outputs=1, name=None, **attributes):
        """Add a ``kind`` node reading ``inputs`` ("" for an optional input left out)."""
        names = [name] if name is not None else [self.name(kind) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(kind, list(inputs), names, name=self.name(f"{kind}_node"),
                                                **attributes))
        return names[0] if outputs == 1 else names

    def const(self, value, base="const"):
        """An initializer holding ``value``: floats in the model's dtype, integers as int64,
        booleans as they are."""
        array = np.asarray(value)
        if array.dtype.kind == "f":
            array = array.astype(self.dtype)
        elif array.dtype.kind in "iu":
            array = array.astype(np.int64)
        name = self.name(base)
        self.initializers.append(self.numpy_helper.from_array(np.array(array, order="C"), name))  # 0-d stays 0-d
        return name

    def floats(self, values, base="const"):
        """Numbers (a Python int too) as floats of the model's dtype."""
        return self.const(np.asarray(values, dtype=np.float64), base)

    def ints(self, values, base="ints"):
        """An int64 vector (axes, shapes, pads) as an initializer."""
        return self.const(np.asarray(list(values), dtype=np.int64), base)

    def array(self, parameter):
        """A parameter's (or a backend array's) value as a NumPy array in the model's dtype."""
        value = getattr(parameter, "value", parameter)
        return np.asarray(to_numpy(value)).astype(self.dtype)

    def weight(self, parameter, base=None):
        """A parameter as an initializer, once however many times it is read (shared layers)."""
        key = id(parameter)
        if key not in self._weights:
            self._weights[key] = self.const(self.array(parameter), base or getattr(parameter, "name", "weight"))
        return self._weights[key]

    def constant(self, value, base="constant"):
        """An initializer of a weight or array an op reads in a traced ``call`` (a ``Parameter``,
        a value computed from weights): floats in the model's dtype, integers int64, booleans
        as they are; once per object (kept alive, so that its id stays its own)."""
        array = np.asarray(to_numpy(getattr(value, "value", value)))
        if isinstance(value, Parameter) and array.dtype.kind == "f":
            return self.weight(value)  # shared with the emitters that read it
        key = ("constant", id(value))
        if key not in self._weights:
            self._weights[key] = self.const(array, getattr(value, "name", None) or base)
            self._kept.append(value)
        return self._weights[key]

    def derived(self, parameter, base, make):
        """An initializer of ``make(array)``, the parameter's value rearranged (a kernel in
        ONNX's layout), made once per parameter and ``base`` (a layer used twice reads it twice)."""
        key = (id(parameter), base)
        if key not in self._weights:
            self._weights[key] = self.const(make(self.array(parameter)), base)
        return self._weights[key]

    # -- common patterns -------------------------------------------------------------------
    def transpose(self, x, perm):
        return self.op("Transpose", [x], perm=list(perm))

    def reshape(self, x, shape):
        """``shape`` with 0 copying the input's size there (the batch axis) and one -1."""
        return self.op("Reshape", [x, self.ints(shape, "shape")])

    def unsqueeze(self, x, axes):
        return self.op("Unsqueeze", [x, self.ints(axes, "axes")])

    def squeeze(self, x, axes):
        return self.op("Squeeze", [x, self.ints(axes, "axes")])

    def slice(self, x, starts, ends, axes, steps=None):
        inputs = [x, self.ints(starts, "starts"), self.ints(ends, "ends"), self.ints(axes, "axes")]
        if steps is not None:
            inputs.append(self.ints(steps, "steps"))
        return self.op("Slice", inputs)

    def reverse(self, x, axis):
        """``x`` read backwards along ``axis`` (any length: a slice with step -1)."""
        return self.slice(x, [-1], [INT64_MIN], [axis], [-1])

    def shape_of(self, x, start=0, end=None):
        """The sizes of ``x``'s axes ``start:end`` as an int64 vector (at run time)."""
        attributes = {"start": start} if end is None else {"start": start, "end": end}
        return self.op("Shape", [x], **attributes)

    def reduce(self, kind, x, axes, keepdims=False):
        return self.op(kind, [x, self.ints(axes, "axes")], keepdims=int(keepdims))

    def scalar(self, value, like):
        """A float constant cast to ``like``'s type (an op's number meets a tensor)."""
        return self.op("CastLike", [self.const(np.asarray(value, dtype=np.float64), "number"), like])

    # -- layers ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def inside(self, layer):
        """Names made inside are ``layer``'s; errors say the layer is where they happen."""
        self.path.append(layer)
        try:
            with self.scope(layer.name):
                yield
        finally:
            self.path.pop()

    def emit(self, layer, call):
        """Write ``layer`` applied as ``call`` says; returns its outputs' names."""
        with self.inside(layer):
            emitter = TRACED[0] if TRACED and traced(layer) else EMITTERS.get(type(layer), _refused)
            return list(emitter(self, layer, call))

    def refuse(self, layer, why):
        """The ``ExportError`` for ``layer``: its name and class, where it sits, and why."""
        where = " in ".join(f"{outer.describe()}" for outer in reversed(self.path) if outer is not layer)
        return ExportError(f"ONNX export: {layer.describe()}{f' in {where}' if where else ''} cannot be "
                           f"exported: {why}")


def _refused(b, layer, call):
    own = "" if type(layer).__module__.startswith("xdl.") else (
        "; a layer of your own exports when it defines call() with xdl.ops, not apply(), and does not subclass a "
        "built-in layer")
    raise b.refuse(layer, f"xdl has no ONNX form for {type(layer).__name__} layers (README: Exporting to ONNX "
                          f"lists those it has){own}")
