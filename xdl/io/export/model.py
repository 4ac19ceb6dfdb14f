"""A built model as an ONNX ``ModelProto``: typed inputs with a free batch axis, the graph
walked by graph.py, outputs named as the model names them, checked by ``onnx.checker``."""

from __future__ import annotations

from ... import __version__
from ...errors import ExportError
from . import attention, basic, conv, ops, recurrent  # noqa: F401 (each registers its emitters)
from .builder import OPSET, Builder, Call
from .graph import check_graph, walk
from .trace import trace

#: ONNX element types of the dtypes xdl inputs take
ELEMENT_TYPES = {"float32": 1, "int32": 6, "int64": 7, "float64": 11}  # TensorProto.FLOAT, INT32, INT64, DOUBLE


def input_dtypes(model):
    """Each input's dtype name: its ``Input(dtype=...)``, else int64 where every layer reading
    it takes indices (Embedding), else the model's float dtype (what ``predict`` casts to)."""
    be = model.backend
    return [t.dtype or ("int64" if model.input_dtype(be, k) is None else model.dtype_name)
            for k, t in enumerate(model.graph.inputs)]


def to_proto(onnx, model, shapes, opset=OPSET):
    """The ``ModelProto`` of built ``model``; ``shapes``: each input's per-sample shape (the
    model's, or narrower where ``input_signature`` fixed a free size)."""
    helper, graph = onnx.helper, model.graph
    b = Builder(onnx, model.dtype_name)
    check_graph(b, model)
    inputs = []
    for t, shape, dtype in zip(graph.inputs, shapes, input_dtypes(model)):
        dims = ["batch"] + [f"{t.name}_{k + 1}" if d is None else d for k, d in enumerate(shape)]
        inputs.append(helper.make_tensor_value_info(b.reserve(t.name), ELEMENT_TYPES[dtype], dims))
    b.path.append(model)
    with b.scope(model.name):
        if model.keras_call:  # a subclassed model: its graph is one step, its own call, traced
            call = Call([t.name for t in graph.inputs], [t.sample_shape for t in graph.inputs])
            results = [(name, None) for name in trace(b, model, call)]
            if len(results) != len(graph.outputs):
                raise b.refuse(model, f"its call() gave {len(results)} outputs on symbolic tensors, "
                                      f"{len(graph.outputs)} on data")
        else:
            results = walk(b, graph, [t.name for t in graph.inputs])
    names = [b.reserve(f"{name}_output" if b.taken(name) else name) for name in model.output_names]
    for name, (value, _) in zip(names, results):  # the masks stay inside
        b.op("Identity", [value], name=name)
    types = _element_types(onnx, b, inputs, opset)
    outputs = [helper.make_tensor_value_info(name, types.get(name, ELEMENT_TYPES[model.dtype_name]),
                                             ["batch"] + [f"{name}_{k + 1}" if d is None else d
                                                          for k, d in enumerate(t.sample_shape)])
               for name, t in zip(names, graph.outputs)]
    proto = helper.make_model(
        helper.make_graph(b.nodes, model.name, inputs, outputs, b.initializers,
                          doc_string=f"xdl model {model.name!r} ({type(model).__name__})"),
        opset_imports=[helper.make_opsetid("", opset)], producer_name="xdl", producer_version=__version__)
    proto.ir_version = min(proto.ir_version, _IR_FOR_OPSET.get(opset, proto.ir_version))
    if proto.ByteSize() >= 2**31:  # protobuf's limit for one message
        raise ExportError(f"ONNX export: {model.describe()} holds {proto.ByteSize():,} bytes, more than one ONNX "
                          "file (protobuf) can: 2 GB; xdl does not write ONNX's external data files")
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"ONNX export: {model.describe()}: the ONNX checker refuses the graph written for it "
                          f"({str(e).strip()[:600]})") from None
    return proto


#: the IR version ONNX paired with each opset: runtimes refuse a file newer than they know
_IR_FOR_OPSET = {18: 8, 19: 9, 20: 9, 21: 10}


def _element_types(onnx, b, inputs, opset):
    """ONNX's shape inference over the nodes: each tensor's element type (an op such as
    ``argmax`` gives integers, a comparison booleans: the outputs are typed as they come)."""
    helper = onnx.helper
    trial = helper.make_model(helper.make_graph(b.nodes, "types", inputs, [], b.initializers),
                              opset_imports=[helper.make_opsetid("", opset)])
    inferred = onnx.shape_inference.infer_shapes(trial).graph.value_info
    return {v.name: v.type.tensor_type.elem_type for v in inferred if v.type.tensor_type.elem_type}
