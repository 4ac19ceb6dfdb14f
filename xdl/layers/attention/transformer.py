"""TransformerBlock: a pre-norm decoder block made of public layers.

Read it as an example of a composite layer: its sublayers are built in ``build`` and each call
composes their ``apply``s, its backward their ``backprop``s in reverse; the two residual sums
send their gradient down both paths.
"""

from __future__ import annotations

from ...core.checks import number, positive_int
from ...errors import ArgumentError, ShapeError, shape_str
from ..activations import GELU
from ..base import Layer, register_layer
from ..dense import Dense
from ..dropout import Dropout
from ..normalization import LayerNorm
from .multi_head import MultiHeadAttention


@register_layer
class TransformerBlock(Layer):
    """The pre-norm Transformer block of GPT-2: (N, T, dim) -> (N, T, dim).

    ``h = x + Dropout(CausalSelfAttention(LayerNorm(x)))``, then
    ``y = h + Dropout(Dense(dim)(GELU(Dense(mlp_dim)(LayerNorm(h)))))``, GELU in GPT-2's tanh
    form (``GELU(approximate="tanh")``); attention with
    ``num_heads`` heads of ``dim // num_heads`` each (``dim`` must divide). Its weights are
    its sublayers' (paths like "attention/query_kernel").
    """

    def __init__(self, dim, num_heads, mlp_dim, dropout=0.0, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        owner = f"TransformerBlock {self.name!r}"
        self.dim = positive_int(owner, "dim", dim)
        self.num_heads = positive_int(owner, "num_heads", num_heads)
        self.mlp_dim = positive_int(owner, "mlp_dim", mlp_dim)
        self.dropout = number(owner, "dropout", dropout, 0.0, 1.0, high_open=True)
        if self.dim % self.num_heads:
            raise ArgumentError(f"{owner}: dim {self.dim} must be a multiple of num_heads {self.num_heads}")

    def check_input_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[1] != self.dim:
            raise ShapeError(f"{self.describe()}: expected input shape (N, T, {self.dim}), got "
                             f"{shape_str(input_shape)}")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)
        dim, dtype = self.dim, self.dtype_name
        # fixed names inside: parameter paths ("attention/query_kernel") survive a reload
        self.norm_1 = LayerNorm(name="norm_1", dtype=dtype)
        self.attention = MultiHeadAttention(self.num_heads, key_dim=dim // self.num_heads, name="attention",
                                            dtype=dtype)
        self.dropout_1 = Dropout(self.dropout, name="dropout_1", dtype=dtype)
        self.norm_2 = LayerNorm(name="norm_2", dtype=dtype)
        self.mlp_in = Dense(output_size=self.mlp_dim, name="mlp_in", dtype=dtype)
        self.gelu = GELU(approximate="tanh", name="gelu", dtype=dtype)  # GPT-2's form, and cheaper than the exact erf
        self.mlp_out = Dense(output_size=dim, name="mlp_out", dtype=dtype)
        self.dropout_2 = Dropout(self.dropout, name="dropout_2", dtype=dtype)
        x, hidden = tuple(input_shape), (input_shape[0], self.mlp_dim)
        for layer, shape in zip(self._sublayers(), (x, [x] * 3, x, x, x, hidden, hidden, x)):
            layer.build(shape)  # in this order: the dropouts' seeds come from xdl.seed's generator
            layer.trainable = self.trainable

    def _sublayers(self):
        if not self.built:
            return []
        return [self.norm_1, self.attention, self.dropout_1, self.norm_2, self.mlp_in, self.gelu, self.mlp_out,
                self.dropout_2]

    def parameters(self):
        return [p for layer in self._sublayers() for p in layer.parameters()]

    def named_parameters(self):
        return {f"{layer.name}/{key}": p for layer in self._sublayers() for key, p in layer.named_parameters().items()}

    def apply(self, x, training=False):
        h, norm_1 = self.norm_1.apply(x, training)
        a, attention = self.attention.apply([h, h, h], training, use_causal_mask=True)
        a, dropout_1 = self.dropout_1.apply(a, training)
        x1 = x + a
        m, norm_2 = self.norm_2.apply(x1, training)
        m, mlp_in = self.mlp_in.apply(m, training)
        m, gelu = self.gelu.apply(m, training)
        m, mlp_out = self.mlp_out.apply(m, training)
        m, dropout_2 = self.dropout_2.apply(m, training)

        def backprop(dy, need_dx=True):
            dx1 = dy + norm_2(mlp_in(gelu(mlp_out(dropout_2(dy)))))  # both paths of the second residual
            dh = sum(d for d in attention(dropout_1(dx1)) if d is not None)  # query, value and key: one array
            dh = norm_1(dh, need_dx)
            return dx1 + dh if need_dx else None

        return x1 + m, backprop

    def call(self, x, training=False):
        h = self.norm_1.call(x)
        x1 = x + self.dropout_1.call(self.attention.call([h, h, h], training, use_causal_mask=True), training)
        m = self.mlp_out.call(self.gelu.call(self.mlp_in.call(self.norm_2.call(x1))))
        return x1 + self.dropout_2.call(m, training)

    def decode(self, x, cache):
        """Incremental inference (see xdl.generate): attention's keys and values cached."""
        h = self.norm_1.call(x)
        a, cache = self.attention.decode([h, h, h], cache, use_causal_mask=True)
        x1 = x + a
        return x1 + self.mlp_out.call(self.gelu.call(self.mlp_in.call(self.norm_2.call(x1)))), cache

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "num_heads": self.num_heads, "mlp_dim": self.mlp_dim,
                "dropout": self.dropout}
