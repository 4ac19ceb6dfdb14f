"""LSTMCell: the long short-term memory step, with gates batched into one product."""

from __future__ import annotations

from .base import register_layer
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

    def __init__(self, hidden_size=None, input_size=None, *, unit_forget_bias=True, **kwargs):
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(hidden_size, input_size, **kwargs)

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
        xp, H = self.backend.xp, self.hidden_size
        U, scale2 = self.recurrent_kernel.value * self.scale, self.scale * self.scale
        (h, c), hs, cache = states, [], []
        for t in range(xw.shape[1]):
            s = xp.tanh(xw[:, t, :] + h @ U)
            ifo = 0.5 * s[:, :3 * H] + 0.5
            c_prev, c = c, ifo[:, H:2 * H] * c + ifo[:, :H] * s[:, 3 * H:]
            tc = xp.tanh(c)
            h = ifo[:, 2 * H:] * tc
            hs.append(h)
            # for backward, per step while the arrays are small and in cache: the gates'
            # pre-activation gradient is [dc, dc, dh, dc] * factor, where (1 - s*s) * scale**2
            # is each gate's derivative: 0.25 (1 - s^2) for the sigmoids, 1 - g^2 for g
            factor = xp.concat([s[:, 3 * H:], c_prev, tc, ifo[:, :H]], axis=1) * ((1.0 - s * s) * scale2)
            cache.append((factor, ifo[:, 2 * H:] * (1.0 - tc * tc), ifo[:, H:2 * H]))
        return xp.stack(hs, axis=1), (h, c), cache

    def scan_back(self, cache, dhs, dstates):
        xp, U_T = self.backend.xp, self.recurrent_kernel.value.T
        (dh, dc), dzs = dstates, [None] * len(cache)
        for t in reversed(range(len(cache))):
            factor, dc_dh, f = cache[t]
            if dhs is not None:
                dh = dh + dhs[:, t, :]
            dc = dc + dh * dc_dh
            dzs[t] = xp.concat([dc, dc, dh, dc], axis=1) * factor
            dh = dzs[t] @ U_T
            dc = dc * f
        dz = xp.stack(dzs, axis=1)
        return dz, dz, (dh, dc)
