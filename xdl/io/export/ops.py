"""The emitter of ``Operation`` nodes: ``x + y``, ``x[:, 0]``, ``xdl.ops.mean(x, axis=1)`` on
symbolic tensors. Each op of ``OPS`` writes its ONNX nodes from the op's own arguments (the
tensors' ONNX names in their places, constants as the node saved them); arrays are
batch-first, as the op sees them in ``predict``. An op missing here is refused by name."""

from __future__ import annotations

import math

from ...layers.operation import Operation, decode
from .basic import gelu_of
from .builder import INT64_MAX, INT64_MIN, emits

#: dtype names an op may cast to, as ONNX element types
DTYPES = {"float32": 1, "float64": 11, "float16": 10, "int32": 6, "int64": 7, "int8": 3, "uint8": 2, "bool": 9}


class Value:
    """A tensor among an op's arguments: its ONNX name and its rank (a graph's tensors count
    their batch axis; a weight, in a layer's traced call, has none)."""

    def __init__(self, name, rank):
        self.name, self.rank = name, rank


@emits(Operation)
def operation(b, layer, call):
    return op_nodes(b, layer, [Value(name, len(shape) + 1) for name, shape in zip(call.inputs, call.shapes)])


def op_nodes(b, layer, values):
    """The ONNX nodes of Operation ``layer``, ``values`` (``Value``s) in its tensors' places."""
    handler = OPS.get(layer.op)
    if handler is None:
        raise b.refuse(layer, f"ops.{layer.op} has no ONNX form in xdl (xdl.io.export.ops.OPS lists the "
                              f"{len(OPS)} ops that have one)")
    args = decode(layer.arguments, values, layer.describe())
    kwargs = {k: decode(v, values, layer.describe()) for k, v in layer.keywords.items()}
    try:
        return [handler(_Ops(b, layer), *args, **kwargs)]
    except _Unsupported as e:
        raise b.refuse(layer, f"ops.{layer.op} {e}") from None
    except TypeError as e:  # an argument the ONNX form does not take (the op itself took it)
        raise b.refuse(layer, f"ops.{layer.op} with these arguments has no ONNX form in xdl ({e})") from None


class _Unsupported(Exception):
    """An argument this export does not write (said by the emitter, raised as an ExportError)."""


class _Ops:
    """The builder, with the conversions the ops share."""

    def __init__(self, b, layer):
        self.b, self.layer = b, layer

    def name(self, v, like=None):
        """A tensor's name; a number as a constant of ``like``'s type (or the model's floats)."""
        if isinstance(v, Value):
            return v.name
        if isinstance(v, bool):
            return self.b.const(v, "flag")
        if not isinstance(v, (int, float)):
            raise _Unsupported(f"takes tensors and numbers here, got {v!r:.60}")
        return self.b.scalar(v, like) if like is not None else self.b.floats(v, "number")

    def pair(self, a, c):
        """Two operands, a number cast to the other's type."""
        tensor = next((v for v in (a, c) if isinstance(v, Value)), None)
        like = None if tensor is None else tensor.name
        return self.name(a, like), self.name(c, like)

    def axes(self, axis, rank):
        if axis is None:
            return list(range(rank))
        return [a % rank for a in (axis if isinstance(axis, (tuple, list)) else (axis,))]


def _unary(kind, **attributes):
    return lambda o, x: o.b.op(kind, [o.name(x)], **attributes)


def _binary(kind, negate=False):
    def emit(o, a, c):
        y = o.b.op(kind, list(o.pair(a, c)))
        return o.b.op("Not", [y]) if negate else y
    return emit


def _reduce(kind):
    def emit(o, x, axis=None, keepdims=False):
        return o.b.reduce(kind, o.name(x), o.axes(axis, x.rank), keepdims)
    return emit


def _arg(kind):
    def emit(o, x, axis=None, keepdims=False):
        v = o.name(x)
        if axis is None:  # over the flattened array, as the array API's argmax
            if keepdims:
                raise _Unsupported("with axis=None and keepdims=True is not written")
            return o.b.op(kind, [o.b.reshape(v, [-1])], axis=0, keepdims=0)
        return o.b.op(kind, [v], axis=axis, keepdims=int(keepdims))
    return emit


def _logical_reduce(kind):
    def emit(o, x, axis=None, keepdims=False):
        as_int = o.b.op("Cast", [o.name(x)], to=DTYPES["int64"])
        return o.b.op("Cast", [o.b.reduce(kind, as_int, o.axes(axis, x.rank), keepdims)], to=DTYPES["bool"])
    return emit


def _scaled_log(base):
    return lambda o, x: o.b.op("Div", [o.b.op("Log", [o.name(x)]), o.b.scalar(math.log(base), o.name(x))])


def _plus_one(o, x):
    return o.b.op("Add", [o.name(x), o.b.scalar(1.0, o.name(x))])


def _clip(o, x, min=None, max=None):
    v = o.name(x)
    return o.b.op("Clip", [v, "" if min is None else o.name(min, v), "" if max is None else o.name(max, v)])


def _where(o, condition, x1, x2):
    return o.b.op("Where", [o.name(condition), *o.pair(x1, x2)])


def _astype(o, x, dtype):
    if dtype not in DTYPES:
        raise _Unsupported(f"casts to {', '.join(DTYPES)}, got {dtype!r}")
    return o.b.op("Cast", [o.name(x)], to=DTYPES[dtype])


def _var(o, x, axis=None, correction=0.0, keepdims=False):
    if correction != 0.0:
        raise _Unsupported(f"with correction={correction} is not written (0 is)")
    v, axes = o.name(x), o.axes(axis, x.rank)
    centred = o.b.op("Sub", [v, o.b.reduce("ReduceMean", v, axes, keepdims=True)])
    return o.b.reduce("ReduceMean", o.b.op("Mul", [centred, centred]), axes, keepdims)


def _norm(o, x, ord=None, axis=None, keepdims=False):
    v, axes = o.name(x), o.axes(axis, x.rank)
    if ord in (None, 2, "fro", "euclidean"):
        return o.b.reduce("ReduceL2", v, axes, keepdims)
    if ord == 1:
        return o.b.reduce("ReduceL1", v, axes, keepdims)
    if ord == float("inf"):
        return o.b.reduce("ReduceMax", o.b.op("Abs", [v]), axes, keepdims)
    raise _Unsupported(f"with ord={ord!r} is not written")


def _reshape(o, x, shape):
    shape = list(shape) if isinstance(shape, (tuple, list)) else [shape]
    if not all(isinstance(d, int) and (d >= 1 or d == -1) for d in shape):
        raise _Unsupported(f"takes a shape of positive sizes and one -1 here, got {shape} (None: a size read from "
                           "x.shape that the graph leaves free, such as the batch size)")
    if shape[0] != -1:
        raise _Unsupported(f"to {tuple(shape)} fixes the batch size at {shape[0]}; write -1 first (the batch axis "
                           "stays free)")
    return o.b.op("Reshape", [o.name(x), o.b.ints(shape, "shape")])


def _permute(o, x, axes):
    return o.b.transpose(o.name(x), [a % x.rank for a in axes])


def _transpose(o, x, axes=None):
    return _permute(o, x, list(range(x.rank))[::-1] if axes is None else axes)


def _matrix_transpose(o, x):
    perm = list(range(x.rank))
    perm[-2:] = perm[-1], perm[-2]
    return o.b.transpose(o.name(x), perm)


def _moveaxis(o, x, source, destination):
    source, destination = o.axes(source, x.rank), o.axes(destination, x.rank)
    order = [i for i in range(x.rank) if i not in source]
    for d, s in sorted(zip(destination, source)):
        order.insert(d, s)
    return o.b.transpose(o.name(x), order)


def _squeeze(o, x, axis=None):
    if axis is None:  # the batch axis would go too where a batch has one sample
        raise _Unsupported("with axis=None depends on the batch size; name the axes")
    return o.b.squeeze(o.name(x), o.axes(axis, x.rank))


def _concat(o, arrays, axis=0):
    if axis is None:
        raise _Unsupported("with axis=None (the arrays flattened) is not written")
    return o.b.op("Concat", [o.name(a) for a in arrays], axis=axis)


def _stack(o, arrays, axis=0):
    rank = arrays[0].rank + 1
    return o.b.op("Concat", [o.b.unsqueeze(o.name(a), [axis % rank]) for a in arrays], axis=axis % rank)


def _flip(o, x, axis=None):
    v = o.name(x)
    for a in o.axes(axis, x.rank):
        v = o.b.reverse(v, a)
    return v


def _getitem(o, x, key):
    """Slices, integers, None and Ellipsis: one Slice, then a Squeeze of the integers' axes and
    an Unsqueeze of the new ones."""
    parts = list(key) if isinstance(key, tuple) else [key]
    bounds = [v for p in parts if isinstance(p, slice) for v in (p.start, p.stop, p.step)]
    if any(not (p is None or p is Ellipsis or isinstance(p, (int, slice))) for p in parts) or any(
            v is not None and not isinstance(v, int) for v in bounds):
        raise _Unsupported("indexes with slices, integers, None and ... here, not with tensors or lists")
    indexing = sum(p is not None and p is not Ellipsis for p in parts)
    if Ellipsis in parts:
        k = parts.index(Ellipsis)
        parts[k:k + 1] = [slice(None)] * (x.rank - indexing)
    starts, ends, axes, steps, dropped, new = [], [], [], [], [], []
    axis = out = 0
    for p in parts:
        if p is None:
            new.append(out)
            out += 1
            continue
        if isinstance(p, int):
            starts.append(p), ends.append(p + 1 if p != -1 else INT64_MAX), axes.append(axis), steps.append(1)
            dropped.append(axis)
        elif p != slice(None):
            step = 1 if p.step is None else p.step
            starts.append(p.start if p.start is not None else (0 if step > 0 else -1))
            ends.append(p.stop if p.stop is not None else (INT64_MAX if step > 0 else INT64_MIN))
            axes.append(axis), steps.append(step)
            out += 1
        else:
            out += 1
        axis += 1
    v = o.name(x)
    if axes:
        v = o.b.slice(v, starts, ends, axes, steps)
    if dropped:
        v = o.b.squeeze(v, dropped)
    return o.b.unsqueeze(v, new) if new else v


def _like(fill):
    def emit(o, x, *rest, **kwargs):
        if rest or kwargs:
            raise _Unsupported("with a dtype or a fill given is not written")
        shape = o.b.shape_of(o.name(x))
        return o.b.op("CastLike", [o.b.op("ConstantOfShape", [shape]) if fill == 0 else o.b.op(
            "Expand", [o.b.floats(fill), shape]), o.name(x)])
    return emit


def _triangle(upper):
    def emit(o, x, k=0):
        return o.b.op("Trilu", [o.name(x), o.b.const(k, "k") if k else ""], upper=upper)
    return emit


def _cumsum(o, x, axis=None):
    if axis is None and x.rank > 1:
        raise _Unsupported("needs an axis for arrays of more than one axis")
    return o.b.op("CumSum", [o.name(x), o.b.const(0 if axis is None else axis, "axis")])


OPS = {name: _unary(kind) for name, kind in {
    "abs": "Abs", "absolute": "Abs", "negative": "Neg", "positive": "Identity", "exp": "Exp", "log": "Log",
    "sqrt": "Sqrt", "tanh": "Tanh", "sigmoid": "Sigmoid", "sin": "Sin", "cos": "Cos", "tan": "Tan", "asin": "Asin",
    "acos": "Acos", "atan": "Atan", "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh",
    "atanh": "Atanh", "erf": "Erf", "floor": "Floor", "ceil": "Ceil", "round": "Round", "sign": "Sign",
    "relu": "Relu", "softplus": "Softplus", "softsign": "Softsign", "isnan": "IsNaN", "isinf": "IsInf",
    "logical_not": "Not", "stop_gradient": "Identity"}.items()}
OPS.update({name: _binary(kind) for name, kind in {
    "add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "true_divide": "Div", "pow": "Pow",
    "power": "Pow", "maximum": "Max", "minimum": "Min", "equal": "Equal", "less": "Less",
    "less_equal": "LessOrEqual", "greater": "Greater", "greater_equal": "GreaterOrEqual", "logical_and": "And",
    "logical_or": "Or", "logical_xor": "Xor", "matmul": "MatMul"}.items()})
OPS.update({name: _reduce(kind) for name, kind in {
    "sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin", "prod": "ReduceProd",
    "logsumexp": "ReduceLogSumExp"}.items()})
OPS.update({
    "not_equal": _binary("Equal", negate=True), "argmax": _arg("ArgMax"), "argmin": _arg("ArgMin"),
    "any": _logical_reduce("ReduceMax"), "all": _logical_reduce("ReduceMin"),
    "isfinite": lambda o, x: o.b.op("Not", [o.b.op("Or", [o.b.op(kind, [o.name(x)]) for kind in ("IsNaN", "IsInf")])]),
    "square": lambda o, x: o.b.op("Mul", [o.name(x), o.name(x)]),
    "rsqrt": lambda o, x: o.b.op("Reciprocal", [o.b.op("Sqrt", [o.name(x)])]),
    "expm1": lambda o, x: o.b.op("Sub", [o.b.op("Exp", [o.name(x)]), o.b.scalar(1.0, o.name(x))]),
    "log1p": lambda o, x: o.b.op("Log", [_plus_one(o, x)]),
    "log2": _scaled_log(2.0), "log10": _scaled_log(10.0),
    "relu6": lambda o, x: _clip(o, x, 0.0, 6.0),
    "silu": lambda o, x: o.b.op("Mul", [o.name(x), o.b.op("Sigmoid", [o.name(x)])]),
    "gelu": lambda o, x, approximate=True: gelu_of(o.b, o.name(x), bool(approximate)),
    "elu": lambda o, x, alpha=1.0: o.b.op("Elu", [o.name(x)], alpha=float(alpha)),
    "leaky_relu": lambda o, x, negative_slope=0.2: o.b.op("LeakyRelu", [o.name(x)], alpha=float(negative_slope)),
    "softmax": lambda o, x, axis=-1: o.b.op("Softmax", [o.name(x)], axis=axis),
    "log_softmax": lambda o, x, axis=-1: o.b.op("LogSoftmax", [o.name(x)], axis=axis),
    "clip": _clip, "where": _where, "astype": _astype, "cast": _astype, "var": _var,
    "std": lambda o, x, axis=None, correction=0.0, keepdims=False: o.b.op(
        "Sqrt", [_var(o, x, axis, correction, keepdims)]),
    "norm": _norm, "reshape": _reshape, "permute_dims": _permute, "transpose": _transpose,
    "matrix_transpose": _matrix_transpose, "moveaxis": _moveaxis, "squeeze": _squeeze,
    "expand_dims": lambda o, x, axis=0: o.b.unsqueeze(o.name(x), [axis]),
    "concat": _concat, "concatenate": _concat, "stack": _stack, "flip": _flip, "getitem": _getitem,
    "zeros_like": _like(0), "ones_like": _like(1), "tril": _triangle(0), "triu": _triangle(1),
    "cumsum": _cumsum, "cumulative_sum": _cumsum})
OPS["swish"] = OPS["silu"]
