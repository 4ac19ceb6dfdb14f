"""What the training loop iterates: the batches of one epoch, from arrays already on the device
(``ArrayFeed``) or from a user's stream, prefetched by a background thread (``StreamFeed``).

Both yield ``(batch, share, done, rows)`` per step: this process's part of the batch in Keras's
form, ``(x, y)`` or ``(x, y, sample_weight)`` (see ``pack``), its share of the global batch, the
global samples done after the step, and its rows. The loop around the step (loop.py) is the
same for both.
"""

from __future__ import annotations

import itertools
import warnings

from ..core.checks import int_at_least
from ..text.strings import take_rows
from .data import Stream, batches, prefetched, unpack


def rows(arrays, a, b):
    return None if arrays is None else [None if x is None else x[a:b, ...] for x in arrays]


def pack(xs, ys, weights):
    """A batch as a step takes it, from lists per input and output: ``(x, y)``, or ``(x, y,
    sample_weight)`` with weights; an array for one input (output), else the list."""
    x = xs[0] if len(xs) == 1 else xs
    if ys is None:  # data without targets: x alone, as Keras hands it to a train_step
        return x
    y = ys[0] if len(ys) == 1 else ys
    if weights is None:
        return x, y
    return x, y, weights[0] if len(weights) == 1 else weights


class ArrayFeed:
    """Batches of ``batch_size`` rows of arrays on the device (one gather per epoch when shuffled).

    ``steps``: at most this many batches an epoch (``fit(steps_per_epoch=...)``): the first of
    each epoch's order, so a shuffled epoch sees a fresh subset."""

    def __init__(self, xs, ys, weights, batch_size, steps=None):
        self.xs, self.ys, self.weights, self.batch_size = xs, ys, weights, batch_size
        self.samples = xs[0].shape[0]
        self.steps = len(batches(self.samples, batch_size))
        if steps is not None and steps < self.steps:
            self.steps = steps
            self.samples = min(self.samples, steps * batch_size)

    def epoch(self, backend, rng=None, strategy=None):
        xs, ys, ws, n = self.xs, self.ys, self.weights, self.samples
        if strategy is None:  # evaluation of this process's part: no sharding, no order
            for i, j in batches(n, self.batch_size):
                yield pack(rows(xs, i, j), rows(ys, i, j), rows(ws, i, j)), 1.0, j, j - i
            return
        # the order is drawn on the host for reproducibility; one gather of this process's rows
        order = backend.asarray(rng.permutation(n)) if rng is not None else None
        order, steps = strategy.shard(backend, order, n, self.batch_size)
        if order is not None:
            def take(arrays):
                return None if arrays is None else [None if a is None else take_rows(backend, a, order) for a in arrays]
            xs, ys, ws = take(xs), take(ys), take(ws)
        for i, j, share, done in itertools.islice(steps, self.steps):
            yield pack(rows(xs, i, j), rows(ys, i, j), rows(ws, i, j)), share, done, j - i

    def finish_epoch(self, model):
        pass


class StreamFeed:
    """Batches drawn from a ``Stream`` by a background thread, ``prefetch`` ahead, each moved to
    the device by ``convert(raw_batch) -> (xs, ys, weights)``. In data-parallel training every
    process reads the same stream and keeps its contiguous part of each (global) batch."""

    def __init__(self, stream: Stream, convert, prefetch=2):
        prefetch = int_at_least(stream.where, "prefetch", prefetch, 0)
        self.stream, self.convert, self.prefetch = stream, convert, prefetch
        self.steps = stream.expected_steps()
        self.samples = None  # per epoch, counted as the batches come

    def first(self):
        """The first batch converted in this thread (it builds an unbuilt model), kept for later."""
        return self.convert(self.stream.peek())

    def epoch(self, backend, rng=None, strategy=None):
        done = 0
        for xs, ys, ws in prefetched(self.stream.epoch(), self.convert, self.prefetch):
            n = xs[0].shape[0]
            a, b = (0, n) if strategy is None else strategy.rows(n)
            done += n
            yield pack(rows(xs, a, b), rows(ys, a, b), rows(ws, a, b)), (b - a) / n, done, b - a
        self.samples = done

    def finish_epoch(self, model):
        """After an epoch: ``Sequence.on_epoch_end``; a stream that ran out stops training."""
        self.stream.end_epoch()
        if self.stream.ran_out:
            warnings.warn(f"{self.stream.where}: the data stream ran out of batches"
                          + (f" before steps_per_epoch={self.stream.steps}" if self.stream.steps else "")
                          + "; training stopped. Pass a generator that repeats (e.g. itertools.cycle), or an "
                          "iterable that can be iterated again, or fewer steps", RuntimeWarning, stacklevel=4)
            model.stop_training = True


def feed_for_predict(stream, convert_x, prefetch):
    """Inputs of each batch of a stream for ``predict`` (targets, if any, are ignored)."""
    return prefetched(stream.epoch(), lambda raw: convert_x(unpack(raw)[0]), prefetch)
