"""TransformerBlock: a pre-norm decoder block, written with the functional API.

Read ``_graph`` as an example: the block is an ``xdl.Model`` of public layers, two residual
connections made with ``Add``, the causal self-attention one ``MultiHeadAttention`` call.
"""

from __future__ import annotations

from .._checks import number, positive_int
from ..errors import ShapeError, shape_str
from .activations import GELU
from .attention import MultiHeadAttention
from .base import Layer, register_layer
from .dense import Dense
from .dropout import Dropout
from .merge import Add
from .normalization import LayerNorm


def _graph(dim, num_heads, mlp_dim, dropout, name, dtype):
    """x + Dropout(MHA(LN(x))), then h + Dropout(MLP(LN(h))), on (N, T, dim)."""
    from ..model import Model  # noqa: PLC0415 (model.py imports the layers)
    from ..symbolic import Input  # noqa: PLC0415

    # fixed names inside: parameter paths ("attention/query_kernel") survive a reload
    tokens = Input(shape=(None, dim), name="tokens")
    h = LayerNorm(name="norm_1", dtype=dtype)(tokens)
    h = MultiHeadAttention(num_heads, key_dim=dim // num_heads, name="attention", dtype=dtype)(
        h, h, use_causal_mask=True)
    h = Dropout(dropout, name="dropout_1", dtype=dtype)(h)
    x = Add(name="residual_1", dtype=dtype)([tokens, h])
    h = LayerNorm(name="norm_2", dtype=dtype)(x)
    h = Dense(output_size=mlp_dim, name="mlp_in", dtype=dtype)(h)
    h = GELU(approximate="tanh", name="gelu", dtype=dtype)(h)  # GPT-2's form: a third of the exact one's work
    h = Dense(output_size=dim, name="mlp_out", dtype=dtype)(h)
    h = Dropout(dropout, name="dropout_2", dtype=dtype)(h)
    return Model(inputs=tokens, outputs=Add(name="residual_2", dtype=dtype)([x, h]), name=name)


@register_layer
class TransformerBlock(Layer):
    """The pre-norm Transformer block of GPT-2: (N, T, dim) -> (N, T, dim).

    ``h = x + Dropout(CausalSelfAttention(LayerNorm(x)))``, then
    ``y = h + Dropout(Dense(dim)(GELU(Dense(mlp_dim)(LayerNorm(h)))))``, GELU in GPT-2's tanh
    form (``GELU(approximate="tanh")``); attention with
    ``num_heads`` heads of ``dim // num_heads`` each (``dim`` must divide). Its weights are
    those of the inner model ``block`` (paths like "attention/query_kernel").
    """

    def __init__(self, dim, num_heads, mlp_dim, dropout=0.0, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        owner = f"TransformerBlock {self.name!r}"
        self.dim = positive_int(owner, "dim", dim)
        self.num_heads = positive_int(owner, "num_heads", num_heads)
        self.mlp_dim = positive_int(owner, "mlp_dim", mlp_dim)
        self.dropout = number(owner, "dropout", dropout, 0.0, 1.0, high_open=True)
        if self.dim % self.num_heads:
            raise ValueError(f"{owner}: dim {self.dim} must be a multiple of num_heads {self.num_heads}")
        self.block = None

    def check_input_shape(self, input_shape):
        if len(input_shape) != 2 or input_shape[1] != self.dim:
            raise ShapeError(f"{self.describe()}: expected input shape (N, T, {self.dim}), got "
                             f"{shape_str(input_shape)}")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)
        self.block = _graph(self.dim, self.num_heads, self.mlp_dim, self.dropout, f"{self.name}.block",
                            self.dtype_name)
        self.block.trainable = self.trainable

    def parameters(self):
        return self.block.parameters() if self.block is not None else []

    def named_parameters(self):
        return self.block.named_parameters() if self.block is not None else {}

    def _sublayers(self):
        return [self.block] if self.block is not None else []

    def start_epoch(self, epoch, stream=0):
        if self.block is not None:
            self.block.start_epoch(epoch, stream)

    def apply(self, x, training=False):
        return self.block.apply(x, training)

    def call(self, x, training=False):
        return self.block.call(x, training)

    def decode(self, x, cache):
        """Incremental inference (see xdl.generate): the inner model's, keys and values cached."""
        from ..generation import decode_graph  # noqa: PLC0415 (generation imports the layers)

        ys, cache = decode_graph(self.block.graph, [x], cache)
        return ys[0], cache

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "num_heads": self.num_heads, "mlp_dim": self.mlp_dim,
                "dropout": self.dropout}
