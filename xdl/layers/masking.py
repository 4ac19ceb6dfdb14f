"""Masks for padded batches: ``Masking(mask_value)``, and how a mask travels.

A mask is a boolean array over a sequence's leading axes, (N, T), True where a step counts.
``Masking`` and ``Embedding(mask_zero=True)`` make one; layers with ``supports_masking`` pass
it on (``Layer.compute_mask``: Dense, activations, Dropout, LayerNorm) or read it
(``Layer.apply_masked``):

- recurrent layers (SimpleRNN, LSTM, GRU) keep their state over a masked step, so a padded
  sequence ends in the state it would have alone; with ``return_sequences`` a masked step's
  output repeats the previous step's (zeros before the first), as Keras's default
  ``zero_output_for_mask=False`` does, or is zero with ``zero_output_for_mask=True``
  (``Bidirectional`` sets it, as Keras does); the mask goes on with ``return_sequences``
  and stops otherwise;
- the loss and the metrics leave masked positions out: each is the mean over the steps that
  count (Keras's ``apply_mask``).

A model runs its mask-aware loop only when some layer makes a mask (``Graph.masked``); other
models run exactly as before. A mask reaching a layer without ``supports_masking`` stops
there, with a warning (as in Keras 3).
"""

from __future__ import annotations

from ..core.backend import namespace_of
from ..core.checks import number
from ..errors import ShapeError, shape_str
from .base import Layer, register_layer


@register_layer
class Masking(Layer):
    """(N, T, F) -> (N, T, F): steps whose features all equal ``mask_value`` are masked for
    the layers after it and set to zero (as in Keras); the others pass unchanged."""

    supports_masking = True

    def __init__(self, mask_value=0.0, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.mask_value = number("Masking", "mask_value", mask_value, low=-float("inf"))

    def check_input_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ShapeError(f"{self.describe()}: expected input shape (N, T, features), got "
                             f"{shape_str(input_shape)}")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def compute_mask(self, x, mask):
        keep = self.backend.xp.any(x != self.mask_value, axis=-1)
        return keep if mask is None else self.backend.xp.logical_and(keep, mask)

    def output_masked(self, masked):
        return True

    def apply(self, x, training=False):
        y, _, backprop = self.apply_masked(x, None, training)
        return y, backprop

    def apply_masked(self, x, mask, training=False):
        xp = self.backend.xp
        keep = self.compute_mask(x, mask)
        scale = xp.astype(keep, x.dtype)[..., None]

        def backprop(dy, need_dx=True):
            return dy * scale if need_dx else None

        return x * scale, keep, backprop

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


# -- recurrent layers over masked steps (recurrent.py calls these when a mask comes) ------------
def masked_scan(cell, xw, states, mask, zero_output):
    """``cell.scan`` one step at a time, keeping the states where ``mask`` (N, T) is False.
    Outputs as Keras gives them: a masked step repeats the previous output (zeros before the
    first), or is zero with ``zero_output``. Returns (outputs (N, T, H), final states, the h
    entering each step (N, T, H), per-step caches)."""
    xp = namespace_of(xw)
    outs, entering, caches = [], [], []
    out = xp.zeros_like(states[0])
    for t in range(xw.shape[1]):
        entering.append(states[0])
        _, new, cache = cell.scan(xw[:, t:t + 1, :], states)
        keep = mask[:, t:t + 1]
        states = tuple(xp.where(keep, a, b) for a, b in zip(new, states))
        out = xp.where(keep, new[0], 0.0 if zero_output else out)
        outs.append(out)
        caches.append(cache)
    return xp.stack(outs, axis=1), states, xp.stack(entering, axis=1), caches


def masked_scan_back(cell, caches, mask, dhs, dstates, zero_output):
    """Backpropagation through ``masked_scan``: ``(dxw, dhw, dstates_0)`` as ``cell.scan_back``
    gives them; masked steps get no gradient, their states' gradients pass straight through."""
    xp = namespace_of(dstates[0])
    keep = xp.astype(mask, dstates[0].dtype)[..., None]  # (N, T, 1)
    dxws, dhws, carry = [None] * len(caches), [None] * len(caches), None
    for t in reversed(range(len(caches))):
        m = keep[:, t, :]
        dout = carry if dhs is None else (dhs[:, t, :] if carry is None else dhs[:, t, :] + carry)
        carry = None if zero_output or dout is None else dout * (1.0 - m)  # to the output it repeats
        dnew = None if dout is None else xp.expand_dims(dout * m, axis=1)
        dxw, dhw, dprev = cell.scan_back(caches[t], dnew, tuple(d * m for d in dstates))
        dxws[t], dhws[t] = dxw[:, 0, :], dhw[:, 0, :]
        dstates = tuple(a + d * (1.0 - m) for a, d in zip(dprev, dstates))
    return xp.stack(dxws, axis=1), xp.stack(dhws, axis=1), dstates
