"""What ``compile`` sets up: a loss (with its weight) and metrics for each model output.

One output: figures are named "loss" and by each metric ("accuracy"). Several outputs, as
Keras names them: "loss" (the weighted sum), "{output}_loss" for each output with a loss,
"{output}_{metric}" for each metric. Each output gets its own ``Loss`` instance, because a
loss keeps its last call's values for ``backward``.
"""

from __future__ import annotations

import copy
import math

from . import losses
from . import metrics as metrics_module


class Objectives:
    """Losses, weights and metrics per output (``output_names`` in the model's order)."""

    def __init__(self, output_names, loss="mse", metrics=None, loss_weights=None):
        self.output_names = list(output_names)
        self.several = len(self.output_names) > 1
        self.losses = self._per_output(loss, "loss", _loss_instances)
        self.scored = [k for k, loss in enumerate(self.losses) if loss is not None]
        if not self.scored:
            raise ValueError("compile: every output's loss is None; give at least one output a loss")
        weights = self._per_output(1.0 if loss_weights is None else loss_weights, "loss_weights", _weights)
        self.weights = [1.0 if w is None else w for w in weights]
        self.metrics = self._per_output([] if metrics is None else metrics, "metrics", self._metrics_for)
        self.metric_pairs = [(k, m) for k, ms in enumerate(self.metrics) for m in ms]
        self.names = ["loss"]
        if self.several:
            self.names += [f"{self.output_names[k]}_loss" for k in self.scored]
        self.names += [f"{self.output_names[k]}_{m.name}" if self.several else m.name for k, m in self.metric_pairs]
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"compile: figures would share names: {self.names}")

    def _per_output(self, value, what, make):
        """A list with one entry per output from one value, a list or a dict by output name."""
        names, n = self.output_names, len(self.output_names)
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ValueError(f"compile: {what} names unknown outputs {unknown}; the outputs are {names}")
            return [make(value.get(name), k, what) for k, name in enumerate(names)]
        if what == "metrics":  # a list of lists is per output; a flat list serves every output
            listed = (n > 1 and isinstance(value, (list, tuple)) and len(value) == n
                      and all(v is None or isinstance(v, (list, tuple)) for v in value))
        else:
            listed = isinstance(value, (list, tuple))
            if listed and len(value) != n:
                raise ValueError(f"compile: {what} is a list of {len(value)} for a model with {n} output(s) {names}")
        return [make(value[k] if listed else value, k, what) for k in range(n)]

    def _metrics_for(self, value, k, what):
        if value is None:
            return []
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            value = [value]
        return [metrics_module.get(m, self.losses[k]) for m in value]

    # -- computing -------------------------------------------------------------------------
    def loss_values(self, ys, outs):
        """``[total]``, then each scored output's loss when there are several: 0-d arrays."""
        total, parts = None, []
        for k in self.scored:
            value = self.losses[k].call(ys[k], outs[k])
            parts.append(value)
            w = self.weights[k]
            term = value if w == 1.0 else value * w
            total = term if total is None else total + term
        return [total] + parts if self.several else [total]

    def gradients(self):
        """The gradient of the total loss w.r.t. each output (None for outputs without a loss),
        after ``loss_values``."""
        douts = [None] * len(self.losses)
        for k in self.scored:
            w = self.weights[k]
            if w != 0.0:
                g = self.losses[k].backward()
                douts[k] = g if w == 1.0 else g * w
        return douts

    def metric_values(self, ys, outs):
        return [m(ys[k], outs[k]) for k, m in self.metric_pairs]

    def split(self, y, where):
        """Targets as a list per output, from one array, a list or a dict by output name;
        None where an output has no loss (and none was given)."""
        names, n = self.output_names, len(self.output_names)
        if not self.several:
            if isinstance(y, dict):
                y = _one_of(y, names[0], where)
            return [y]
        if isinstance(y, dict):
            unknown = sorted(set(y) - set(names))
            if unknown:
                raise ValueError(f"{where}: y names unknown outputs {unknown}; the outputs are {names}")
            parts = [y.get(name) for name in names]
        elif isinstance(y, (list, tuple)) and len(y) == n:
            parts = list(y)
        else:
            raise ValueError(f"{where}: the model has {n} outputs {names}: pass y as a list of {n} arrays or "
                             "a dict by output name")
        for k in self.scored:
            if parts[k] is None:
                raise ValueError(f"{where}: no targets for output {names[k]!r}, which has a loss")
        return [part if k in self.scored else None for k, part in enumerate(parts)]

    # -- files -----------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"losses": [None if loss is None else _spec(loss) for loss in self.losses],
                "loss_weights": list(self.weights),
                "metrics": [[_spec(m) for m in ms] for ms in self.metrics]}


def _spec(obj):
    return {"class": type(obj).__name__, "config": obj.get_config()}


def _one_of(y, name, where):
    if set(y) != {name}:
        raise ValueError(f"{where}: y is a dict with keys {sorted(y)}; the model's output is {name!r}")
    return y[name]


def _loss_instances(value, k, what):
    if value is None:
        return None
    loss = losses.get(value)
    return copy.copy(loss) if k > 0 and loss is value else loss  # an instance given once serves every output


def _weights(value, k, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"compile: loss_weights must be finite numbers >= 0, got {value!r}")
    return float(value)
