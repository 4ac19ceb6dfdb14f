"""A model's graph as ONNX: its nodes walked in the order prediction runs them, each layer by
its emitter (builder.py), a model inside a model by the same walk.

The walk reads ``graph.nodes`` (the graph as declared), not ``graph.steps``: the steps'
rewrites (models/fusion.py) give the same values, and ONNX runtimes fuse on their own.
Masks (padded steps: ``Embedding(mask_zero=True)``, ``Masking``) travel beside the values as
(N, T) booleans, made and combined as the layers' ``compute_mask`` makes them, and reach the
layers that read them (recurrent layers, ``GlobalAveragePooling1D``) as ``Call.masks``.
"""

from __future__ import annotations

from ...layers import GRU, LSTM, Embedding, Masking, SimpleRNN
from ...layers.base import Layer
from ...layers.operation import Operation
from .basic import masking_keep
from .builder import READS_MASKS, Call


def walk(b, graph, names):
    """Write ``graph``'s nodes for inputs already named ``names``; returns ``[(name, mask
    name or None)]`` for its outputs."""
    values = {id(t): (name, None) for t, name in zip(graph.inputs, names)}
    for node in graph.nodes:
        layer = node.layer
        read = [values[id(t)] for t in node.inputs]
        count = len(read) - sum(n for _, n, _ in node.tensor_kwargs)  # keyword tensors come last
        masks = [m for _, m in read[:count]]
        reads = layer.supports_masking and any(t.masked for t in node.inputs)  # as Graph decides
        call = Call([n for n, _ in read[:count]], [t.sample_shape for t in node.inputs[:count]], dict(node.kwargs),
                    [n for n, _ in read[count:]], masks if reads else [])
        # a model inside the model (io stands below models: no import); a subclassed one is traced
        if hasattr(layer, "keras_call") and not layer.keras_call:
            with b.inside(layer):
                check_graph(b, layer)
                outputs, made = zip(*walk(b, layer.graph, call.inputs))  # masks from outside stay outside
        else:
            if reads and type(layer).apply_masked is not Layer.apply_masked and type(layer) not in READS_MASKS:
                raise b.refuse(layer, "a mask (from Embedding(mask_zero=True) or Masking) reaches it, and xdl "
                                      "has no ONNX form of its masked computation")
            outputs = b.emit(layer, call)
            made = [None] * len(outputs)
            if any(t.masked for t in node.outputs):
                with b.inside(layer):
                    made = [output_mask(b, layer, call, masks)] * len(outputs)
        if len(outputs) != len(node.outputs):  # an emitter's slip, not the user's
            raise b.refuse(layer, f"its ONNX form gave {len(outputs)} outputs for {len(node.outputs)}")
        for t, name, mask in zip(node.outputs, outputs, made):
            values[id(t)] = (name, mask if t.masked else None)
    return [values[id(t)] for t in graph.outputs]


def check_graph(b, model):
    """Refuse a model that is not built: it has no graph to walk."""
    if model.graph is None:
        raise b.refuse(model, "it is not built; call it on data (model.predict(x[:1])) first")


def output_mask(b, layer, call, masks):
    """The mask of ``layer``'s output, as its ``compute_mask`` makes it from its inputs' masks:
    Embedding's ids that are not 0, Masking's steps that differ from its value, a recurrent
    layer's that reads backwards reversed as its outputs are, the steps every input of a merge
    counts, an op's first input mask, else the input's mask passed on."""
    if type(layer) is Embedding:
        return b.op("Not", [b.op("Equal", [call.x, b.op("CastLike", [b.const(0, "zero"), call.x])])])
    present = [m for m in masks if m is not None]
    if type(layer) is Masking:
        keep = masking_keep(b, layer, call.x)
        return keep if not present else b.op("And", [keep, present[0]])
    if type(layer) in (SimpleRNN, LSTM, GRU) and layer.go_backwards:  # its outputs come last step first
        return b.reverse(present[0], 1)
    if type(layer) is Operation or len(present) == 1:
        return present[0]
    mask = present[0]
    for other in present[1:]:
        mask = b.op("And", [mask, other])
    return mask
