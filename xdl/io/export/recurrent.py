"""Emitters of SimpleRNN, LSTM, GRU and Bidirectional: ONNX's RNN, LSTM and GRU ops.

xdl's sequences are batch-first (N, T, F); ONNX's recurrent ops read (T, N, F) (onnxruntime
takes no other layout), so each op runs between transposes. The kernels change layout and
gate order: xdl's LSTM columns hold the gates i, f, o, g, ONNX's rows i, o, f, c; xdl's GRU
r, z, n, ONNX's z, r, h. xdl's GRU applies the reset gate after the recurrent product
(Keras's ``reset_after=True``), which is ONNX's ``linear_before_reset=1``, with the recurrent
bias as ONNX's ``Rb``. Bidirectional writes its two layers as two ops, the backward one on
the reversed sequence, as xdl computes it. A mask (padded steps, anywhere in a sequence) is
read by moving each sequence's counted steps to its front and giving the op their count
(``_masked``).
"""

from __future__ import annotations

import numpy as np

from ... import layers as L
from .builder import emits

#: xdl's gate blocks in ONNX's order, per cell
GATES = {L.LSTMCell: (0, 2, 1, 3), L.GRUCell: (1, 0, 2), L.SimpleRNNCell: (0,)}
#: SimpleRNN activations ONNX's RNN op has: xdl's name -> (ONNX's name, its alpha and beta)
RNN_ACTIVATIONS = {"tanh": ("Tanh", None, None), "relu": ("Relu", None, None), "sigmoid": ("Sigmoid", None, None),
                   "softsign": ("Softsign", None, None), "softplus": ("Softplus", None, None),
                   "elu": ("Elu", 1.0, None), "leaky_relu": ("LeakyRelu", 0.01, None),
                   "linear": ("Affine", 1.0, 0.0)}


def _blocks(a, order, units):
    """``a``'s last axis as gate blocks of ``units``, put in ``order``."""
    return np.concatenate([a[..., k * units:(k + 1) * units] for k in order], axis=-1)


def _weights(b, layer):
    """ONNX's W (1, G*H, F), R (1, G*H, H) and B (1, 2*G*H) for ``layer``'s cell."""
    cell, units = layer.cell, layer.hidden_size
    order = GATES[type(cell)]
    W = b.derived(cell.kernel, "W", lambda k: _blocks(k, order, units).T[None])
    R = b.derived(cell.recurrent_kernel, "R", lambda u: _blocks(u, order, units).T[None])
    bias = _blocks(b.array(cell.bias), order, units)
    recurrent = (_blocks(b.array(cell.recurrent_bias), order, units) if type(cell) is L.GRUCell
                 else np.zeros_like(bias))
    return W, R, b.const(np.concatenate([bias, recurrent])[None], "B")


def _op(b, layer, x, states, reverse=False, lengths=""):
    """ONNX's op for ``layer``'s cell on batch-first ``x`` (``reverse``: read last step first;
    ``lengths``: (N,) int32, each sequence's steps to read). Returns (the outputs (N, T, H),
    step t's where x[t] was read; the final states [(N, H), ...])."""
    cell = layer.cell
    kind = {L.LSTMCell: "LSTM", L.GRUCell: "GRU", L.SimpleRNNCell: "RNN"}.get(type(cell))
    if kind is None:
        raise b.refuse(layer, f"its cell {type(cell).__name__} has no ONNX form")
    attributes = {"hidden_size": layer.hidden_size, "direction": "reverse" if reverse else "forward"}
    if kind == "GRU":
        attributes["linear_before_reset"] = 1
    if kind == "RNN":
        if cell.activation not in RNN_ACTIVATIONS:
            raise b.refuse(layer, f"its activation {cell.activation!r} is not one of ONNX's RNN op, which takes "
                                  f"{', '.join(map(repr, RNN_ACTIVATIONS))}")
        name, alpha, beta = RNN_ACTIVATIONS[cell.activation]
        attributes["activations"] = [name]
        if alpha is not None:
            attributes["activation_alpha"] = [alpha]
        if beta is not None:
            attributes["activation_beta"] = [beta]
    W, R, B = _weights(b, layer)
    initial = [b.unsqueeze(s, [0]) for s in states]  # (N, H) -> (1, N, H): one direction
    outputs = b.op(kind, [b.transpose(x, (1, 0, 2)), W, R, B, lengths, *initial], outputs=3 if kind == "LSTM" else 2,
                   **attributes)
    ys = b.transpose(b.squeeze(outputs[0], [1]), (1, 0, 2))  # (T, 1, N, H) -> (N, T, H)
    return ys, [b.squeeze(y, [0]) for y in outputs[1:]]


def _run(b, layer, x, states, mask=None):
    """``layer`` on batch-first ``x`` as xdl runs it (``go_backwards``: the sequence, and the
    mask, read last step first); ``states``: ONNX names of its initial states, or [];
    ``mask``: (N, T) booleans or None. Returns (the outputs (N, T, H) in the order they were
    read, as xdl gives them; the final states [(N, H), ...])."""
    if mask is None:
        ys, finals = _op(b, layer, x, states, reverse=layer.go_backwards)
        return (b.reverse(ys, 1) if layer.go_backwards else ys), finals
    if layer.go_backwards:
        x, mask = b.reverse(x, 1), b.reverse(mask, 1)
    return _masked(b, layer, x, states, mask)


def _masked(b, layer, x, states, mask):
    """xdl keeps the state over a masked step, which is reading the counted steps alone: they
    are moved to the front of each sequence, in order, and the op reads that many
    (``sequence_lens``). Step t's output is the op's output after the c-th counted step, c the
    steps counted up to t: a masked step repeats the output before it (zeros before the
    first), or is zero with ``zero_output_for_mask``."""
    counted = b.op("Cast", [mask], to=7)  # (N, T) int64
    steps = b.shape_of(x, 1, 2)
    t = b.op("Range", [b.const(0, "zero"), b.squeeze(steps, [0]), b.const(1, "one")])
    key = b.op("Add", [b.op("Mul", [counted, steps]), b.op("Sub", [b.op("Sub", [steps, b.ints([1])]), t])])
    order = b.op("TopK", [key, steps], outputs=2, axis=1)[1]  # counted steps first, each part in order
    front = b.op("GatherElements", [x, b.op("Expand", [b.unsqueeze(order, [-1]), b.shape_of(x)])], axis=1)
    total = b.reduce("ReduceSum", counted, [1])
    lengths = b.op("Cast", [total], to=6)  # int32, as ONNX's recurrent ops take them
    ys, finals = _op(b, layer, front, states, lengths=lengths)
    seen = b.op("CumSum", [counted, b.const(1, "axis")])
    source = b.op("Max", [b.op("Sub", [seen, b.const(1, "one")]), b.const(0, "zero")])
    ys = b.op("GatherElements", [ys, b.op("Expand", [b.unsqueeze(source, [-1]), b.shape_of(ys)])], axis=1)
    shown = mask if layer.zero_output_for_mask else b.op("Greater", [seen, b.const(0, "zero")])
    ys = b.op("Mul", [ys, b.op("CastLike", [b.unsqueeze(shown, [-1]), ys])])
    if states:  # a sequence with no step counted ends in its initial state (the op gives zeros)
        read = b.unsqueeze(b.op("Greater", [total, b.const(0, "zero")]), [-1])
        finals = [b.op("Where", [read, final, state]) for final, state in zip(finals, states)]
    return ys, finals


@emits(L.SimpleRNN, L.LSTM, L.GRU, masks=True)
def recurrent(b, layer, call):
    ys, finals = _run(b, layer, call.x, call.states, call.mask)
    y = ys if layer.return_sequences else finals[0]
    return [y, *finals] if layer.return_state else [y]


@emits(L.Bidirectional, masks=True)
def bidirectional(b, layer, call):
    """The forward layer on ``x``, the backward one on ``x`` reversed (its output sequence
    reversed back), merged by ``merge_mode``; then each layer's final states."""
    k = len(layer.forward_layer.cell.state_names)
    first, second = (call.states[:k], call.states[k:]) if call.states else ([], [])
    mask = call.mask
    with b.scope("forward"):
        ys_f, finals_f = _run(b, layer.forward_layer, call.x, first, mask)
    with b.scope("backward"):
        ys_b, finals_b = _run(b, layer.backward_layer, b.reverse(call.x, 1), second,
                              None if mask is None else b.reverse(mask, 1))
    if layer.return_sequences:
        y_f, y_b = ys_f, b.reverse(ys_b, 1)
    else:
        y_f, y_b = finals_f[0], finals_b[0]
    mode = layer.merge_mode
    if mode == "concat":
        y = b.op("Concat", [y_f, y_b], axis=-1)
    elif mode == "ave":
        y = b.op("Mul", [b.op("Add", [y_f, y_b]), b.floats(0.5)])
    else:
        y = b.op({"sum": "Add", "mul": "Mul"}[mode], [y_f, y_b])
    return [y, *finals_f, *finals_b] if layer.return_state else [y]
