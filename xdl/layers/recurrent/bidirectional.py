"""Bidirectional: a recurrent layer run forwards and, as a copy with its own weights,
backwards over the sequence, the two outputs merged (Keras's wrapper)."""

from __future__ import annotations

from ...core.checks import one_of
from ...errors import ArgumentError, ArgumentTypeError, ShapeError
from ...tutorial import TutorialRecurrent
from ..base import LAYERS, Layer, register_layer
from .rnn import Recurrent
from ...core.checks import short

MERGE_MODES = ("concat", "sum", "mul", "ave")


@register_layer
class Bidirectional(TutorialRecurrent, Layer):
    """``Bidirectional(LSTM(32, return_sequences=True), merge_mode="concat")``: (N, T, F) ->
    (N, T, 2H) for "concat", (N, T, H) for "sum", "mul" and "ave" (the mean); (N, 2H) or (N, H)
    without ``return_sequences``.

    As in Keras, the wrapped layer's config makes two fresh layers, ``forward_<name>`` and
    ``backward_<name>`` (new weights each): the backward one reads the sequence reversed and
    its output sequence is reversed back before merging. ``return_state=True`` gives
    ``(output, *forward states, *backward states)``; ``initial_state=[...]`` takes the forward
    states then the backward ones (and the backprop then returns their gradients after dx). A mask (padded steps) reaches both directions;
    with ``return_sequences`` masked steps output zeros (Keras forces
    ``zero_output_for_mask``), and the mask goes on.
    """

    supports_masking = True
    tensor_arguments = ("initial_state",)

    def __init__(self, layer=None, merge_mode="concat", weights=None, backward_layer=None, *, name=None, dtype=None,
                 **kwargs):
        if not isinstance(layer, Recurrent):
            raise ArgumentTypeError(f"Bidirectional: layer must be a recurrent layer (SimpleRNN, LSTM, GRU), "
                                    f"got {type(layer).__name__}")
        merge_mode = one_of("Bidirectional", "merge_mode", merge_mode, MERGE_MODES)
        if weights is not None or backward_layer is not None:
            raise ArgumentError("Bidirectional: weights= and backward_layer= are not supported; the backward layer "
                                "is a copy of the forward one with its own weights (set them after building)")
        super().__init__(name=name, dtype=layer.dtype_name if dtype is None else dtype, **kwargs)
        self.merge_mode = merge_mode
        self.forward_layer = _copy(layer, f"forward_{layer.name}")
        self.backward_layer = _copy(layer, f"backward_{layer.name}")
        for one in self._sublayers():  # as Keras forces: masked steps of the sequences are zeros
            one.zero_output_for_mask = one.return_sequences
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state

    def _sublayers(self):
        return [self.forward_layer, self.backward_layer]

    def check_tensor_argument(self, name, shapes):
        k = len(self.forward_layer.cell.state_names)
        if len(shapes) != 2 * k:
            raise ShapeError(f"{self.describe()}: {name} must be {2 * k} tensors (the forward layer's states, then "
                             f"the backward layer's), got {len(shapes)}")
        self.forward_layer.check_tensor_argument(name, shapes[:k])
        self.backward_layer.check_tensor_argument(name, shapes[k:])

    def parameters(self):
        return self.forward_layer.parameters() + self.backward_layer.parameters()

    def named_parameters(self):
        return {f"{layer.name}/{key}": p for layer in self._sublayers()
                for key, p in layer.named_parameters().items()}

    def build(self, input_shape):
        for layer in self._sublayers():
            if layer.built:
                layer.check_input_shape(input_shape)
            else:
                layer.build(input_shape)
        super().build(input_shape)

    def check_input_shape(self, input_shape):
        self.forward_layer.check_input_shape(input_shape)

    def output_shape(self, input_shape):
        out = self.forward_layer.output_shape(input_shape)
        shape, states = (out[0], out[1:]) if self.return_state else (out, [])
        if self.merge_mode == "concat":
            shape = tuple(shape[:-1]) + (2 * shape[-1],)
        return [tuple(shape)] + list(states) * 2 if self.return_state else tuple(shape)

    def compute_mask(self, x, mask):
        out = mask if self.return_sequences else None
        return [out] + [None] * (len(self._states()) * 2) if self.return_state else out

    def output_masked(self, masked):
        out = bool(masked) and self.return_sequences
        return [out] + [False] * (len(self._states()) * 2) if self.return_state else out

    def _states(self):
        return self.forward_layer.cell.state_names

    # -- computing --------------------------------------------------------------------------
    def call(self, x, training=False, initial_state=None):
        return self.apply_masked(x, None, training, initial_state)[0]

    def apply(self, x, training=False, initial_state=None):
        y, _, backprop = self.apply_masked(x, None, training, initial_state)
        return y, backprop

    def apply_masked(self, x, mask, training=False, initial_state=None):
        xp, k, seq = self.backend.xp, len(self._states()), self.return_sequences
        ahead, back = self.forward_layer, self.backward_layer
        first, second = (None, None) if initial_state is None else _halves(self, initial_state, k)
        y_f, _, back_f = ahead.apply_masked(x, mask, training, first)
        flipped_mask = None if mask is None else xp.flip(mask, axis=1)
        y_b, _, back_b = back.apply_masked(xp.flip(x, axis=1), flipped_mask, training, second)
        states = ()
        if self.return_state:
            (y_f, *states_f), (y_b, *states_b) = y_f, y_b
            states = tuple(states_f) + tuple(states_b)
        if seq:
            y_b = xp.flip(y_b, axis=1)
        y = _merge(xp, self.merge_mode, y_f, y_b)

        def backprop(dy, need_dx=True):
            d_out, d_states = (dy[0], tuple(dy[1:])) if self.return_state else (dy, ())
            d_f, d_b = (None, None) if d_out is None else _split(xp, self.merge_mode, d_out, y_f, y_b)
            if d_b is not None and seq:
                d_b = xp.flip(d_b, axis=1)
            if self.return_state:
                d_f, d_b = (d_f,) + tuple(d_states[:k]), (d_b,) + tuple(d_states[k:])
            dx_f, dx_b = back_f(d_f, need_dx), back_b(d_b, need_dx)
            states = []
            if initial_state is not None:  # each direction's backprop gives [dx, *d_states]
                (dx_f, *states_f), (dx_b, *states_b) = dx_f, dx_b
                states = states_f + states_b
            dx = dx_f + xp.flip(dx_b, axis=1) if need_dx else None
            return dx if initial_state is None else [dx, *states]

        return ((y,) + states if self.return_state else y), self.compute_mask(x, mask), backprop

    # -- files ------------------------------------------------------------------------------
    def get_config(self):
        inner = self.forward_layer.get_config()
        inner["name"] = self.forward_layer.name.removeprefix("forward_")
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": {"class": type(self.forward_layer).__name__, "config": inner}}

    @classmethod
    def from_config(cls, config, build_layer=None):
        config = dict(config)
        spec = config.pop("layer", None)
        kind = LAYERS.get(spec["class"]) if isinstance(spec, dict) and isinstance(spec.get("class"), str) else None
        if not (isinstance(kind, type) and issubclass(kind, Recurrent)) or not isinstance(spec.get("config"), dict):
            raise ArgumentError(f"Bidirectional: 'layer' must name a recurrent layer and its config, got {short(spec)}")
        return super().from_config({**config, "layer": kind.from_config(spec["config"])})


def _copy(layer, name):
    """A fresh layer of ``layer``'s kind and config (new weights), named ``name``."""
    config = layer.get_config()
    config.pop("trainable", None)
    copy = type(layer).from_config({**config, "name": name})
    copy.trainable = layer.trainable
    return copy


def _halves(layer, initial_state, k):
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    if len(states) != 2 * k:
        raise ArgumentError(f"{layer.describe()}: initial_state must be a list of {2 * k} arrays (the forward "
                            f"layer's {k} states, then the backward layer's), got {len(states)}")
    return tuple(states[:k]), tuple(states[k:])


def _merge(xp, mode, a, b):
    if mode == "concat":
        return xp.concat([a, b], axis=-1)
    if mode == "sum":
        return a + b
    if mode == "mul":
        return a * b
    return (a + b) * 0.5


def _split(xp, mode, dy, a, b):
    """The gradients of the two merged outputs."""
    if mode == "concat":
        h = a.shape[-1]
        return dy[..., :h], dy[..., h:]
    if mode == "sum":
        return dy, dy
    if mode == "mul":
        return dy * b, dy * a
    half = dy * 0.5
    return half, half
