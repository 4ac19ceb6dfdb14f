"""LSTMCell: the long short-term memory step, with gates batched into one product."""

from __future__ import annotations

from .base import register_layer
from .cells import RecurrentCell, previous


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
        U = self.recurrent_kernel.value * self.scale
        (h, c), c0 = states, states[1]
        ss, cs, tcs, hs = [], [], [], []
        for t in range(xw.shape[1]):
            s = xp.tanh(xw[:, t, :] + h @ U)
            ifo = 0.5 * s[:, :3 * H] + 0.5
            c = ifo[:, H:2 * H] * c + ifo[:, :H] * s[:, 3 * H:]
            tc = xp.tanh(c)
            h = ifo[:, 2 * H:] * tc
            ss.append(s), cs.append(c), tcs.append(tc), hs.append(h)
        cache = (xp.stack(ss, axis=1), xp.stack(cs, axis=1), c0, xp.stack(tcs, axis=1))
        return xp.stack(hs, axis=1), (h, c), cache

    def scan_back(self, cache, dhs, dstates):
        xp, H = self.backend.xp, self.hidden_size
        s, cs, c0, tc = cache
        ifo = 0.5 * s[..., :3 * H] + 0.5
        i, f, o, g = ifo[..., :H], ifo[..., H:2 * H], ifo[..., 2 * H:], s[..., 3 * H:]
        # what does not depend on the incoming gradient, for all steps at once: the gates'
        # pre-activation gradient is [dc, dc, dh, dc] * factors[t] * scale**2, and the
        # scale**2 is applied once at the end (and folded into the recurrent kernel meanwhile)
        factors = xp.concat([g, previous(xp, c0, cs), tc, i], axis=-1) * (1.0 - s * s)
        dc_dh = o * (1.0 - tc * tc)
        scale2 = self.scale * self.scale
        U_T = (self.recurrent_kernel.value * scale2).T
        (dh, dc), dzs = dstates, [None] * s.shape[1]
        for t in reversed(range(s.shape[1])):
            if dhs is not None:
                dh = dh + dhs[:, t, :]
            dc = dc + dh * dc_dh[:, t, :]
            dzs[t] = xp.concat([dc, dc, dh, dc], axis=1) * factors[:, t, :]
            dh = dzs[t] @ U_T
            dc = dc * f[:, t, :]
        dz = xp.stack(dzs, axis=1) * scale2
        return dz, dz, (dh, dc)
