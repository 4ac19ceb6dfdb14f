"""GRUCell: the gated recurrent unit step (reset gate applied after the product, as in
PyTorch and cuDNN, Keras' ``reset_after=True``)."""

from __future__ import annotations

from .. import initializers
from .base import register_layer
from .cells import RecurrentCell


@register_layer
class GRUCell(RecurrentCell):
    """``r, z = sigmoid(xw + hw)``, ``n = tanh(xw_n + r * hw_n)``, ``h = (1 - z) * n + z * h_prev``.

    ``xw = x @ kernel + bias`` and ``hw = h_prev @ recurrent_kernel + recurrent_bias``; the
    columns hold the gates in the order r, z, n.
    """

    gates = 3

    def build(self, input_shape):
        super().build(input_shape)
        init = self.initializer_names["bias_initializer"]
        self.recurrent_bias = self.add_parameter("recurrent_bias", self.initial_bias(initializers.get(init)))

    def scan(self, xw, states):
        xp, H = self.backend.xp, self.hidden_size
        U, bh = self.recurrent_kernel.value, self.recurrent_bias.value
        h, hs, cache = states[0], [], []
        for t in range(xw.shape[1]):
            x_t, hw = xw[:, t, :], h @ U + bh
            rz = 0.5 * xp.tanh(0.5 * (x_t[:, :2 * H] + hw[:, :2 * H])) + 0.5
            r, z, hw_n = rz[:, :H], rz[:, H:], hw[:, 2 * H:]
            n = xp.tanh(x_t[:, 2 * H:] + r * hw_n)
            h_prev, h = h, n + z * (h - n)
            hs.append(h)
            # for backward, per step while the arrays are small: the gradients of the input
            # and recurrent pre-activations are dh (three times) times these factors
            dn = (1.0 - z) * (1.0 - n * n)
            dr, dz = dn * hw_n * r * (1.0 - r), (h_prev - n) * z * (1.0 - z)
            cache.append((xp.concat([dr, dz, dn], axis=1), xp.concat([dr, dz, dn * r], axis=1), z))
        return xp.stack(hs, axis=1), (h,), cache

    def scan_back(self, cache, dhs, dstates):
        xp, U_T = self.backend.xp, self.recurrent_kernel.value.T
        dh, dxws, dhws = dstates[0], [None] * len(cache), [None] * len(cache)
        for t in reversed(range(len(cache))):
            to_xw, to_hw, z = cache[t]
            if dhs is not None:
                dh = dh + dhs[:, t, :]
            dh3 = xp.concat([dh, dh, dh], axis=1)
            dxws[t], dhws[t] = dh3 * to_xw, dh3 * to_hw
            dh = dh * z + dhws[t] @ U_T
        return xp.stack(dxws, axis=1), xp.stack(dhws, axis=1), (dh,)
