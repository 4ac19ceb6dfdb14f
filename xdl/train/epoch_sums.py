"""The running figures of an epoch: each batch's mean losses (weighted by its rows) and each
metric's statistics, kept as the device arrays the step made and summed only when the figures
are read, so that a training step spends no kernel on them; one transfer reads them all.

A metric written Keras's way (variables, ``update_state``, ``result()``: metrics/base.py) keeps
its own state on the device: its update runs when a batch is added, its ``result()`` joins the
one transfer of a read, and a new tally resets its state (``reset_metrics``)."""

from __future__ import annotations

import collections.abc
import math

from ..core.backend import host_floats
from ..errors import NotFoundError
from ..metrics.base import single_number

#: batches remembered before they are summed without a read (a few kernels per this many steps)
FOLD_AT = 256


class Tally:
    """Sums over the batches since the last ``reset``. ``add`` only remembers a batch's arrays;
    reading folds what was added since the last read into the sums (a few kernels, whatever
    the number of batches) and transfers everything at once."""

    def __init__(self, backend, objectives, output_shapes=None):
        self.backend, self.objectives = backend, objectives
        names = objectives.names
        self.loss_names = names[:len(names) - len(objectives.metric_pairs)]
        shapes = output_shapes or [None] * len(objectives.output_names)
        #: the Keras-style metrics (state of their own), in the order of the figures
        self.stateful = [m for _, m in objectives.metric_pairs if m.keras_style()]
        # numbers each metric sums (known before any batch: a process without rows sends zeros)
        self.sizes = [0 if m.keras_style() else m.size_for(shapes[k] or (1,)) for k, m in objectives.metric_pairs]
        self.reset()

    def reset(self):
        self.sums, self.sum_rows, self.pending, self.count, self.folded = None, 0, [], 0, 0
        self._host = None  # (batches, host figures) of the latest read
        for _, metric in self.objectives.metric_pairs:  # Keras's: each metric starts afresh
            metric.reset_state()

    def add(self, figures, statistics, rows) -> "Figures":
        """Remember a batch: ``figures`` its mean losses (0-d), ``statistics`` per metric its
        list (for a Keras-style metric its update, run here), ``rows`` its samples; returns the
        running figures up to it."""
        if self.stateful:
            statistics = [_updated(s) for s in statistics]
        self.pending.append((figures, statistics, rows))
        self.count += 1
        if len(self.pending) >= FOLD_AT:  # steps called without ever reading: memory stays bounded
            self._fold(self.count)
        return Figures(self, self.count, figures[0])

    def figures(self) -> "Figures":
        """The running figures as they are now, read when looked up."""
        return Figures(self, self.count)

    def _fold(self, upto):
        """Sum the pending batches up to the ``upto``-th into ``sums``: per figure one stack and
        one reduction, whatever the number of batches."""
        take, self.pending = self.pending[:upto - self.folded], self.pending[upto - self.folded:]
        xp, losses, rows = self.backend.xp, len(self.loss_names), [r for _, _, r in take]
        columns = zip(*(list(figures) + [s for stats in statistics for s in stats] for figures, statistics, _ in take))
        folded = [_sum(xp, column, rows if j < losses else None)  # a loss is a batch mean: times its rows
                  for j, column in enumerate(columns)]
        self.sums = folded if self.sums is None else [a + b for a, b in zip(self.sums, folded)]
        self.sum_rows += sum(rows)
        self.folded = upto

    def read(self, count=None, strategy=None) -> dict:
        """``{name: float}`` of the sums over the first ``count`` batches (default: all), summed
        over processes with a ``strategy``. A count below the batches already summed gives those."""
        count = self.count if count is None else count
        if count > self.folded:
            self._fold(count)
        elif strategy is None and self._host is not None and self._host[0] == self.folded:
            return dict(self._host[1])
        # Keras-style metrics: their result() (their variables when processes combine them)
        combined = getattr(strategy, "size", 1) > 1
        state = [part for m in self.stateful for part in self._state_of(m, combined)]
        host = None if self.sums is None else host_floats(self.backend, self.sums + state)
        rows = self.sum_rows
        if strategy is not None:
            count = len(self.loss_names) + sum(self.sizes) + sum(_size(v) for v in state)
            host, rows = strategy.reduce_totals(host, rows, count)
        logs = self._logs(host, rows, strategy if combined else None)
        if strategy is None:
            self._host = (self.folded, logs)
        return dict(logs)

    def _state_of(self, metric, combined):
        """What a read transfers for a Keras-style metric: its ``result()`` (one number, on the
        device where it is there); with processes to combine, its variables' values."""
        if combined:
            return [var.value for var in metric.variables]
        return [single_number(metric, metric.result(), self.backend)]

    def _logs(self, host, rows, strategy=None):
        if host is None:
            return {}
        logs = {name: float(v) / rows for name, v in zip(self.loss_names, host)}
        at, state_at = len(self.loss_names), len(self.loss_names) + sum(self.sizes)
        for (k, metric), size, name in zip(self.objectives.metric_pairs, self.sizes,
                                           self.objectives.names[len(self.loss_names):]):
            if metric.keras_style():
                n = 1 if strategy is None else sum(_size(v.value) for v in metric.variables)
                values = host[state_at:state_at + n]
                logs[name] = float(values[0]) if strategy is None else _combined_result(self.backend, metric, values,
                                                                                        strategy.size)
                state_at += n
                continue
            sums = [float(v) for v in host[at:at + size]]
            logs[name] = float(metric.result(sums))
            metric.load_sums(sums)  # its result() now gives this figure too
            at += size
        return logs


class Figures(collections.abc.Mapping):
    """The running loss and metrics after a batch, as a train or test step returns them: the
    names are known without reading; the first lookup reads every value (one transfer), later
    lookups reuse it. ``batch_loss`` is that batch's own mean loss, a 0-d device array.
    Read a batch's figures within its callback: once a later batch's have been read, an
    earlier unread one gives those."""

    def __init__(self, tally, count, batch_loss=None):
        self._tally, self._count, self._values, self.batch_loss = tally, count, None, batch_loss

    def read(self, strategy=None) -> dict:
        """The figures as floats (summed over processes with a data-parallel ``strategy``)."""
        if strategy is not None:
            return self._tally.read(self._count, strategy)
        if self._values is None:
            self._values = self._tally.read(self._count)
        return dict(self._values)

    def __getitem__(self, key):
        if key not in self._tally.objectives.names:
            raise NotFoundError(key)
        return self.read()[key]

    def __iter__(self):
        return iter(self._tally.objectives.names)

    def __len__(self):
        return len(self._tally.objectives.names)

    def __contains__(self, key):
        return key in self._tally.objectives.names

    def __repr__(self):
        return f"Figures({self._values if self._values is not None else list(self)})"


def _updated(entry):
    """A batch's entry for one metric: a Keras-style metric's update is run (its state is on
    the device: nothing to sum later)."""
    if callable(entry):
        entry()
        return ()
    return entry


def _size(value) -> int:
    return 1 if isinstance(value, (int, float)) else math.prod(value.shape)


def _combined_result(backend, metric, values, processes) -> float:
    """A Keras-style metric's figure from its variables summed over ``processes``: "sum"
    variables take the sum, the others its mean; the variables are put back afterwards."""
    xp, kept, at = backend.xp, [], 0
    try:
        for var, aggregation in metric.aggregations:
            n = _size(var.value)
            part = values[at:at + n]
            at += n
            if aggregation != "sum":
                part = [v / processes for v in part]
            kept.append((var, var.value))
            var.assign(xp.reshape(backend.asarray(part, dtype=var.dtype), var.shape))
        return host_floats(backend, [single_number(metric, metric.result(), backend)])[0]
    finally:
        for var, value in kept:
            var.assign(value)


def _sum(xp, column, rows=None):
    """The sum of one figure over batches, each times its ``rows`` when given: host numbers on
    the host, device arrays stacked and reduced (per distinct row count: multiplied by a
    Python number, never by an array sent to the device, which would wait for it)."""
    rows = rows or [1] * len(column)
    host = math.fsum(v * r for v, r in zip(column, rows) if isinstance(v, (int, float)))
    groups = {}
    for v, r in zip(column, rows):
        if not isinstance(v, (int, float)):
            groups.setdefault(r, []).append(v)
    total = None
    for r, arrays in groups.items():
        s = xp.sum(xp.stack(arrays), axis=0)
        s = s if r == 1 else s * r
        total = s if total is None else total + s
    if total is None:
        return host
    return total if not host else total + host
