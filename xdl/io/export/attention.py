"""Emitters of MultiHeadAttention (with ``attention_mask`` and ``use_causal_mask``),
PositionEmbedding and TransformerBlock (its sublayers in order, as its ``call``)."""

from __future__ import annotations

import math

from ... import layers as L
from .builder import Call, emits, one


def _heads(b, layer, part, x):
    """x (N, T, D) @ W + b as (N, heads, T, width / heads)."""
    w, bias = layer.proj[part]
    y = b.op("MatMul", [x, b.weight(w, f"{part}_kernel")])
    if bias is not None:
        y = b.op("Add", [y, b.weight(bias, f"{part}_bias")])
    return b.transpose(b.reshape(y, [0, 0, layer.num_heads, -1]), (0, 2, 1, 3))


def _keep(b, scores, mask, causal):
    """The 0/1 (N or 1, 1, Tq, Tk) array of allowed (query, key) pairs, as xdl's ``_keep``:
    the mask's nonzero entries, times the lower triangle for a causal mask."""
    keep = None
    if mask is not None:
        allowed = b.op("Not", [b.op("Equal", [mask, b.scalar(0.0, mask)])])
        keep = b.unsqueeze(b.op("CastLike", [allowed, scores]), [1])
    if causal:
        ones = b.op("ConstantOfShape", [b.shape_of(scores, 2, 4)], value=b.helper.make_tensor("one", 1, [1], [1.0]))
        triangle = b.op("Trilu", [b.op("CastLike", [ones, scores])], upper=0)  # key j <= query i
        keep = triangle if keep is None else b.op("Mul", [keep, triangle])
    return keep


def _softmax(b, scores, keep, empty_rows):
    """xdl's ``masked_softmax``: a masked key's score is lowered by 1e30 (finite: no inf - inf);
    with a user's mask a row may keep no key, and gives zeros (``e * keep / (sum or 1)``)."""
    if keep is None:
        return b.op("Softmax", [scores], axis=-1)
    s = b.op("Add", [scores, b.op("Mul", [b.op("Sub", [keep, b.floats(1.0)]), b.floats(1e30)])])
    if not empty_rows:
        return b.op("Softmax", [s], axis=-1)
    e = b.op("Exp", [b.op("Sub", [s, b.reduce("ReduceMax", s, [-1], keepdims=True)])])
    e = b.op("Mul", [e, keep])
    total = b.reduce("ReduceSum", e, [-1], keepdims=True)
    empty = b.op("CastLike", [b.op("Equal", [total, b.floats(0.0)]), total])
    return b.op("Div", [e, b.op("Add", [total, empty])])


def attend(b, layer, query, value, key, mask=None, causal=False):
    """The output (N, Tq, out) and the attention weights (N, heads, Tq, Tk)."""
    q = b.op("Mul", [_heads(b, layer, "query", query), b.floats(1.0 / math.sqrt(layer.key_dim))])
    k, v = _heads(b, layer, "key", key), _heads(b, layer, "value", value)
    scores = b.op("MatMul", [q, b.transpose(k, (0, 1, 3, 2))])
    weights = _softmax(b, scores, _keep(b, scores, mask, causal), mask is not None)
    merged = b.reshape(b.transpose(b.op("MatMul", [weights, v]), (0, 2, 1, 3)), [0, 0, -1])
    w, bias = layer.proj["output"]
    y = b.op("MatMul", [merged, b.weight(w, "output_kernel")])
    if bias is not None:
        y = b.op("Add", [y, b.weight(bias, "output_bias")])
    return y, weights


@emits(L.MultiHeadAttention)
def multi_head_attention(b, layer, call):
    query, value, key = call.inputs[:3]
    mask = call.inputs[3] if len(call.inputs) == 4 else None
    y, weights = attend(b, layer, query, value, key, mask, call.kwargs.get("use_causal_mask", False))
    return [y, weights] if call.kwargs.get("return_attention_scores", False) else [y]


@emits(L.PositionEmbedding)
def position_embedding(b, layer, call):
    """Rows 0..T-1 of the table (learned, or the fixed sinusoids), broadcast to the input's
    shape; T is read at run time."""
    table = b.weight(layer.table, "embeddings") if layer.table is not None else b.const(b.array(layer._fixed),
                                                                                       "sinusoids")
    rows = b.op("Slice", [table, b.ints([0], "starts"), b.shape_of(call.x, 1, 2), b.ints([0], "axes")])
    return [b.op("Expand", [rows, b.shape_of(call.x)])]


@emits(L.TransformerBlock)
def transformer_block(b, layer, call):
    """``h = x + attention(norm_1(x))`` (causal), ``y = h + mlp_out(gelu(mlp_in(norm_2(h))))``;
    the dropouts are the identity in inference."""
    x, shape = call.x, call.shape
    h = b.emit(layer.norm_1, one(x, shape))[0]
    a = b.emit(layer.attention, Call([h, h, h], [shape] * 3, {"use_causal_mask": True}))[0]
    x1 = b.op("Add", [x, a])
    m = b.emit(layer.norm_2, one(x1, shape))[0]
    m = b.emit(layer.mlp_in, one(m, shape))[0]
    m = b.emit(layer.gelu, one(m, layer.mlp_in.output_shape(shape)))[0]
    m = b.emit(layer.mlp_out, one(m, layer.mlp_in.output_shape(shape)))[0]
    return [b.op("Add", [x1, m])]

