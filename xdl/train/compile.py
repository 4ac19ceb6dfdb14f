"""What ``compile`` sets up: a loss (with its weight) and metrics for each model output.

A loss is a name ("mse"), a ``Loss`` (a built-in, or a subclass written Keras's way with
``call``) or a plain function ``fn(y_true, y_pred)`` written with ``xdl.ops`` (wrapped in a
``LossFunctionWrapper``: weighed and reduced as Keras does, its gradient from the tape). A
metric is a name, a ``Metric`` (statistics summed over batches, or Keras's variables and
``update_state``) or a function (its weighted mean).

One output: figures are named "loss" and by each metric ("accuracy"). Several outputs, as
Keras names them: "loss" (the weighted sum), "{output}_loss" for each output with a loss,
"{output}_{metric}" for each metric. Losses keep no state between calls, so one instance
given for every output serves them all; a Keras-style metric keeps state, so one given for
every output is copied for each.

An output made by ``Softmax`` (over its last axis) and scored by a cross-entropy, or made by
``Sigmoid`` and scored by a binary cross-entropy, is scored from the activation's input as
logits, whatever ``from_logits`` says: the stable fused form (Keras does the same for
probabilities), and a from-logits loss never squashes the probabilities a second time.
Predictions and metrics still see the activation's output.
"""

from __future__ import annotations

import copy
import functools
import math

from ..losses import fit_targets
from .. import losses
from .. import metrics as metrics_module
from ..core.backend import namespace_of
from ..errors import ArgumentError
from ..layers.activations import Sigmoid, Softmax

#: the output activation each loss class is fused with
FUSED = ((losses.CrossEntropy, Softmax), (losses.BinaryCrossEntropy, Sigmoid))


class Objectives:
    """Losses, weights and metrics per output (``output_names`` in the model's order)."""

    def __init__(self, output_names, loss="mse", metrics=None, loss_weights=None):
        self.output_names = list(output_names)
        self.several = len(self.output_names) > 1
        self.losses = self._per_output(loss, "loss", _loss_instances)
        self.scored = [k for k, loss in enumerate(self.losses) if loss is not None]
        if not self.scored:
            raise ArgumentError("compile: every output's loss is None; give at least one output a loss")
        weights = self._per_output(1.0 if loss_weights is None else loss_weights, "loss_weights", _weights)
        self.weights = [1.0 if w is None else w for w in weights]
        self._metric_specs = self._per_output([] if metrics is None else metrics, "metrics", _metric_list)
        for k, specs in enumerate(self._metric_specs):
            if specs and self.losses[k] is None:
                raise ArgumentError(f"compile: output {self.output_names[k]!r} has metrics but no loss; give it a "
                                    "loss (a weight of 0 keeps it out of the total)")
        self.scorers, self.slots, self.score_at = list(self.losses), None, list(range(len(self.losses)))
        self._build_metrics([loss for loss in self.losses])
        self.names = ["loss"]
        if self.several:
            self.names += [f"{self.output_names[k]}_loss" for k in self.scored]
        self.names += [f"{self.output_names[k]}_{m.name}" if self.several else m.name for k, m in self.metric_pairs]
        if len(set(self.names)) != len(self.names):
            raise ArgumentError(f"compile: figures would share names: {self.names}")

    def _per_output(self, value, what, make):
        """A list with one entry per output from one value, a list or a dict by output name."""
        names, n = self.output_names, len(self.output_names)
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ArgumentError(f"compile: {what} names unknown outputs {unknown}; the outputs are {names}")
            return [make(value.get(name), k, what) for k, name in enumerate(names)]
        if what == "metrics":  # a list of lists is per output; a flat list serves every output
            listed = (n > 1 and isinstance(value, (list, tuple)) and len(value) == n
                      and all(v is None or isinstance(v, (list, tuple)) for v in value))
        else:
            listed = isinstance(value, (list, tuple))
            if listed and len(value) != n:
                raise ArgumentError(f"compile: {what} is a list of {len(value)} for a model with {n} output(s) {names}")
        return [make(value[k] if listed else value, k, what) for k in range(n)]

    def _build_metrics(self, losses_seen_by_outputs):
        """The metrics per output; a Keras-style metric (state in its variables) given once for
        several outputs is copied for each output after the first: each keeps its own state."""
        taken, self.metrics = set(), []
        for specs, loss in zip(self._metric_specs, losses_seen_by_outputs):
            ms = []
            for spec in specs:
                m = metrics_module.get(spec, loss)
                if m.keras_style():
                    m = copy.deepcopy(m) if id(m) in taken else m
                    taken.add(id(m))
                ms.append(m)
            self.metrics.append(ms)
        self.metric_pairs = [(k, m) for k, ms in enumerate(self.metrics) for m in ms]

    def bind(self, graph):
        """Where each output's loss reads: the output's slot, or for an output fused with its
        activation (see the module doc) the activation's input."""
        self.slots, self.score_at, self.scorers = list(graph.output_slots), list(range(len(self.losses))), []
        seen = []
        for k, loss in enumerate(self.losses):
            step, scorer = graph.producer(k), loss
            fused = loss is not None and step is not None and not loss.keras_style() and any(
                isinstance(loss, kind) and isinstance(step.layer, act) and _last_axis(step.layer, graph, k)
                for kind, act in FUSED)
            if fused:
                scorer = copy.copy(loss)
                scorer.from_logits = True
                self.score_at[k] = len(self.slots)
                self.slots.append(step.arg)
            self.scorers.append(scorer)
            seen.append(_as_probabilities(loss) if fused else loss)
        self._build_metrics(seen)

    # -- computing -------------------------------------------------------------------------
    def value_and_grad(self, ys, values, weights=None, masks=None, grad=True):
        """``(figures, gradients, weights)`` of a batch, nothing kept between calls. ``values``:
        the graph's values at ``slots`` (the outputs first); ``weights``: None or sample weights
        per output (see ``split_weights``); ``masks``: None, or the values' masks
        (Graph.run): masked positions do not count (``mask_weights``).

        ``figures``: ``[total]``, then each scored output's loss when there are several (0-d
        arrays); ``gradients``: the total's gradient w.r.t. the values at each of ``slots``
        (None where no loss reads; all None with ``grad=False``); ``weights``: what the batch's
        metrics must count with (the masks' weights where there are masks)."""
        if masks is not None:
            from_masks = self.mask_weights(masks, weights, values)
            weights = weights if from_masks is None else from_masks
        total, parts = None, []
        grads = [None] * (len(self.slots) if self.slots is not None else len(self.losses))
        for k in self.scored:
            w, factor = None if weights is None else weights[k], self.weights[k]
            value, g = self.scorers[k].value_and_grad(ys[k], values[self.score_at[k]], w, grad and factor != 0.0)
            parts.append(value)
            term = value if factor == 1.0 else value * factor
            total = term if total is None else total + term
            if g is not None:
                grads[self.score_at[k]] = g if factor == 1.0 else g * factor
        return ([total] + parts if self.several else [total]), grads, weights

    def mask_weights(self, masks, weights, values):
        """Per output: weights that make a masked mean of a mean over positions, ``m * count /
        sum(m)`` for the output's mask m (Keras's apply_mask; count = m's size), times the
        output's sample weights; the output's sample weights where it has no mask. None when
        no output has a mask."""
        if all(m is None for m in masks[:len(self.output_names)]):
            return None
        out = []
        for k in range(len(self.output_names)):
            m, w = masks[self.score_at[k]], None if weights is None else weights[k]
            if m is not None:
                xp = namespace_of(m)
                m = xp.astype(m, values[self.score_at[k]].dtype)
                valid = xp.sum(m)  # 0 only when every position is masked: then m is all zeros
                m = m * (math.prod(m.shape) / xp.where(valid > 0, valid, 1.0))
                if w is not None:
                    m = m * losses.weights_for(xp, w, m.ndim)
                w = m
            out.append(w)
        return out

    def metric_statistics(self, ys, outs, weights=None):
        """Each metric's batch statistics (lists to sum over batches: see metrics/base.py);
        for a Keras-style metric, its ``update_state`` on the batch, to run when the running
        figures take the batch (``Tally.add``: after a reset, never before). ``weights``: what
        ``value_and_grad`` returned for the batch."""
        out, aligned = [], {}
        for k, m in self.metric_pairs:
            w = None if weights is None else weights[k]
            if m.keras_style():
                out.append(functools.partial(m.update_state, ys[k], outs[k], sample_weight=w))
            else:  # targets (N,) against outputs (N, 1) as Keras's metrics read them, once per output
                if k not in aligned:
                    aligned[k] = fit_targets(None, ys[k], outs[k])
                out.append(m.statistics(aligned[k], outs[k], w))
        return out

    def split_weights(self, sample_weight, where):
        """Sample weights per output: one array for every output, or a list/dict by output
        name (None where an output has none); None without weights."""
        if sample_weight is None:
            return None
        if self.several and isinstance(sample_weight, dict):
            parts = [sample_weight.get(name) for name in self.output_names]
        elif self.several and isinstance(sample_weight, (list, tuple)):
            if len(sample_weight) != len(self.output_names):
                raise ArgumentError(f"{where}: sample_weight is a list of {len(sample_weight)} for the model's "
                                    f"{len(self.output_names)} outputs {self.output_names}")
            parts = list(sample_weight)
        else:
            return [sample_weight] * len(self.output_names)
        return None if all(p is None for p in parts) else parts

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
                raise ArgumentError(f"{where}: y names unknown outputs {unknown}; the outputs are {names}")
            parts = [y.get(name) for name in names]
        elif isinstance(y, (list, tuple)) and len(y) == n:
            parts = list(y)
        else:
            raise ArgumentError(f"{where}: the model has {n} outputs {names}: pass y as a list of {n} arrays or "
                                "a dict by output name")
        for k in self.scored:
            if parts[k] is None:
                raise ArgumentError(f"{where}: no targets for output {names[k]!r}, which has a loss")
        return [part if k in self.scored else None for k, part in enumerate(parts)]

    # -- files -----------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"losses": [None if loss is None else _spec(loss) for loss in self.losses],
                "loss_weights": list(self.weights),
                "metrics": [[_spec(m) for m in ms] for ms in self.metrics]}


def _metric_list(value, k, what):
    if value is None:
        return []
    return [value] if isinstance(value, str) or not isinstance(value, (list, tuple)) else list(value)


def _last_axis(layer, graph, k):
    """Whether ``layer`` (Softmax's axis) acts on the last axis of output ``k``."""
    axis = getattr(layer, "axis", -1)
    return axis == -1 or axis == len(graph.outputs[k].sample_shape)


def _as_probabilities(loss):
    """The loss as metrics should read the output: probabilities (binary accuracy at 0.5)."""
    seen = copy.copy(loss)
    seen.from_logits = False
    return seen


def _spec(obj):
    return {"class": type(obj).__name__, "config": obj.get_config()}


def _one_of(y, name, where):
    if set(y) != {name}:
        raise ArgumentError(f"{where}: y is a dict with keys {sorted(y)}; the model's output is {name!r}")
    return y[name]


def _loss_instances(value, k, what):
    if value is None:
        return None
    loss = losses.get(value)
    if loss.keras_style() and loss.reduction in (None, "none"):
        raise ArgumentError(f"compile: {loss!r} has reduction={loss.reduction!r}, one loss per value; training "
                            "needs one number: use reduction='sum_over_batch_size' (the default) or 'sum'")
    return loss


def _weights(value, k, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ArgumentError(f"compile: loss_weights must be finite numbers >= 0, got {value!r}")
    return float(value)
