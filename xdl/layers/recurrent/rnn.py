"""Sequence layers: SimpleRNN, LSTM and GRU over batch-first sequences (N, T, F).

Every time step's input projection is one product before the loop; each step is one
product with the recurrent kernel plus the cell's elementwise gates; the weight gradients
are one product each after backpropagation through time.
"""

from __future__ import annotations

from ...errors import ArgumentError, ArgumentTypeError, ShapeError, missing_method, shape_str
from ...tutorial import TutorialRecurrent
from ..base import LAYER_KEYWORDS, Layer, register_layer
from .cells import SimpleRNNCell, previous
from ...core.checks import boolean, either, int_at_least, number, one_of, positive_int
from .gru import GRUCell
from .lstm import LSTMCell
from ..dropout import Dropout
from ..masking import masked_scan, masked_scan_back


class Recurrent(TutorialRecurrent, Layer):
    """Base of the sequence layers: (N, T, F) -> (N, T, H) with ``return_sequences``, else
    the last hidden state (N, H).

    ``return_state=True`` makes the output a tuple ``(output, h)`` (``(output, h, c)`` for
    LSTM), and ``backward`` then takes a tuple of their gradients (None for any without
    one); in a graph model ``LSTM(..., return_state=True)(x)`` gives a list of symbolic
    tensors. ``apply(x, training, initial_state)`` starts from a given state instead of zeros
    (its backprop then returns ``[dx, *d_states]``; ``forward``/``backward`` and
    ``initial_state_grad``: see tutorial.py). A mask (``forward(x, mask=m)``, or one from
    ``Embedding(mask_zero=True)``/``Masking`` in a model) keeps the state over steps where
    m (N, T) is False; their outputs repeat the previous one, or are zero with
    ``zero_output_for_mask=True`` (see masking.py). ``kernel_regularizer``,
    ``recurrent_regularizer``, ``bias_regularizer``: weight penalties (xdl.regularizers).
    """

    cell_class = None
    sized_axes = ((-1, "input_size"),)
    tensor_arguments = ("initial_state",)  # LSTM(...)(x, initial_state=[h, c]) in a graph

    #: a mask on the input (padded steps) is honoured: see masking.py
    supports_masking = True

    def __init__(self, units=None, activation="tanh", *, hidden_size=None, input_size=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, use_cudnn="auto", zero_output_for_mask=False, name=None, dtype=None,
                 **options):
        layer_options = {k: options.pop(k) for k in LAYER_KEYWORDS if k in options}
        super().__init__(name=name, dtype=dtype, **layer_options)
        kind = type(self).__name__
        owner = f"{kind} {self.name!r}"
        if self.cell_class is None:
            raise missing_method(self, "cell_class (the base of SimpleRNN, LSTM and GRU: use one of those)")
        hidden_size = either(owner, "units", units, None, "hidden_size", hidden_size,
                             lambda key, value: positive_int(kind, key, value))
        if hidden_size is None:
            raise ArgumentTypeError(f"{owner}: units (xdl's hidden_size) is required, e.g. {kind}(32)")
        self.cell = self.cell_class(hidden_size, activation, name=f"{self.name}.cell", dtype=dtype, **options)
        self.hidden_size = self.cell.hidden_size
        self.input_size = positive_int(type(self).__name__, "input_size", input_size, optional=True)
        self.return_sequences = boolean(kind, "return_sequences", return_sequences)
        self.return_state = boolean(kind, "return_state", return_state)
        #: Keras's: a masked step's output is zero (True) or repeats the previous one (False)
        self.zero_output_for_mask = boolean(kind, "zero_output_for_mask", zero_output_for_mask)
        #: Keras's: the sequence is read last step first, and the output sequence is in that order
        self.go_backwards = boolean(kind, "go_backwards", go_backwards)
        #: Keras's input dropout: one mask per sequence, the same at every step
        self.dropout = number(owner, "dropout", dropout, 0.0, 1.0, high_open=True)
        self._input_dropout = None  # made in build
        self.seed = int_at_least(kind, "seed", seed, 0, optional=True)
        if number(owner, "recurrent_dropout", recurrent_dropout, 0.0, 1.0, high_open=True):
            raise ArgumentError(f"{owner}: recurrent_dropout is not supported (xdl's fused time loop has no mask on "
                                "the state); use dropout= (on the inputs) or a Dropout layer after")
        if boolean(kind, "stateful", stateful):
            raise ArgumentError(f"{owner}: stateful=True is not supported; pass the state yourself with "
                                "return_state=True and initial_state=")
        boolean(kind, "unroll", unroll)  # Keras's speed hints: xdl's loop is the same either way
        one_of(kind, "use_cudnn", use_cudnn, ("auto", True, False))
        if input_size is not None:  # the tutorial uses the layer before any sequence is seen
            self.build((None, input_size))

    # -- shapes and parameters ------------------------------------------------------------------
    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)
        self.input_size = input_shape[-1]
        self.cell.build((self.input_size,))
        self._parameters = self.cell._parameters
        self._input_dropout = None
        if self.dropout:
            self._input_dropout = Dropout(self.dropout, (None, 1, None), self.seed, name=f"{self.name}.dropout",
                                          dtype=self.dtype_name)
            self._input_dropout.build(tuple(input_shape))
            self.seed = self._input_dropout.seed

    def start_epoch(self, epoch, stream=0):
        if getattr(self, "_input_dropout", None) is not None:
            self._input_dropout.start_epoch(epoch, stream)

    def check_input_shape(self, input_shape):
        size = self.input_size or "features"
        if len(input_shape) != 2 or (self.input_size is not None and input_shape[-1] != self.input_size):
            hint = (f"; for one step on (N, features) use {self.cell_class.__name__}"
                    if len(input_shape) == 1 else "")
            raise ShapeError(f"{self.describe()}: expected input shape (N, T, {size}) (batch, time, "
                             f"features), got {shape_str(input_shape)}{hint}")

    def output_shape(self, input_shape):
        out = (input_shape[0], self.hidden_size) if self.return_sequences else (self.hidden_size,)
        if self.return_state:  # several outputs: the output, then each final state
            return [out] + [(self.hidden_size,)] * len(self.cell.state_names)
        return out

    def _sublayers(self):
        return [self.cell]

    def check_tensor_argument(self, name, shapes):
        expected = [(self.hidden_size,)] * len(self.cell.state_names)
        if [tuple(s) for s in shapes] != expected:
            raise ShapeError(f"{self.describe()}: {name} must be {self.cell._state_form()}, each of per-sample shape "
                             f"({self.hidden_size},), got {[shape_str(s) for s in shapes]}")

    @classmethod
    def config_keys(cls):
        return super().config_keys() | cls.cell_class.config_keys()  # **cell_options: the cell's arguments

    def get_config(self):
        cell = self.cell.get_config()
        for key in ("name", "dtype", "units", "input_size", "trainable"):
            cell.pop(key, None)
        return {**super().get_config(), "units": self.hidden_size, "input_size": self.input_size,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "zero_output_for_mask": self.zero_output_for_mask, **cell,
                **({"go_backwards": True} if self.go_backwards else {}),
                **({"dropout": self.dropout, "seed": self.seed} if self.dropout else {})}

    def compute_mask(self, x, mask):
        out = mask if self.return_sequences else None
        return [out] + [None] * len(self.cell.state_names) if self.return_state else out

    def output_masked(self, masked):
        out = bool(masked) and self.return_sequences
        return [out] + [False] * len(self.cell.state_names) if self.return_state else out

    # -- computing --------------------------------------------------------------------------------
    def call(self, x, training=False, initial_state=None):
        return self.apply(x, training, initial_state)[0]

    def apply(self, x, training=False, initial_state=None):
        y, _, backprop = self.apply_masked(x, None, training, initial_state)
        return y, backprop

    def apply_masked(self, x, mask, training=False, initial_state=None):
        xp, cell, zero_output = self.backend.xp, self.cell, self.zero_output_for_mask
        n, steps, features = x.shape
        if steps == 0:
            raise ShapeError(f"{self.describe()}: got a sequence of length 0, expected at least one step")
        if self.go_backwards:
            x = xp.flip(x, axis=1)
            mask = None if mask is None else xp.flip(mask, axis=1)
        dropped = self._input_dropout.apply(x, True) if training and self._input_dropout is not None else None
        if dropped is not None:
            x = dropped[0]
        states = cell.fill(cell.unpack(initial_state, n, "initial_state"), n)
        x = xp.reshape(x, (n * steps, features))
        xw = cell.project(x)  # every step's input projection at once
        xw = xp.reshape(xw, (n, steps, xw.shape[-1]))  # no -1: n may be 0
        if mask is None:
            hs, final, cache = cell.scan(xw, states)
        else:  # padded steps keep the state (masking.py)
            hs, final, entering, cache = masked_scan(cell, xw, states, mask, zero_output)
        y = hs if self.return_sequences else final[0]

        def backprop(dy, need_dx=True):
            dhs, dstates = self._split(dy)
            if mask is None:
                dxw, dhw, dstates0 = cell.scan_back(cache, dhs, cell.fill(dstates, n))
                h_prev = previous(xp, states[0], hs)
            else:
                dxw, dhw, dstates0 = masked_scan_back(cell, cache, mask, dhs, cell.fill(dstates, n), zero_output)
                h_prev = entering
            rows = n * steps
            dxw, dhw = xp.reshape(dxw, (rows, dxw.shape[-1])), xp.reshape(dhw, (rows, dhw.shape[-1]))
            h_prev = xp.reshape(h_prev, (rows, self.hidden_size))
            cell.add_grads(x, h_prev, dxw, dhw)
            # the first layer of a model needs no dx: its product is skipped
            dx = xp.reshape(dxw @ cell.kernel.value.T, (n, steps, self.input_size)) if need_dx else None
            if dx is not None and dropped is not None:
                dx = dropped[1](dx)
            if dx is not None and self.go_backwards:
                dx = xp.flip(dx, axis=1)
            return dx if initial_state is None else [dx, *dstates0]  # the states given are inputs too

        return ((y,) + tuple(final) if self.return_state else y), self.compute_mask(x, mask), backprop

    def _split(self, dy):
        """(gradient of the output sequence or None, gradients of the final states)."""
        n_states = len(self.cell.state_names)
        if self.return_state:
            if not isinstance(dy, (tuple, list)) or len(dy) != 1 + n_states:
                raise ArgumentError(f"{self.describe()}: with return_state, backward takes a tuple of "
                                    f"{1 + n_states} gradients (output and each state; None for none)")
            dy, dstates = dy[0], list(dy[1:])
        else:
            dstates = [None] * n_states
        if not self.return_sequences and dy is not None:  # the output is the last h
            dstates[0] = dy if dstates[0] is None else dstates[0] + dy
            dy = None
        return dy, tuple(dstates)


@register_layer
class SimpleRNN(Recurrent):
    """``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)`` over a sequence
    (``activation="tanh"`` by default, or any name in ``ACTIVATIONS``)."""

    cell_class = SimpleRNNCell


@register_layer
class LSTM(Recurrent):
    """Long short-term memory over a sequence (gates i, f, o, g; see ``LSTMCell``)."""

    cell_class = LSTMCell


@register_layer
class GRU(Recurrent):
    """Gated recurrent unit over a sequence (gates r, z, n; see ``GRUCell``)."""

    cell_class = GRUCell
