"""``sample_weight`` and ``class_weight`` for ``fit`` and ``evaluate``, as Keras defines them.

A sample's weight multiplies its loss terms; a batch's loss is still divided by the number of
terms (Keras's default reduction "sum_over_batch_size": ``sum(w * loss) / N``), so weights
scale the loss and its gradient. Metrics are weighted means, ``sum(w * value) / sum(w)``
(Keras's ``Mean``), and counts (true positives, ...) sums of weights. ``class_weight={class:
weight}`` gives each sample the weight of its class (integer labels, the arg-max of one-hot
rows, or rounded binary targets; classes not named weigh 1), as Keras turns it into sample
weights; it cannot be combined with ``sample_weight`` and serves a model with one output.
"""

from __future__ import annotations

import math

from ..core.backend import convert
from ..errors import ArgumentError, ArgumentTypeError, ShapeError


def sample_weights(model, sample_weight, class_weight, ys, n, where):
    """Per-output weights on the device (None where an output has none), or None."""
    if sample_weight is not None and class_weight is not None:
        raise ArgumentError(f"{where}: pass sample_weight or class_weight, not both (as Keras); multiply your "
                            "class weights into sample_weight instead")
    if class_weight is not None:
        return [_from_classes(model, class_weight, ys, where)]
    objectives = model.objectives
    parts = objectives.split_weights(sample_weight, where)
    if parts is None:
        return None
    out = []
    for k, w in enumerate(parts):
        if w is None or k not in objectives.scored:
            out.append(None)
            continue
        w = convert(model.backend, w, model.output_dtype(k), f"{where}: sample_weight")
        target = ys[k]
        if w.ndim == 0 or w.shape[0] != n or w.ndim > target.ndim or tuple(w.shape) != tuple(target.shape[:w.ndim]):
            raise ShapeError(f"{where}: sample_weight has shape {tuple(w.shape)}; it must be ({n},), one weight per "
                             f"sample (or the leading axes of the targets, {tuple(target.shape)})")
        out.append(w)
    return out if any(w is not None for w in out) else None


def _from_classes(model, class_weight, ys, where):
    objectives = model.objectives
    if objectives.several:
        raise ArgumentError(f"{where}: class_weight serves a model with one output (as in Keras); for several, "
                            "pass sample_weight per output")
    if not isinstance(class_weight, dict) or not class_weight:
        raise ArgumentTypeError(f"{where}: class_weight must be a non-empty dict {{class index: weight}}, got "
                                f"{class_weight!r}")
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, int) or key < 0:
            raise ArgumentError(f"{where}: class_weight keys must be class indices (integers >= 0), got {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ArgumentError(f"{where}: class_weight[{key}] must be a finite number, got {value!r}")
    be, xp, t = model.backend, model.backend.xp, ys[0]
    width = model.graph.outputs[0].sample_shape[-1] if model.graph.outputs[0].sample_shape else 1
    size = max(max(class_weight) + 1, int(width or 1), 2)
    table = convert(be, [float(class_weight.get(i, 1.0)) for i in range(size)], model.output_dtype(0),
                    f"{where}: class_weight")
    if xp.isdtype(t.dtype, "integral"):
        labels = t
    elif t.ndim >= 2 and t.shape[-1] > 1:
        labels = xp.argmax(t, axis=-1)
    else:
        labels = xp.round(t)
    if labels.ndim >= 2 and labels.shape[-1] == 1 and labels.ndim == t.ndim:
        labels = labels[..., 0]
    labels = xp.astype(labels, xp.int64)
    labels = xp.where(labels < 0, 0, xp.where(labels >= size, size - 1, labels))  # binary targets out of [0, 1]
    return xp.reshape(xp.take(table, xp.reshape(labels, (-1,)), axis=0), labels.shape)
