"""Batching: how ``fit``, ``evaluate`` and ``predict`` cut data into batches."""

from __future__ import annotations


def batches(n, batch_size):
    """``[(start, stop)]`` of consecutive batches covering ``n`` rows."""
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
