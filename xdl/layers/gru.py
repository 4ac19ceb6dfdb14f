"""GRUCell: the gated recurrent unit step (reset gate applied after the product, as in
PyTorch and cuDNN, Keras' ``reset_after=True``)."""

from __future__ import annotations

from .. import initializers
from .base import register_layer
from .cells import RecurrentCell, previous


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
        h, h0 = states[0], states[0]
        rzs, ns, hwns, hs = [], [], [], []
        for t in range(xw.shape[1]):
            x_t, hw = xw[:, t, :], h @ U + bh
            rz = 0.5 * xp.tanh(0.5 * (x_t[:, :2 * H] + hw[:, :2 * H])) + 0.5
            hw_n = hw[:, 2 * H:]
            n = xp.tanh(x_t[:, 2 * H:] + rz[:, :H] * hw_n)
            h = n + rz[:, H:] * (h - n)
            rzs.append(rz), ns.append(n), hwns.append(hw_n), hs.append(h)
        hs = xp.stack(hs, axis=1)
        return hs, (h,), (xp.stack(rzs, axis=1), xp.stack(ns, axis=1), xp.stack(hwns, axis=1), h0, hs)

    def scan_back(self, cache, dhs, dstates):
        xp, H = self.backend.xp, self.hidden_size
        rz, n, hw_n, h0, hs = cache
        r, z = rz[..., :H], rz[..., H:]
        # per-step gradients are dh times these factors, computed for all steps at once
        dn = (1.0 - z) * (1.0 - n * n)
        dr = dn * hw_n * r * (1.0 - r)
        dz = (previous(xp, h0, hs) - n) * z * (1.0 - z)
        to_xw = xp.concat([dr, dz, dn], axis=-1)
        to_hw = xp.concat([dr, dz, dn * r], axis=-1)
        U_T = self.recurrent_kernel.value.T
        dh, dxws, dhws = dstates[0], [None] * n.shape[1], [None] * n.shape[1]
        for t in reversed(range(n.shape[1])):
            if dhs is not None:
                dh = dh + dhs[:, t, :]
            dh3 = xp.concat([dh, dh, dh], axis=1)
            dxws[t], dhws[t] = dh3 * to_xw[:, t, :], dh3 * to_hw[:, t, :]
            dh = dh * z[:, t, :] + dhws[t] @ U_T
        return xp.stack(dxws, axis=1), xp.stack(dhws, axis=1), (dh,)

