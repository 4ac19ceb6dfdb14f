"""An epoch's figures, summed on the device: the loss of every batch (times its rows) and
each metric's statistics, read back to the host together, in one transfer, when asked."""

from __future__ import annotations

import math


class Tally:
    """Sums over batches. ``add`` queues device additions only; ``read`` is the one sync."""

    def __init__(self, objectives, output_shapes=None):
        self.objectives = objectives
        self.sums, self.rows = None, 0
        names = objectives.names
        self.loss_names = names[:len(names) - len(objectives.metric_pairs)]
        shapes = output_shapes or [None] * len(objectives.output_names)
        # numbers each metric sums (known before any batch: a process without rows sends zeros)
        self.sizes = [m.size_for(shapes[k] or (1,)) for k, m in objectives.metric_pairs]

    def add(self, figures, statistics, rows):
        """``figures``: the batch's mean losses (0-d); ``statistics``: per metric, its list."""
        values = [f * rows for f in figures] + [s for stats in statistics for s in stats]
        self.sums = values if self.sums is None else [t + v for t, v in zip(self.sums, values)]
        self.rows += rows

    def reader(self, backend):
        """A function reading the figures as they are now (later batches do not change them)."""
        sums, rows = self.sums, self.rows
        return lambda: self._figures(backend, sums, rows)

    def read(self, backend, strategy=None) -> dict:
        """``{name: float}`` of the sums so far (summed over processes with a ``strategy``)."""
        return self._figures(backend, self.sums, self.rows, strategy)

    def _figures(self, backend, sums, rows, strategy=None):
        host = None if sums is None else _to_host(backend, sums)
        if strategy is not None:
            host, rows = strategy.reduce_totals(host, rows, len(self.loss_names) + sum(self.sizes))
        if host is None:
            return {}
        logs = {name: float(v) / rows for name, v in zip(self.loss_names, host)}
        at = len(self.loss_names)
        for (k, metric), size, name in zip(self.objectives.metric_pairs, self.sizes,
                                           self.objectives.names[len(self.loss_names):]):
            logs[name] = float(metric.result([float(v) for v in host[at:at + size]]))
            at += size
        return logs


def _to_host(backend, sums):
    """Every sum as host floats, flattened in order; device arrays cross in one transfer."""
    xp = backend.xp
    device = [s for s in sums if not isinstance(s, (int, float))]
    moved = iter([])
    if device:
        dtype = max((s.dtype for s in device), key=lambda d: xp.finfo(d).bits if xp.isdtype(d, "real floating") else 0)
        flat = xp.concat([xp.reshape(xp.astype(s, dtype), (-1,)) for s in device])
        moved = iter(float(v) for v in backend.to_numpy(flat).reshape(-1))
    out = []
    for s in sums:
        if isinstance(s, (int, float)):
            out.append(float(s))
        else:
            out.extend(next(moved) for _ in range(math.prod(s.shape)))
    return out
