"""``Metric``, the protocol every metric follows (means.py, confusion.py): statistics summed on
the device over an epoch's batches, and the figure computed from the sums once."""

from __future__ import annotations

from ..core.backend import backend_of, namespace_of


class Metric:
    """Base of metrics: ``statistics(y_true, y_pred, sample_weight)`` gives ``size_for(shape)``
    numbers to sum over batches; ``result(sums)`` the figure (a float) from the sums.
    ``metric(y_true, y_pred)`` is the figure of one batch (a 0-d device array where it can)."""

    name = "metric"

    def statistics(self, y_true, y_pred, sample_weight=None) -> list:
        raise NotImplementedError

    def size_for(self, output_shape) -> int:
        """How many numbers ``statistics`` gives for outputs of per-sample ``output_shape``."""
        return 2

    def result(self, sums) -> float:
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        stats = self.statistics(y_true, y_pred, sample_weight)
        xp = namespace_of(y_pred)
        flat = xp.concat([xp.reshape(xp.asarray(s, dtype=y_pred.dtype, device=y_pred.device), (-1,))
                          for s in stats])
        return self.result([float(v) for v in backend_of(y_pred).to_numpy(flat)])

    def get_config(self) -> dict:
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
