"""Layers of one's own as ONNX: a layer written Keras's way (``build`` with ``add_weight``,
``call`` with ``xdl.ops`` and the layers it holds), a ``Lambda``, a subclassed model.

Its ``call`` runs once on symbolic tensors (``xdl.Input``s of the per-sample shapes it is
applied to), as a functional model's code runs: each ``xdl.ops`` call records an ``Operation``
node, each layer it calls a node of that layer; the nodes are then written as a graph's are
(graph.py): ops by ops.py's table, built-in layers by their emitters, layers of one's own
inside it by this trace again. The layer's weights among an op's arguments (and arrays
computed from weights alone, which the trace computes) are initializers: a
``WeightedOperation`` keeps them in their places. What the trace cannot see is refused,
naming the layer: an op without an ONNX form (by name), a value of the data read in Python
(``if``, ``bool()``, ``float()`` of a tensor: control flow that depends on the data), a size
read from ``x.shape`` that the graph leaves free (the batch size) where an op takes a shape.
The trace leaves nothing behind: default names, the layers' graph nodes and their
``add_loss`` values are as they were.
"""

from __future__ import annotations

from types import SimpleNamespace

from ...core import ops as xops
from ...core import symbolic, tape
from ...core.parameter import Parameter
from ...core.symbolic import Input, SymbolicTensor, connect, unique_name
from ...core.tape import Tensor
from ...errors import ExportError
from ...layers import traced
from ...layers.operation import Operation, decode, encode
from .builder import TRACED, emits
from .graph import walk
from .ops import Value, op_nodes

#: ops that take a tensor and a shape: a None in the shape is a size the graph leaves free
#: (``x.shape[0]``, the batch size)
SHAPED = frozenset({"reshape", "broadcast_to"})


class WeightedOperation(Operation):
    """An op of a traced call that reads arrays beside the graph's tensors: ``slots`` holds, for
    each tensor place of its arguments, the array (a weight, a value computed from weights)
    or None where a graph tensor goes (the node's inputs, in order). Made and dropped within
    one export: never saved."""

    def __init__(self, op, arguments, keywords, slots, name):
        super().__init__(op, arguments, keywords, len(slots), name=name)
        self.slots = list(slots)
        self.multiple_inputs = sum(s is None for s in self.slots) > 1

    def call(self, inputs):
        given = iter(list(inputs) if self.multiple_inputs else [inputs])
        parts = [next(given) if s is None else s for s in self.slots]
        args = decode(self.arguments, parts, self.describe())
        keywords = {k: decode(v, parts, self.describe()) for k, v in self.keywords.items()}
        return getattr(xops, self.op)(*args, **keywords)

    def describe(self):
        return f"{self.name} (Operation)"


@emits(WeightedOperation)
def weighted_operation(b, layer, call):
    given = iter([Value(name, len(shape) + 1) for name, shape in zip(call.inputs, call.shapes)])
    return op_nodes(b, layer, [next(given) if s is None else Value(b.constant(s), len(tuple(s.shape)))
                               for s in layer.slots])


def is_array(value) -> bool:
    """A weight, or an array (a value computed from weights): not a graph's tensor, not a number."""
    if isinstance(value, (Parameter, Tensor)):
        return True
    if value is None or isinstance(value, (SymbolicTensor, bool, int, float, complex, str, slice, list, tuple, dict)):
        return False
    if type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
        return False  # a NumPy number: the op keeps it as a number
    return hasattr(value, "shape") and hasattr(value, "dtype")


class Recorder:
    """What ``xdl.ops`` calls on symbolic tensors record while ``layer``'s call is traced: an
    ``Operation`` node, a ``WeightedOperation`` where arrays are among the arguments."""

    def __init__(self, b, layer):
        self.b, self.layer = b, layer

    def __call__(self, op, args, kwargs):
        arrays = {}  # id(stand-in) -> (stand-in, array): a symbolic tensor holds each array's place

        def place(value):
            if isinstance(value, (list, tuple)):
                return (list if isinstance(value, list) else tuple)(place(v) for v in value)
            if is_array(value):
                stand_in = SymbolicTensor((), None, 0, "array")
                arrays[id(stand_in)] = (stand_in, value)
                return stand_in
            return value

        args, kwargs = [place(a) for a in args], {k: place(v) for k, v in kwargs.items()}
        if op in SHAPED and any(isinstance(a, (list, tuple)) and None in a for a in [*args, *kwargs.values()]):
            raise self.b.refuse(self.layer, f"its call() gives ops.{op} a shape holding None, a size the graph "
                                            "leaves free (x.shape[0], the batch size, is None); write -1 for the "
                                            "batch axis, e.g. ops.reshape(x, (-1, 4))")
        tensors = []
        arguments = [encode(a, tensors) for a in args]
        keywords = {k: encode(v, tensors) for k, v in kwargs.items()}
        if arrays:
            node = WeightedOperation(op, arguments, keywords,
                                     [arrays[id(t)][1] if id(t) in arrays else None for t in tensors], unique_name(op))
        else:
            node = Operation(op, arguments, keywords, len(tensors), name=unique_name(op))
        inputs = [t for t in tensors if id(t) not in arrays]
        return connect(node, inputs if len(inputs) > 1 else inputs[0])


def trace(b, layer, call):
    """The ONNX names of ``layer``'s outputs, its ``call`` traced for inputs named ``call.inputs``."""
    if call.states:
        raise b.refuse(layer, "it takes tensors by keyword (initial_state); xdl traces a call on its inputs only")
    if any(m is not None for m in call.masks):
        raise b.refuse(layer, "a mask (from Embedding(mask_zero=True) or Masking) reaches it; xdl does not trace the "
                              "masked call of a layer of one's own")
    several = getattr(layer, "multiple_inputs", False) or len(call.inputs) > 1
    inputs = [Input(tuple(shape), name=f"{layer.name}_input_{k}") for k, shape in enumerate(call.shapes)]
    saved = _state(layer)
    token = symbolic.tracer.set(Recorder(b, layer))
    try:
        with tape.paused():
            y = traced.run_call(layer, inputs if several else inputs[0], False, dict(call.kwargs))
    except ExportError:
        raise
    except Exception as e:  # the user's code, run on symbolic tensors: anything it raises is why
        raise b.refuse(layer, _why(e)) from e
    finally:
        symbolic.tracer.reset(token)
        _restore(saved)
    outputs = list(y) if isinstance(y, (list, tuple)) else [y]
    strays = [type(o).__name__ for o in outputs if type(o) is not SymbolicTensor]
    if strays:
        raise b.refuse(layer, f"its call() returns {', '.join(strays)}, not values computed from its inputs; return "
                              "what xdl.ops and layers make of them")
    graph = SimpleNamespace(inputs=inputs, nodes=_nodes(b, layer, inputs, outputs), outputs=outputs)
    for node in graph.nodes:  # masks stay out: the call on data carries none between the layers inside
        for t in node.outputs:
            t.masked = False
    return [name for name, _ in walk(b, graph, list(call.inputs))]


TRACED.append(trace)


def _nodes(b, layer, inputs, outputs):
    """The nodes between ``inputs`` and ``outputs``, each after those it reads."""
    own = {id(t) for t in inputs}
    order, seen = [], set()
    stack = [(t.node, False) for t in reversed(outputs) if id(t) not in own]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.layer is None:
            raise b.refuse(layer, f"its call() reads {node.outputs[0].name!r}, a symbolic tensor that is not among "
                                  "its inputs (an xdl.Input made or kept by the layer)")
        stack.append((node, True))
        stack += [(t.node, False) for t in reversed(node.inputs) if id(t) not in own and id(t.node) not in seen]
    return order


def _why(e):
    """Why a call could not be traced: a value of the data read in Python, or what was raised."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None and tb.tb_frame.f_code in (SymbolicTensor.__bool__.__code__, SymbolicTensor.__array__.__code__):
        return ("its call() reads a value of the data in Python (an if or a loop on a tensor, bool(), float() or "
                "int() of one, an array made of one): what depends on the data's values as the model runs cannot "
                "be written as an ONNX graph; compute it with xdl.ops (ops.where to choose between branches)")
    return f"its call() could not be traced on symbolic tensors ({type(e).__name__}: {str(e)[:400]})"


def _state(layer):
    """What tracing ``layer``'s call changes: default-name counts, the graph nodes of the layers
    it holds, what ``add_loss`` collected."""
    layers, stack = {}, [layer]
    while stack:
        current = stack.pop()
        if id(current) not in layers:
            layers[id(current)] = current
            stack += current._sublayers()
    return (dict(symbolic._counts),
            [(t, len(t.__dict__.get("_inbound_nodes", ())), t.__dict__.get("_call_losses", _ABSENT))
             for t in layers.values()])


_ABSENT = object()


def _restore(saved):
    counts, layers = saved
    symbolic._counts.clear()
    symbolic._counts.update(counts)
    for t, nodes, losses in layers:
        if "_inbound_nodes" in t.__dict__:
            del t.__dict__["_inbound_nodes"][nodes:]
            if not nodes:
                del t.__dict__["_inbound_nodes"]
        if losses is _ABSENT:
            t.__dict__.pop("_call_losses", None)
        else:
            t._call_losses = losses
