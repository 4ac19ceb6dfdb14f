"""GRUCell: the gated recurrent unit step (reset gate applied after the product, as in
PyTorch and cuDNN, Keras' ``reset_after=True``)."""

from __future__ import annotations

from ...core import initializers
from ...core.checks import boolean
from ...errors import ArgumentError
from ..base import register_layer
from .cells import RecurrentCell


@register_layer
class GRUCell(RecurrentCell):
    """``r, z = sigmoid(xw + hw)``, ``n = tanh(xw_n + r * hw_n)``, ``h = (1 - z) * n + z * h_prev``.

    ``xw = x @ kernel + bias`` and ``hw = h_prev @ recurrent_kernel + recurrent_bias``; the
    columns hold the gates in the order r, z, n.
    """

    def __init__(self, units=None, activation="tanh", *, reset_after=True, **kwargs):
        super().__init__(units, activation, **kwargs)
        if boolean(type(self).__name__, "reset_after", reset_after) is False:
            raise ArgumentError(f"{self.describe()}: reset_after=False (Keras 2's GRU) is not supported; xdl's GRU "
                                "applies the reset gate after the recurrent product (reset_after=True, Keras 3's "
                                "default, PyTorch's and cuDNN's)")

    gates = 3

    def build(self, input_shape):
        super().build(input_shape)
        init = self.initializer_names["bias_initializer"]
        self.recurrent_bias = self.add_parameter("recurrent_bias", self.initial_bias(initializers.get(init)),
                                                 regularizer=self.bias_regularizer)  # Keras's GRU: one bias

    def scan(self, xw, states):
        # the loop over time is the backend's (Backend.gru_scan)
        return self.backend.gru_scan(xw, states[0], self.recurrent_kernel.value, self.recurrent_bias.value)

    def scan_back(self, cache, dhs, dstates):
        dxw, dhw, dh = self.backend.gru_scan_back(cache, dhs, dstates[0], self.recurrent_kernel.value.T)
        return dxw, dhw, (dh,)
