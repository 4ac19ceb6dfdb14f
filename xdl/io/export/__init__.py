"""``model.export(path, format="onnx")``: a model as an ONNX file that onnxruntime (or any
runtime of opset 18 or newer) runs, its batch axis free.

One emitter per layer class writes its ONNX nodes (builder.py holds the registry; the
families in basic.py, conv.py, recurrent.py, attention.py and ops.py); graph.py walks the
model as prediction does; trace.py writes layers of one's own (and subclassed models) by
tracing their ``call`` on symbolic tensors; model.py makes the typed, checked ``ModelProto``. The ``onnx``
package is imported here, at the first export, never with xdl (``pip install xdl[onnx]``).
"""

from __future__ import annotations

from ...core.checks import boolean, file_path, int_at_least, short
from ...errors import ArgumentError, ArgumentTypeError, DependencyError, NotBuiltError, ShapeError
from ..files import atomic_write

FORMATS = ("onnx",)  # Keras's others ("tf_saved_model", "openvino", "litert") need TensorFlow's stack
#: the opsets a file may declare (its ops are written for OPSET and kept through these)
OPSETS = (18, 21)


def export(model, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
    """Write ``model`` to ``filepath`` in ``format`` (Keras 3's ``Model.export``); xdl writes
    "onnx" only. ``input_signature``: per input, a batch-first shape (or anything with a
    ``.shape``, e.g. an ``xdl.Input``) that builds a Sequential not yet built, or fixes sizes
    the model leaves free; the batch axis stays free either way. ``opset_version`` (18 to 21,
    default 18) is the ONNX opset the file declares. ``verbose`` (default True) prints where
    the file went."""
    owner = f"{model.describe()}: export"
    path = file_path(owner, "filepath", filepath)
    if not isinstance(format, str):
        raise ArgumentTypeError(f"{owner}: format must be a str such as 'onnx', got {short(format)}")
    if format.lower() not in FORMATS:
        raise ArgumentError(f"{owner}: format {format!r} is not supported; xdl exports format='onnx' only "
                            f"(model.export(path, format='onnx'))")
    verbose = boolean(owner, "verbose", verbose, optional=True)
    opset = int_at_least(owner, "opset_version", kwargs.pop("opset_version", None), OPSETS[0], OPSETS[1],
                         optional=True) or OPSETS[0]
    if kwargs:
        raise ArgumentTypeError(f"{owner}: unknown arguments {sorted(kwargs)}; the ONNX export takes "
                                "verbose, input_signature and opset_version")
    onnx = _import_onnx(owner)
    shapes = _signature(owner, model, input_signature)
    from .model import to_proto  # with the emitters: only once onnx is known to be there
    proto = to_proto(onnx, model, shapes, opset)
    atomic_write(path, proto.SerializeToString())
    if verbose is not False:
        print(f"Saved {model.describe()} as ONNX (opset {opset}) to {path!r}: inputs "
              f"{[i.name for i in proto.graph.input]}, outputs {[o.name for o in proto.graph.output]}")


def _import_onnx(owner):
    try:
        import onnx
    except ImportError:
        raise DependencyError(f"{owner}: format='onnx' needs the onnx package: pip install xdl[onnx] (or pip install "
                              "onnx onnxruntime)") from None
    return onnx


def _signature(owner, model, signature):
    """Each input's per-sample shape: the model's, narrowed by ``signature``; a Sequential not
    yet built is built from it."""
    specs = None if signature is None else _specs(owner, signature)
    if model.graph is None:
        if specs is not None and len(specs) == 1 and not getattr(model, "keras_call", False) \
                and hasattr(model, "_build_sample"):
            model.build(specs[0])
        else:
            model._require_built("export")
    if model.graph is None:
        raise NotBuiltError(f"{owner}: the model is not built; call it on data (model.predict(x[:1])) or give "
                            "input_signature=[(None, ...)] first")
    declared = [t.sample_shape for t in model.graph.inputs]
    if specs is None:
        return declared
    if len(specs) != len(declared):
        raise ArgumentError(f"{owner}: input_signature gives {len(specs)} inputs, the model has {len(declared)}")
    shapes = []
    for k, (spec, shape) in enumerate(zip(specs, declared)):
        sample = spec[1:]
        if len(sample) != len(shape) or any(d is not None and s is not None and d != s
                                            for d, s in zip(shape, sample)):
            raise ShapeError(f"{owner}: input_signature[{k}] {spec} does not fit the model's input "
                             f"{(None, *shape)}")
        shapes.append(tuple(d if d is not None else s for d, s in zip(shape, sample)))
    return shapes


def _specs(owner, signature):
    """``signature`` as a list of batch-first shapes (tuples of ints and None)."""
    if _is_shape(signature) or (hasattr(signature, "shape") and not isinstance(signature, (list, tuple))):
        signature = [signature]
    if not isinstance(signature, (list, tuple)) or not signature:
        raise ArgumentTypeError(f"{owner}: input_signature must be a shape such as (None, 4), an xdl.Input, or a "
                                f"list of them (one per input), got {short(signature)}")
    specs = []
    for spec in signature:
        shape = getattr(spec, "shape", spec)
        if not _is_shape(shape) or len(shape) < 2:
            raise ArgumentTypeError(f"{owner}: each input_signature entry must be a batch-first shape such as "
                                    f"(None, 4) (or have one as .shape), got {short(spec)}")
        specs.append(tuple(None if d is None else int(d) for d in shape))
    return specs


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        d is None or (type(d).__name__ in ("int", "int64", "int32") and not isinstance(d, bool) and int(d) >= 1)
        for d in value)
