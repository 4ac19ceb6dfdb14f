"""Recurrent cells: the per-step math of SimpleRNN, LSTM and GRU.

A cell owns the weights: ``kernel`` (F, G*H) for the input, ``recurrent_kernel`` (H, G*H) for
the previous hidden state, ``bias`` (G*H,), for G gate blocks of H units. Sequence layers
(recurrent.py) project every time step's input in one product and call ``scan``, which
loops over time doing one product per step; arrays stay batch-major (N, T, ...), so the
layer's input and output need no transposing copies; ``scan_back`` runs backpropagation through
time the same way, and ``add_grads`` forms the weight gradients in one product each.
Called on its own, a cell is one step on batch-first arrays, for hand-written loops.
"""

from __future__ import annotations

from ...core import initializers, regularizers
from ...errors import ArgumentError, ArgumentTypeError, ShapeError, missing_method, shape_str
from ..activations import ACTIVATIONS, activation_name
from ...tutorial import TutorialCell
from ..base import Layer, initializer, register_layer, regularizer
from ...core.backend import convert
from ...core.checks import boolean, either, int_at_least, no_constraints, number, positive_int, short
from ..dense import _name


def keras_cell_options(owner, recurrent_activation, use_bias, *constraints) -> None:
    """Keras's recurrent arguments xdl takes only at their defaults."""
    if not isinstance(recurrent_activation, str) or recurrent_activation != "sigmoid":
        raise ArgumentError(f"{owner}: recurrent_activation must be 'sigmoid' (the gates' activation, Keras's "
                            f"default), got {short(recurrent_activation)}")
    if boolean(owner, "use_bias", use_bias) is False:
        raise ArgumentError(f"{owner}: use_bias=False is not supported by xdl's recurrent layers")
    no_constraints(owner, **dict(zip(("kernel_constraint", "recurrent_constraint", "bias_constraint"), constraints)))


class RecurrentCell(TutorialCell, Layer):
    """One step: ``cell.call(x, training, state=...)`` with x (N, F) gives the new state, and
    ``cell.forward(x, state, training=True)`` records the step for ``backward(dstate)`` (a
    hand-written loop: see tutorial.py's ``TutorialCell``).

    The state is h (N, H) for SimpleRNN and GRU cells and a tuple (h, c) for LSTM cells.

    ``activation`` is Keras's: the candidate activation, "tanh" (the default, and the only
    one LSTM and GRU cells take; see ``activations``). Keras's signature, ``units`` and
    ``activation`` first; xdl's ``hidden_size`` and ``input_size`` are keywords. Keras's
    defaults: ``recurrent_initializer="orthogonal"``, gates through the sigmoid. Taken only at
    their defaults: ``recurrent_activation="sigmoid"``, ``use_bias=True``, no constraints.
    """

    gates = 1  # blocks of H columns in the kernels
    sized_axes = ((-1, "input_size"),)
    state_names = ("h",)
    #: the ``activation`` names the cell supports (None: every name in ``ACTIVATIONS``)
    activations = ("tanh",)

    def __init__(self, units=None, activation="tanh", *, hidden_size=None, input_size=None,
                 recurrent_activation="sigmoid", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, name=None, dtype=None,
                 **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        kind = type(self).__name__
        owner = f"{kind} {self.name!r}"
        hidden_size = either(owner, "units", units, None, "hidden_size", hidden_size,
                             lambda key, value: positive_int(kind, key, value))
        if hidden_size is None:
            raise ArgumentTypeError(f"{owner}: units (xdl's hidden_size) is required, e.g. {kind}(32)")
        keras_cell_options(owner, recurrent_activation, use_bias, kernel_constraint, recurrent_constraint,
                           bias_constraint)
        if number(owner, "dropout", dropout, 0.0, 1.0, high_open=True) or number(
                owner, "recurrent_dropout", recurrent_dropout, 0.0, 1.0, high_open=True):
            raise ArgumentError(f"{owner}: dropout is not supported on a cell used alone; give dropout= to the "
                                "sequence layer (SimpleRNN, LSTM, GRU)")
        int_at_least(kind, "seed", seed, 0, optional=True)
        self.activation = activation_name(f"{kind} {self.name!r}", activation)
        if self.activations is not None and self.activation not in self.activations:
            raise ArgumentError(f"{kind} {self.name!r}: activation={activation!r} is not supported; it takes "
                                f"{' or '.join(map(repr, self.activations))} (its candidate activation). SimpleRNN "
                                "takes any of " + ", ".join(map(repr, ACTIVATIONS)))
        self.hidden_size = hidden_size
        self.input_size = positive_int(kind, "input_size", input_size, optional=True)
        self.initializer_names = {"kernel_initializer": kernel_initializer,
                                  "recurrent_initializer": recurrent_initializer,
                                  "bias_initializer": bias_initializer}
        for key, value in self.initializer_names.items():  # resolved in build: checked now
            initializer(f"{kind} {self.name!r}", key, value)
        for key, value in (("kernel_regularizer", kernel_regularizer), ("bias_regularizer", bias_regularizer),
                           ("recurrent_regularizer", recurrent_regularizer)):
            setattr(self, key, regularizer(f"{kind} {self.name!r}: {key}", value))
        if input_size is not None:
            self.build((input_size,))

    # -- parameters -----------------------------------------------------------------------
    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)
        self.input_size = input_shape[-1]
        be, names, columns = self.backend, self.initializer_names, self.gates * self.hidden_size
        init = {key: initializers.get(value) for key, value in names.items()}
        self.kernel = self.add_parameter(
            "kernel", init["kernel_initializer"](be, (self.input_size, columns), self.dtype),
            regularizer=self.kernel_regularizer)
        self.recurrent_kernel = self.add_parameter(
            "recurrent_kernel", init["recurrent_initializer"](be, (self.hidden_size, columns), self.dtype),
            regularizer=self.recurrent_regularizer)
        self.bias = self.add_parameter("bias", self.initial_bias(init["bias_initializer"]),
                                       regularizer=self.bias_regularizer)

    def initial_bias(self, init):
        return init(self.backend, (self.gates * self.hidden_size,), self.dtype)

    def check_input_shape(self, input_shape):
        if len(input_shape) != 1 or (self.input_size is not None and input_shape[0] != self.input_size):
            expected = f"(N, {self.input_size or 'features'})"
            raise ShapeError(f"{self.describe()}: expected input shape {expected} (one time step), "
                             f"got {shape_str(input_shape)}")

    def output_shape(self, input_shape):
        if len(self.state_names) > 1:  # one output per state, e.g. (h, c)
            return [(self.hidden_size,)] * len(self.state_names)
        return (self.hidden_size,)

    def get_config(self):
        names = {key: _name(value) for key, value in self.initializer_names.items()}
        return {**super().get_config(), "units": self.hidden_size, "input_size": self.input_size,
                "activation": self.activation, **names, **regularizers.configs(self)}

    def add_grads(self, x, h_prev, dxw, dhw):
        """Add the weight gradients from M rows: x (M, F), h_prev (M, H), dxw and dhw (M, G*H)."""
        be, params = self.backend, self._parameters
        params["kernel"].add_product(be, x.T, dxw)
        params["recurrent_kernel"].add_product(be, h_prev.T, dhw)
        params["bias"].add_row_sums(be, dxw)
        if "recurrent_bias" in params:
            params["recurrent_bias"].add_row_sums(be, dhw)

    # -- states ---------------------------------------------------------------------------
    def pack(self, states):
        """The state as users see it: h, or (h, c)."""
        return states[0] if len(states) == 1 else tuple(states)

    def unpack(self, state, n, what="state"):
        """A user's state (array, tuple or None) as a tuple of (n, H) arrays; None stays None."""
        if state is None:
            return (None,) * len(self.state_names)
        if isinstance(state, bool):
            raise ArgumentTypeError(f"{self.describe()}: {what} must be arrays, got {state!r}; "
                                    "pass training by keyword: forward(x, training=True)")
        parts = tuple(state) if isinstance(state, (tuple, list)) else (state,)
        if len(parts) != len(self.state_names):
            raise ArgumentError(f"{self.describe()}: {what} must be {self._state_form()}, "
                                f"got {len(parts)} arrays")
        out = []
        for label, part in zip(self.state_names, parts):
            part = None if part is None else convert(self.backend, part, self.dtype, f"{self.describe()}: {what}")
            if part is not None and tuple(part.shape) != (n, self.hidden_size):
                raise ShapeError(f"{self.describe()}: {what} {label} has shape {tuple(part.shape)}, "
                                 f"expected ({n}, {self.hidden_size})")
            out.append(part)
        return tuple(out)

    def _state_form(self):
        return "h" if len(self.state_names) == 1 else "(" + ", ".join(self.state_names) + ")"

    def fill(self, states, n):
        """Replace missing (None) state arrays with zeros (n, H)."""
        xp = self.backend.xp
        return tuple(xp.zeros((n, self.hidden_size), dtype=self.dtype, device=self.backend.device)
                     if s is None else s for s in states)

    # -- one step -------------------------------------------------------------------------
    def call(self, x, training=False, state=None):
        return self._step(x, state)[0]

    def apply(self, x, training=False, state=None):
        new_state, step_back = self._step(x, state)
        return new_state, lambda dstate, need_dx=True: step_back(dstate)[0]

    def _step(self, x, state):
        """The new state, and ``step_back(dstate) -> (dx, dstate_prev)``, which adds the
        step's weight gradients."""
        xp, n = self.backend.xp, x.shape[0]
        states = self.fill(self.unpack(state, n), n)
        _, final, cache = self.scan(xp.expand_dims(self.project(x), axis=1), states)

        def step_back(dstate):
            dstates = self.fill(self.unpack(dstate, n, "dstate"), n)
            dxw, dhw, dprev = self.scan_back(cache, None, dstates)
            dxw, dhw = dxw[:, 0, :], dhw[:, 0, :]
            self.add_grads(x, states[0], dxw, dhw)
            return dxw @ self.kernel.value.T, self.pack(dprev)

        return self.pack(final), step_back

    # -- what each cell implements ---------------------------------------------------------
    def project(self, x):
        """Input projections of rows x (M, F) -> (M, G*H), as ``scan`` takes them."""
        return x @ self.kernel.value + self.bias.value

    def scan(self, xw, states):
        """Run over time. xw (N, T, G*H): every step's ``project``-ed input; states:
        tuple of (N, H). Returns (hs (N, T, H), final states, cache for scan_back)."""
        raise missing_method(self, "scan(xw, states)")

    def scan_back(self, cache, dhs, dstates):
        """Backpropagation through time. dhs (N, T, H) or None: gradients of the outputs;
        dstates: of the final states. Returns (dxw, dhw, dstates_0): the gradients of the
        input projections and of the recurrent products (N, T, G*H), and of the first states."""
        raise missing_method(self, "scan_back(cache, dhs, dstates)")


def previous(xp, first, hs):
    """(N, T, H): the state entering each step, ``first`` then hs[:, :-1]."""
    return xp.concat([xp.expand_dims(first, axis=1), hs[:, :-1, :]], axis=1)


@register_layer
class SimpleRNNCell(RecurrentCell):
    """``h = activation(x @ kernel + h_prev @ recurrent_kernel + bias)``, tanh by default;
    another ``activation`` runs its layer's apply and backprop each step."""

    activations = None

    def build(self, input_shape):
        super().build(input_shape)
        name = self.activation
        self._act = None if name == "tanh" else ACTIVATIONS[name](name=f"{self.name}.{name}", dtype=self.dtype_name)
        if self._act is not None:
            self._act.build((self.hidden_size,))

    def scan(self, xw, states):
        xp, U, act = self.backend.xp, self.recurrent_kernel.value, self._act
        h, hs, backs = states[0], [], []
        for t in range(xw.shape[1]):
            z = xw[:, t, :] + h @ U
            if act is None:
                h = xp.tanh(z)
            else:
                h, back = act.apply(z)
                backs.append(back)
            hs.append(h)
        hs = xp.stack(hs, axis=1)
        return hs, (h,), (hs, backs)

    def scan_back(self, cache, dhs, dstates):
        xp, U_T = self.backend.xp, self.recurrent_kernel.value.T
        hs, backs = cache
        slope = None if backs else 1.0 - hs * hs  # tanh' for every step at once
        dh, dzs = dstates[0], [None] * hs.shape[1]
        for t in reversed(range(hs.shape[1])):
            if dhs is not None:
                dh = dh + dhs[:, t, :]
            dzs[t] = dh * slope[:, t, :] if slope is not None else backs[t](dh)
            dh = dzs[t] @ U_T
        dz = xp.stack(dzs, axis=1)
        return dz, dz, (dh,)
