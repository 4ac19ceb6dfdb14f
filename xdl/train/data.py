"""Batches for ``fit``, ``evaluate`` and ``predict``: cut from arrays in memory, or drawn from a
stream that does not fit in memory.

A stream is a Python iterable or generator of batches, ``(x, y)`` or ``(x, y, sample_weight)``
(``predict`` also takes ``x`` alone), or a ``Sequence``: ``len(seq)`` batches, ``seq[i]``
the i-th, ``seq.on_epoch_end()`` called after every epoch (to reshuffle, say). A background
thread draws the next batches and moves them to the device while the current one trains
(``prefetch`` of them at most, 2 by default), so memory holds a few batches, never the data
set. An error raised by the user's code in that thread comes out of ``fit`` as itself, with
its own traceback. The batch order is the stream's own (``shuffle`` applies to arrays).
"""

from __future__ import annotations

import queue
import threading

from ..core.checks import boolean, positive_int
from ..errors import ArgumentError, missing_method

#: the rows ``predict`` and ``evaluate`` run at once when given no ``batch_size`` (Keras: 32;
#: larger keeps a device busy, and memory stays bounded whatever the number of rows)
DEFAULT_BATCH_SIZE = 1024


def batches(n, batch_size):
    """``[(start, stop)]`` of consecutive batches covering ``n`` rows."""
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


class Sequence:
    """Keras's ``Sequence`` (``PyDataset``): a data set read batch by batch, in any order.

    Subclasses implement ``__len__`` (the number of batches) and ``__getitem__(i)`` (batch i:
    ``(x, y)`` or ``(x, y, sample_weight)``), and may override ``on_epoch_end``.
    """

    def __len__(self):
        raise missing_method(self, "__len__()")

    def __getitem__(self, index):
        raise missing_method(self, "__getitem__(index)")

    def on_epoch_end(self):
        pass


class PyDataset(Sequence):
    """Keras 3's name for ``Sequence``. Its loading options (``workers``,
    ``use_multiprocessing``, ``max_queue_size``) are accepted: xdl reads the batches on one
    background thread, ``fit(..., prefetch=n)`` batches ahead."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        positive_int("PyDataset", "workers", workers)
        boolean("PyDataset", "use_multiprocessing", use_multiprocessing)
        positive_int("PyDataset", "max_queue_size", max_queue_size)


def _is_sequence(x):
    return isinstance(x, Sequence) or all(hasattr(x, a) for a in ("__len__", "__getitem__", "on_epoch_end"))


def is_stream(x) -> bool:
    """Whether ``x`` is a stream of batches rather than data (arrays, lists, dicts of arrays)."""
    if isinstance(x, Sequence):
        return True
    if isinstance(x, (list, tuple, dict, str, bytes)) or any(
            hasattr(x, a) for a in ("shape", "__array__", "__array_interface__", "__dlpack__")):
        return False
    return _is_sequence(x) or hasattr(x, "__next__") or hasattr(x, "__iter__")


def unpack(item):
    """``(x, y, sample_weight)`` of one batch: a tuple of 1 to 3 parts, else ``x`` alone."""
    if isinstance(item, tuple):
        if not 1 <= len(item) <= 3:
            raise ArgumentError(f"a batch must be x, (x,), (x, y) or (x, y, sample_weight); got a tuple of {len(item)}")
        return tuple(item) + (None,) * (3 - len(item))
    return item, None, None


class Stream:
    """A user's iterable, generator or ``Sequence``, read one epoch at a time.

    ``steps``: batches per epoch (``steps_per_epoch``); None reads a ``Sequence`` whole and an
    iterable until it ends. An iterator continues across epochs; once it ends, a re-iterable
    source starts again (``iter`` anew) at the next epoch.
    """

    def __init__(self, source, steps=None, where="fit"):
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ArgumentError(f"{where}: steps must be a positive integer or None, got {steps!r}")
        self.source, self.steps, self.where = source, steps, where
        self.sequence = _is_sequence(source)
        self.iterator, self.peeked, self.ran_out = None, [], False

    def expected_steps(self):
        """Batches per epoch where known (for the progress bar), else None."""
        if self.sequence:
            return len(self.source) if self.steps is None else min(self.steps, len(self.source))
        if self.steps is not None:
            return self.steps
        return len(self.source) if hasattr(self.source, "__len__") else None

    def peek(self):
        """The first batch, kept for the first epoch (``fit`` builds the model from it)."""
        if not self.peeked:
            if self.sequence:
                if len(self.source) == 0:
                    raise ArgumentError(f"{self.where}: the Sequence has no batches (len() is 0)")
                self.peeked.append(self.source[0])
            else:
                self.iterator = iter(self.source)
                try:
                    self.peeked.append(next(self.iterator))
                except StopIteration:
                    raise ArgumentError(f"{self.where}: the data stream yielded no batch") from None
        return self.peeked[0]

    def epoch(self):
        """The raw batches of one epoch (run in the prefetch thread)."""
        if self.sequence:
            for i in range(self.expected_steps()):
                yield self.peeked.pop() if i == 0 and self.peeked else self.source[i]
            return
        self.ran_out = False
        if self.iterator is None:
            self.iterator = iter(self.source)
        done = 0
        while self.steps is None or done < self.steps:
            if self.peeked:
                item = self.peeked.pop()
            else:
                try:
                    item = next(self.iterator)
                except StopIteration:
                    self.iterator, self.ran_out = None, self.steps is not None or done == 0
                    return
            done += 1
            yield item

    def end_epoch(self):
        if self.sequence:
            self.source.on_epoch_end()


def prefetched(items, convert, depth=2):
    """``convert(item)`` for each of ``items``, both run by a background thread that keeps at
    most ``depth`` results ready; ``depth=0`` runs them in the caller's thread. An exception
    in the thread is raised here, itself (its traceback shows where it came from)."""
    if depth == 0:
        for item in items:
            yield convert(item)
        return
    ready, stop = queue.Queue(maxsize=depth), threading.Event()

    def put(entry):
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def work():
        try:
            for item in items:
                if not put((True, convert(item))):
                    return
            put((False, None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            put((None, e))

    worker = threading.Thread(target=work, name="xdl-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, value = ready.get()
            if ok is None:
                raise value
            if not ok:
                return
            yield value
    finally:
        stop.set()
        worker.join()
