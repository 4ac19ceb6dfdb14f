"""MultiHeadAttention: scaled dot-product attention over several heads, as Keras calls it.

All heads run at once, with no Python loop over heads or positions, through the backend's
``attention`` hook: blocked ("flash") attention whose memory grows linearly with the lengths,
the (N, H, Tq, Tk) scores never formed whole; its backward recomputes each block's weights.
A masked key gets weight 0, and a row whose every key is masked gives zeros (never 0/0 = NaN).
Where the weights themselves are needed (``return_attention_scores``, or dropout on them in
training) the layer forms them whole with ``batched_matmul`` and ``masked_softmax`` instead.
"""

from __future__ import annotations

import math

from ...core import initializers
from ...core.checks import boolean, positive_int
from ...core.symbolic import is_symbolic
from ...errors import ArgumentError, ArgumentTypeError, ShapeError, shape_str
from ..base import Layer, check_sized_axes, initializer, register_layer
from ..dropout import Dropout


@register_layer
class MultiHeadAttention(Layer):
    """Keras's ``MultiHeadAttention``: ``mha(query, value, key=None, attention_mask=None,
    use_causal_mask=False, return_attention_scores=False, training=False)``.

    ``query`` (N, Tq, Dq), ``value`` (N, Tk, Dv), ``key`` (N, Tk, Dk; default ``value``);
    the output is (N, Tq, output_shape or Dq). Cross-attention: Tq and Tk may differ.
    ``attention_mask`` (N, Tq, Tk): 1/True where query i may attend key j, 0/False where not;
    ``use_causal_mask``: query i attends keys j <= i (both combine). A query row with no key
    left gives zeros. ``return_attention_scores``: also return the softmax weights
    (N, num_heads, Tq, Tk), before dropout. ``dropout`` is applied to those weights in
    training. Weights: per projection a (D, num_heads * key_dim) kernel and a bias.

    On symbolic tensors it is one graph node with inputs [query, value, key] (plus the mask
    when given); the flags are recorded on the node and saved with the model.
    """

    multiple_inputs = True
    call_arguments = ("use_causal_mask", "return_attention_scores")

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", seed=None, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        owner = f"MultiHeadAttention {self.name!r}"
        self.num_heads = positive_int(owner, "num_heads", num_heads)
        self.key_dim = positive_int(owner, "key_dim", key_dim)
        self.value_dim = positive_int(owner, "value_dim", value_dim if value_dim is not None else key_dim)
        if isinstance(output_shape, (tuple, list)):
            if len(output_shape) != 1:
                raise ArgumentError(f"{owner}: output_shape must be an int or a 1-tuple, got {output_shape!r}")
            output_shape = output_shape[0]
        self.output_dim = positive_int(owner, "output_shape", output_shape, optional=True)
        self.use_bias = boolean(owner, "use_bias", use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        initializer(owner, "kernel_initializer", kernel_initializer)  # resolved in build: checked now
        initializer(owner, "bias_initializer", bias_initializer)
        self._dropout = Dropout(dropout, seed=seed, name=f"{self.name}.dropout", dtype=dtype)
        self.dropout = self._dropout.rate
        self.proj = {}

    # -- shapes -------------------------------------------------------------------------------
    def _split(self, xs):
        """(query, value, key, mask or None) from the input list."""
        if not isinstance(xs, (list, tuple)) or len(xs) not in (3, 4):
            raise ShapeError(f"{self.describe()}: takes [query, value, key] or [query, value, key, mask], "
                             f"got {len(xs) if isinstance(xs, (list, tuple)) else type(xs).__name__} inputs; "
                             "call it as mha(query, value, key=None, attention_mask=None)")
        return xs[0], xs[1], xs[2], xs[3] if len(xs) == 4 else None

    def check_input_shape(self, input_shape):
        q, v, k, m = self._split([tuple(s) for s in input_shape])
        if any(len(s) != 2 for s in (q, v, k)):
            raise ShapeError(f"{self.describe()}: query, value and key must be (N, T, D), got per-sample shapes "
                             f"{shape_str(q)}, {shape_str(v)}, {shape_str(k)}")
        for s in (q, v, k):  # D: the projections' weights are made for it
            check_sized_axes(self, s, ((-1, None),))
        if None not in (v[0], k[0]) and v[0] != k[0]:
            raise ShapeError(f"{self.describe()}: key and value must have one length, got {shape_str(k)} and "
                             f"{shape_str(v)}")
        if m is not None and (len(m) != 2 or any(a is not None and b is not None and a != b
                                                  for a, b in zip(m, (q[0], v[0])))):
            raise ShapeError(f"{self.describe()}: attention_mask must be (N, Tq, Tk) = (N, {q[0]}, {v[0]}), got "
                             f"per-sample {shape_str(m)}")
        if self.built:
            for part, shape, d in zip(("query", "value", "key"), (q, v, k), self._dims):
                if shape[1] != d:
                    raise ShapeError(f"{self.describe()}: {part} must be (N, T, {d}) as when built, got per-sample "
                                     f"{shape_str(shape)}")

    def output_shape(self, input_shape, use_causal_mask=False, return_attention_scores=False):
        self.check_input_shape(input_shape)
        q, v = tuple(input_shape[0]), tuple(input_shape[1])
        out = (q[0], self.output_dim or q[1])
        return [out, (self.num_heads, q[0], v[0])] if return_attention_scores else out

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)
        q, v, k, _ = self._split(self.input_shape)
        self._dims = (q[1], v[1], k[1])
        out_dim = self.output_dim or q[1]
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim
        init_w, init_b = initializers.get(self.kernel_initializer), initializers.get(self.bias_initializer)
        for part, fan_in, width in (("query", q[1], h * kd), ("key", k[1], h * kd), ("value", v[1], h * vd),
                                    ("output", h * vd, out_dim)):
            w = self.add_parameter(f"{part}_kernel", init_w(self.backend, (fan_in, width), self.dtype))
            b = self.add_parameter(f"{part}_bias", init_b(self.backend, (width,), self.dtype)) if self.use_bias \
                else None
            self.proj[part] = (w, b)
        self._dropout.build((h, q[0], v[0]))

    def start_epoch(self, epoch, stream=0):
        if self._dropout.built:
            self._dropout.start_epoch(epoch, stream)

    # -- computing ----------------------------------------------------------------------------
    def __call__(self, query, value=None, key=None, attention_mask=None, use_causal_mask=False,
                 return_attention_scores=False, training=False):
        if value is None:
            raise ArgumentTypeError(f"{self.describe()}: call it as mha(query, value, key=None, "
                                    f"attention_mask=None, ...)")
        xs = [query, value, value if key is None else key] + ([] if attention_mask is None else [attention_mask])
        flags = {"use_causal_mask": bool(use_causal_mask), "return_attention_scores": bool(return_attention_scores)}
        flags = {k: v for k, v in flags.items() if v}  # the defaults are not recorded
        if is_symbolic(xs):
            return super().__call__(xs, **flags)
        return self.forward(xs, training, **flags)

    def _project(self, part, x):
        """x (N, T, D) @ W + b, as (N, H, T, width / H), and the 2-D input for the backward."""
        xp, (w, b) = self.backend.xp, self.proj[part]
        n, t = x.shape[0], x.shape[1]
        x2 = xp.reshape(x, (n * t, x.shape[2]))
        y = self.backend.linear(x2, w.value, None if b is None else b.value)
        return xp.permute_dims(xp.reshape(y, (n, t, self.num_heads, -1)), (0, 2, 1, 3)), x2

    def _project_back(self, part, dy, x2, shape, need_dx):
        """Gradients of ``_project``: dy (N, H, T, width / H) -> the parameters' and dx."""
        xp, (w, b) = self.backend.xp, self.proj[part]
        dy2 = xp.reshape(xp.permute_dims(dy, (0, 2, 1, 3)), (x2.shape[0], -1))
        w.add_product(self.backend, x2.T, dy2)
        if b is not None:
            b.add_row_sums(self.backend, dy2)
        return xp.reshape(dy2 @ w.value.T, shape) if need_dx else None

    def _keep(self, q_len, k_len, mask, causal, offset=0):
        """The 0/1 (N or 1, 1, Tq, Tk) array of allowed (query, key) pairs, or None: no mask.
        ``offset``: the queries' position of the first (decoding with cached keys)."""
        xp, keep = self.backend.xp, None
        if mask is not None:
            keep = xp.astype(mask != 0, self.dtype)[:, None, :, :]
        if causal:
            dev = self.backend.device
            rows = xp.arange(q_len, device=dev)[:, None] + offset
            tri = xp.astype(xp.arange(k_len, device=dev)[None, :] <= rows, self.dtype)[None, None, :, :]
            keep = tri if keep is None else keep * tri
        return keep

    def _weights(self, q, k, keep, empty_rows):
        """Softmax over keys of the scores q @ k^T (N, H, Tq, Tk) (q comes scaled), masked by
        ``keep``; ``empty_rows``: some row may have no key left (a user's mask)."""
        xp = self.backend.xp
        return self.backend.masked_softmax(self.backend.batched_matmul(q, xp.permute_dims(k, (0, 1, 3, 2))), keep,
                                            empty_rows)

    def _projections(self, query, value, key):
        """(q, k, v), each (N, H, T, .), and their backward ``back(grads, need_dx) -> [dquery,
        dvalue, dkey]`` for ``grads`` the list [dq, dk, dv], which it empties as it goes (each
        gradient freed once used: attention's backward peaks here). Self-attention (one array
        for all three) makes them in one product with the kernels side by side, and its
        backward sums the three parts' input gradients (no (N * T, 3 * width) concatenation)."""
        be, xp = self.backend, self.backend.xp
        if not (query is value and value is key):
            (q, q2), (k, k2), (v, v2) = (self._project(part, x) for part, x in
                                         (("query", query), ("key", key), ("value", value)))

            def back(grads, need_dx):
                dq, dk, dv = (grads.pop(0) for _ in range(3))
                return [self._project_back("query", dq, q2, query.shape, need_dx),
                        self._project_back("value", dv, v2, value.shape, need_dx),
                        self._project_back("key", dk, k2, key.shape, need_dx)]

            return q, k, v, back
        parts = ("query", "key", "value")
        n, t = query.shape[0], query.shape[1]
        x2 = xp.reshape(query, (n * t, query.shape[2]))
        w = xp.concat([self.proj[part][0].value for part in parts], axis=1)
        y = be.linear(x2, w, xp.concat([self.proj[part][1].value for part in parts], axis=0) if self.use_bias
                      else None)
        widths = [self.num_heads * self.key_dim] * 2 + [self.num_heads * self.value_dim]
        cuts = [0, widths[0], widths[0] + widths[1], sum(widths)]
        q, k, v = (xp.permute_dims(xp.reshape(y[:, a:b], (n, t, self.num_heads, -1)), (0, 2, 1, 3))
                   for a, b in zip(cuts, cuts[1:]))

        def back(grads, need_dx):
            dx = None
            for part in parts:
                d2 = xp.reshape(xp.permute_dims(grads.pop(0), (0, 2, 1, 3)), (n * t, -1))
                w, b = self.proj[part]
                w.add_product(be, x2.T, d2)
                if b is not None:
                    b.add_row_sums(be, d2)
                if need_dx:
                    if dx is None:
                        dx = d2 @ w.value.T
                    else:
                        dx += d2 @ w.value.T
                del d2
            return [xp.reshape(dx, query.shape) if need_dx else None, None, None]

        return q, k, v, back

    def _merge_heads(self, o):
        """(N, H, Tq, Vd) -> (N, Tq, H * Vd)."""
        xp = self.backend.xp
        n, t = o.shape[0], o.shape[2]
        return xp.reshape(xp.permute_dims(o, (0, 2, 1, 3)), (n, t, self.num_heads * self.value_dim))

    def apply(self, xs, training=False, use_causal_mask=False, return_attention_scores=False):
        if return_attention_scores or (training and self._dropout.rate > 0):
            return self._apply_with_weights(xs, training, use_causal_mask, return_attention_scores)
        be, xp = self.backend, self.backend.xp
        query, value, key, mask = self._split(xs)
        q, k, v, project_back = self._projections(query, value, key)
        keep = None if mask is None else xp.astype(mask != 0, self.dtype)
        o, saved = be.attention(q, k, v, keep, use_causal_mask, 1.0 / math.sqrt(self.key_dim))
        o2 = xp.reshape(self._merge_heads(o), (-1, self.num_heads * self.value_dim))
        y = self._out(o2, query)

        def backprop(dy, need_dx=True):
            # do, the attention output's gradient, freed as soon as attention's backward is done
            grads = project_back(list(be.attention_backward(self._output_back(dy, o2, q.shape), saved)), need_dx)
            if not need_dx:
                return None
            return grads + ([None] if mask is not None else [])

        return y, backprop

    def _output_back(self, dy, o2, q_shape):
        """The output projection's gradients; returns the attention output's, (N, H, Tq, Vd)."""
        be, xp = self.backend, self.backend.xp
        w, b = self.proj["output"]
        dy2 = xp.reshape(dy, (o2.shape[0], -1))
        w.add_product(be, o2.T, dy2)
        if b is not None:
            b.add_row_sums(be, dy2)
        return xp.permute_dims(xp.reshape(dy2 @ w.value.T, (q_shape[0], q_shape[2], self.num_heads, -1)),
                               (0, 2, 1, 3))

    def _apply_with_weights(self, xs, training, use_causal_mask, return_attention_scores):
        """The attention weights formed whole (N, H, Tq, Tk) and kept for the backward: where
        they are an output (``return_attention_scores``) or dropout in training zeroes some of
        them (the mask drawn once, over the whole matrix, as Dropout draws; a blocked pass would
        have to draw the same mask again in its backward). Memory quadratic in the lengths."""
        be, xp = self.backend, self.backend.xp
        query, value, key, mask = self._split(xs)
        q, k, v, project_back = self._projections(query, value, key)
        scale = 1.0 / math.sqrt(self.key_dim)
        q = q * scale
        p = self._weights(q, k, self._keep(q.shape[2], k.shape[2], mask, use_causal_mask), mask is not None)
        pd, drop_back = self._dropout.apply(p, training)
        o = self._merge_heads(be.batched_matmul(pd, v))
        o2 = xp.reshape(o, (-1, o.shape[-1]))
        y = self._out(o2, query)

        def backprop(dy, need_dx=True):
            dscores = None
            if return_attention_scores:
                dy, dscores = dy
            do = self._output_back(dy, o2, q.shape)
            dv = be.batched_matmul(xp.permute_dims(pd, (0, 1, 3, 2)), do)
            dp = drop_back(be.batched_matmul(do, xp.permute_dims(v, (0, 1, 3, 2))))
            if dscores is not None:
                dp = dp + dscores
            ds = be.softmax_backward(p, dp)
            grads = project_back([be.batched_matmul(ds, k) * scale,
                                  be.batched_matmul(xp.permute_dims(ds, (0, 1, 3, 2)), q), dv], need_dx)
            if not need_dx:
                return None
            return grads + ([None] if mask is not None else [])

        return ((y, p) if return_attention_scores else y), backprop

    def _out(self, o2, query):
        xp, (w, b) = self.backend.xp, self.proj["output"]
        y = self.backend.linear(o2, w.value, None if b is None else b.value)
        return xp.reshape(y, (query.shape[0], query.shape[1], -1))

    def decode(self, xs, cache, use_causal_mask=False, return_attention_scores=False):
        """Inference on new query positions with the keys and values of earlier ones cached:
        ``xs`` [query, value, key] hold only the new steps (N, t, D); ``cache`` is None at
        the start, else what the previous call returned. Returns ``(y, cache)``: each new
        token costs one row of scores against the T cached keys, O(T), not a new O(T^2)."""
        if return_attention_scores:
            raise ArgumentError(f"{self.describe()}: return_attention_scores is not supported while decoding")
        xp = self.backend.xp
        query, value, key, mask = self._split(xs)
        if mask is not None:
            raise ArgumentError(f"{self.describe()}: decoding with cached keys takes no attention_mask")
        k, _ = self._project("key", key)
        v, _ = self._project("value", value)
        offset = 0
        if cache is not None:
            offset = cache[0].shape[2]
            k, v = xp.concat([cache[0], k], axis=2), xp.concat([cache[1], v], axis=2)
        q, _ = self._project("query", query)
        o, _ = self.backend.attention(q, k, v, None, use_causal_mask, 1.0 / math.sqrt(self.key_dim), offset)
        o = self._merge_heads(o)
        return self._out(xp.reshape(o, (-1, o.shape[-1])), query), (k, v)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self.output_dim, "kernel_initializer": initializers.spec(self.kernel_initializer),
                "bias_initializer": initializers.spec(self.bias_initializer), "seed": self._dropout.seed}

