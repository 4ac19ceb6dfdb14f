"""Text generation: ``xdl.generate(model, prompt_ids, length)`` for next-token models.

A function rather than a ``Model.generate`` method: only language models generate, and any
``xdl.Model`` whose output is next-token logits (N, T, vocab), built or loaded from a file,
works with it unchanged; the incremental-decoding protocol (a layer's ``decode``) then
lives in this one module instead of in every model class.

With ``cache=True`` the graph is run incrementally: position-wise layers (Dense, LayerNorm,
Embedding, activations, merges...) see only the new token; layers that look across time
implement ``decode(x, cache) -> (y, cache)``: causal self-attention keeps every earlier
step's keys and values, so a new token costs O(T) (one row of scores), not a new O(T^2)
forward; PositionEmbedding counts positions. ``cache=False`` runs the whole window again for
every token, the reference the cached path must match.
"""

from __future__ import annotations

from ..errors import ArgumentError, XdlError
from ..layers.activations import ACTIVATIONS, Activation
from ..layers.attention.multi_head import MultiHeadAttention
from ..layers.dense import Dense
from ..layers.dropout import Dropout
from ..layers.embedding import Embedding
from ..layers.merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from ..layers.normalization import LayerNorm
from ..layers.attention.position import PositionEmbedding
from ..core import random
from .model import Model

#: layers that act on each time step alone: decoded by running them on the new steps only
POSITION_WISE = (Dense, LayerNorm, Embedding, Dropout, Activation, Add, Average, Maximum, Minimum, Multiply,
                 Subtract, *ACTIVATIONS.values())
_MASKED = 1e30


def decode_graph(graph, xs, caches):
    """Run ``graph`` on the new steps ``xs`` (list of arrays (N, t, ...)) in inference mode,
    continuing from ``caches`` (None at the start); returns ``(outputs, caches)``."""
    caches = dict(caches or {})
    values = [None] * graph.size
    values[:len(xs)] = xs
    for k, step in enumerate(graph.steps):
        layer = step.layer
        x = [values[i] for i in step.ins] if step.listed else values[step.ins[0]]
        if isinstance(layer, MultiHeadAttention):
            if not step.kwargs.get("use_causal_mask") or len(set(step.ins)) != 1:
                raise XdlError(f"{layer.describe()}: only causal self-attention (mha(x, x, use_causal_mask=True)) "
                               "decodes with a cache; use cache=False")
            y, caches[k] = layer.decode(x, caches.get(k), **step.kwargs)
        elif isinstance(layer, Model):
            ys, caches[k] = decode_graph(layer.graph, x if layer.multiple_inputs else [x], caches.get(k))
            y = ys[0] if layer._single_output else tuple(ys)
        elif hasattr(layer, "decode"):
            y, caches[k] = layer.decode(x, caches.get(k))
        elif isinstance(layer, POSITION_WISE) and not (isinstance(layer, Concatenate) and layer.axis not in (-1,)):
            y = layer.infer(x, False, **step.kwargs)
        else:
            raise XdlError(f"{layer.describe()}: mixes time steps and has no decode(x, cache); generate with "
                           "cache=False")
        if step.several:
            for s, v in zip(step.outs, y):
                values[s] = v
        else:
            values[step.outs[0]] = y
    return [values[s] for s in graph.output_slots], caches


def context_length(model):
    """The most positions the model takes: its PositionEmbeddings' ``max_length`` (the
    least of them), else its input's fixed length, else None (unbounded)."""
    found = []

    def visit(layer):
        if isinstance(layer, PositionEmbedding):
            found.append(layer.max_length)
        for inner in getattr(layer, "layers", []):
            visit(inner)

    visit(model)
    if found:
        return min(found)
    shape = model.graph.inputs[0].sample_shape
    return shape[0] if shape and shape[0] is not None else None


def generate(model, prompt_ids, length, temperature=1.0, top_k=None, seed=None, cache=True, context=None):
    """``length`` tokens drawn after ``prompt_ids`` (N, T0) or (T0,) integers; returns the
    whole sequences as a NumPy int64 array (N, T0 + length) (or (T0 + length,)).

    ``temperature`` divides the logits (0: greedy, the most likely token); ``top_k`` keeps
    the k likeliest tokens; ``seed`` fixes the draws. ``context`` (default: see
    ``context_length``) bounds the positions the model sees: beyond it, the cache restarts
    from the last ``context // 2`` tokens (one full forward every ``context // 2`` tokens,
    still O(context) per token), and ``cache=False`` keeps the last ``context`` tokens.
    Tokens are drawn on the device (Gumbel-max), so nothing waits for the host per token.
    """
    be = model.backend
    xp = be.xp
    prompt = be.asarray(prompt_ids)
    single = prompt.ndim == 1
    ids = xp.astype(prompt[None, :] if single else prompt, xp.int64)
    if ids.ndim != 2 or ids.shape[1] < 1:
        raise ArgumentError(f"generate: prompt_ids must be (N, T) or (T,) token ids with T >= 1, got shape "
                            f"{tuple(prompt.shape)}")
    if temperature < 0 or (top_k is not None and (int(top_k) != top_k or top_k < 1)):
        raise ArgumentError(f"generate: temperature must be >= 0 and top_k a positive int, got {temperature!r}, "
                            f"{top_k!r}")
    context = context if context is not None else context_length(model)
    if context is not None and context < 2:
        raise ArgumentError(f"generate: context must be at least 2, got {context}")
    draw = be.random_uniform(int(random.generator(seed).integers(2**62)))
    if cache:
        window = _last(ids, context)
        (logits, caches), seen = _cached(model, window, None), window.shape[1]
    for k in range(length):
        if not cache:
            window = _last(ids, context)
            logits = model.graph.infer([window])[0][:, -1, :]
        token = xp.astype(_pick(xp, logits, temperature, top_k, draw), xp.int64)[:, None]
        ids = xp.concat([ids, token], axis=1)
        if cache and k < length - 1:
            if context is not None and seen >= context:  # out of positions: restart from the recent half
                (logits, caches), seen = _cached(model, _last(ids, context // 2), None), context // 2
            else:
                (logits, caches), seen = _cached(model, token, caches), seen + 1
    out = be.to_numpy(ids)
    return out[0] if single else out


def _last(ids, n):
    """The last ``n`` columns (all for None); no slice past the start (array_api_strict)."""
    return ids if n is None or ids.shape[1] <= n else ids[:, ids.shape[1] - n:]


def _cached(model, new_ids, caches):
    """The last position's logits after feeding ``new_ids``, and the updated caches."""
    outs, caches = decode_graph(model.graph, [new_ids], caches)
    return outs[0][:, -1, :], caches


def _pick(xp, logits, temperature, top_k, draw):
    """One token per row: argmax of logits / temperature plus Gumbel noise (a softmax draw)."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = xp.sort(logits, axis=-1)[:, -int(top_k)][:, None]
        logits = logits - xp.astype(logits < kth, logits.dtype) * _MASKED
    if temperature == 0:
        return xp.argmax(logits, axis=-1)
    u = draw(tuple(logits.shape), logits.dtype)
    gumbel = -xp.log(-xp.log(u + 1e-20) + 1e-20)
    return xp.argmax(logits * (1.0 / temperature) + gumbel, axis=-1)
