"""LSTMCell: the long short-term memory step, with gates batched into one product."""

from __future__ import annotations

from ...core.checks import boolean
from ..base import register_layer
from .cells import RecurrentCell


@register_layer
class LSTMCell(RecurrentCell):
    """``i, f, o = sigmoid(.)``, ``g = tanh(.)``, ``c = f * c_prev + i * g``, ``h = o * tanh(c)``.

    Kernel columns hold the gates in the order i, f, o, g: the three sigmoids first, so one
    ``tanh`` covers all four (``sigmoid(z) = (tanh(z / 2) + 1) / 2``). With
    ``unit_forget_bias`` (default) the forget gate's bias starts at 1, as in Keras.
    """

    gates = 4
    state_names = ("h", "c")

    def __init__(self, units=None, activation="tanh", *, unit_forget_bias=True, **kwargs):
        self.unit_forget_bias = boolean(type(self).__name__, "unit_forget_bias", unit_forget_bias)
        super().__init__(units, activation, **kwargs)

    def build(self, input_shape):
        super().build(input_shape)
        xp, H, be = self.backend.xp, self.hidden_size, self.backend
        # z * scale halves the sigmoid gates' pre-activations, so tanh(z * scale) gives all four
        self.scale = xp.concat([xp.full((3 * H,), 0.5, dtype=self.dtype, device=be.device),
                                xp.ones((H,), dtype=self.dtype, device=be.device)])

    def initial_bias(self, init):
        b = super().initial_bias(init)
        if not self.unit_forget_bias:
            return b
        xp, H, device = self.backend.xp, self.hidden_size, self.backend.device
        blocks = [xp.zeros((H,), dtype=self.dtype, device=device),
                  xp.ones((H,), dtype=self.dtype, device=device),
                  xp.zeros((2 * H,), dtype=self.dtype, device=device)]
        return b + xp.concat(blocks)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}

    def project(self, x):
        # pre-activations come scaled, z * scale, so each step is one product and one tanh
        return x @ (self.kernel.value * self.scale) + self.bias.value * self.scale

    def scan(self, xw, states):
        # the loop over time is the backend's (Backend.lstm_scan): one fused form per library
        U = self.recurrent_kernel.value * self.scale
        return self.backend.lstm_scan(xw, *states, U, self.scale * self.scale)

    def scan_back(self, cache, dhs, dstates):
        dz, dh, dc = self.backend.lstm_scan_back(cache, dhs, *dstates, self.recurrent_kernel.value.T)
        return dz, dz, (dh, dc)
