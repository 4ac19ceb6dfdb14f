"""Data parallelism over MPI: the same script trains on one process or on many.

Launch ``mpiexec -n 4 python train.py`` and call ``model.fit(..., distributed=True)``. Then
every process

- starts from rank 0's weights (one broadcast when ``fit`` begins);
- reads its own contiguous part of every global batch of the epoch's shuffled order (the
  order is drawn from a seed all processes share), so ``batch_size`` is the global batch;
- averages gradients with one all-reduce per step over one flat buffer per dtype, weighted
  by its share of the batch, and so applies the same update as one process on the whole
  batch would: weights and optimizer state stay identical everywhere.

Losses and metrics are summed across processes and every process gets the same logs (so
``EarlyStopping`` stops them together); only rank 0 shows progress and writes checkpoints.
A process that raises inside ``fit`` aborts the whole run (``MPI_Abort``): its peers would
otherwise wait forever in the next collective.

The transport is the backend's ``communicator`` (``backends/_base.py``): host-staged MPI by
default. Statistics of ``BatchNorm`` are per process within a step (no synchronized batch
norm); their running averages are averaged across processes at the end of every epoch.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
import traceback

from ..core import flat as flat_buffers
from .data import batches
from ..errors import ArgumentError, ArgumentTypeError, DependencyError, XdlError

__all__ = ["LOCAL", "DataParallel", "DisagreementError", "MPIUnavailableError", "resolve"]


class MPIUnavailableError(DependencyError):
    """``distributed=True`` without mpi4py or an MPI library."""


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise MPIUnavailableError(
            f"fit(distributed=True) needs mpi4py and an MPI library, which failed to import ({e}); "
            'install them with pip install "xdl[mpi]" (mpi4py and the mpich wheel), then launch '
            "with mpiexec -n 2 python your_script.py") from None
    return MPI


class SingleProcess:
    """The strategy of an ordinary ``fit``: one process, every hook a no-op."""

    rank, size, is_chief = 0, 1, True

    def setup(self, model):
        pass

    def agree(self, facts, error=None):
        """Check what every process must agree on when ``fit`` starts (``facts``: a dict of
        plain values; None with ``error``, an exception this process met preparing its data)."""
        if error is not None:
            raise error

    def any_true(self, flag) -> bool:
        return bool(flag)

    def min_int(self, value) -> int:
        return value

    def agree_seed(self, seed):
        return seed

    def callbacks(self, callbacks):
        return callbacks

    def rows(self, n):
        return 0, n

    def shard(self, backend, order, n, batch_size):
        """``(order, steps)``: the rows to gather (None: keep the data as is) and each step's
        ``(start, stop, share of the global batch, global samples done)``."""
        return order, [(i, j, 1.0, j) for i, j in batches(n, batch_size)]

    def batch(self, share):
        """Before each training step: this process's ``share`` of the global batch."""

    def reduce_gradients(self, parameters):
        """The training step's hook between backward and the optimizer."""

    def reduce_totals(self, values, n, count):
        return values, n

    def epoch_end(self, model):
        pass

    @contextlib.contextmanager
    def running(self):
        yield


LOCAL = SingleProcess()


class DataParallel(SingleProcess):
    """Synchronous data parallelism across the processes of an MPI communicator.

    ``comm``: an mpi4py communicator (default ``MPI.COMM_WORLD``). Pass an instance, or
    ``True``, as ``fit(..., distributed=...)``. ``timeout``: seconds a collective may wait for
    the other processes (a stalled or vanished peer) before the run is aborted with a message
    naming the collective; None waits forever.
    """

    def __init__(self, comm=None, timeout=None):
        self.comm = comm if comm is not None else _mpi().COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.is_chief = self.rank == 0
        self._channel, self.share = None, 1.0
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not 0 < timeout < math.inf):
            raise ArgumentError(f"DataParallel: timeout must be a positive number of seconds or None, got {timeout!r}")
        self.timeout = timeout
        self._watchdog = _Watchdog(self) if timeout is not None and self.size > 1 else None
        if self._watchdog is not None:  # the step's all-reduce, watched without changing it
            self.reduce_gradients = self._watched("the gradient all-reduce", self.reduce_gradients)

    def _watched(self, what, function):
        def watched(*args, **kwargs):
            with self._watchdog.waiting(what):
                return function(*args, **kwargs)
        return watched

    def _waiting(self, what):
        return self._watchdog.waiting(what) if self._watchdog is not None else contextlib.nullcontext()

    def __repr__(self):
        return f"DataParallel(rank={self.rank}, size={self.size})"

    # -- once per fit -----------------------------------------------------------------------------
    def setup(self, model):
        """Check that every process built the same model, then give them rank 0's weights."""
        params = model.parameters()
        layout = [(p.name, p.shape) for p in params]
        with self._waiting("the model check when fit starts"):
            layouts = self.comm.allgather(layout)
        for rank, other in enumerate(layouts):
            if other != layout:
                raise DisagreementError(f"{model.name}: rank {rank} built parameters {other} but rank {self.rank} "
                                        f"built {layout}; every process must build the same model")
        self._channel = model.backend.communicator(self.comm)
        with self._waiting("the broadcast of rank 0's weights"):
            for group in _by_dtype(params):
                flat = self._channel.broadcast(_flatten(model.backend.xp, [p.value for p in group]), root=0)
                for p, value in zip(group, _unflatten(model.backend.xp, flat, group)):
                    p.value = value

    def agree(self, facts, error=None):
        """One all-gather when ``fit`` starts: every process must see the same sample count,
        batch size, epochs, steps and data shapes (else they would wait for each other forever
        at the first step one of them does not take); a process whose data failed its checks
        (``check_finite``) fails them all. Every process raises the same ``DisagreementError``."""
        mine = None if error is None else f"{type(error).__name__}: {error}"
        with self._waiting("the agreement check when fit starts"):
            every = self.comm.allgather((facts, mine))
        failed = [(rank, message) for rank, (_, message) in enumerate(every) if message is not None]
        if failed:
            rank, message = failed[0]
            raise DisagreementError(f"fit: rank {rank} of {self.size} failed preparing its data: {message}") from error
        first = every[0][0]  # each rank against rank 0: every process finds the same difference
        for rank, (theirs, _) in enumerate(every):
            differ = [key for key in first if theirs.get(key) != first[key]]
            if differ:
                detail = "; ".join(f"{key}: {first[key]!r} on rank 0, {theirs.get(key)!r} on rank {rank}"
                                   for key in differ)
                raise DisagreementError(f"fit: the processes disagree ({detail}); every rank must pass the same "
                                        "data shapes, sample count, batch_size and epochs")

    def any_true(self, flag) -> bool:
        with self._waiting("the non-finite loss check"):
            return any(self.comm.allgather(bool(flag)))

    def min_int(self, value) -> int:
        with self._waiting("the non-finite loss check"):
            return min(self.comm.allgather(int(value)))

    def agree_seed(self, seed):
        """One data-order seed for all processes: rank 0's."""
        with self._waiting("the data-order seed broadcast"):
            return self.comm.bcast(seed, root=0)

    def callbacks(self, callbacks):
        """Callbacks that declare ``chief_only`` (ModelCheckpoint: it writes files) run on rank 0 alone."""
        return [cb for cb in callbacks if self.is_chief or not getattr(cb, "chief_only", False)]

    def rows(self, n):
        """This process's contiguous part ``(start, stop)`` of ``n`` rows."""
        return n * self.rank // self.size, n * (self.rank + 1) // self.size

    # -- every epoch ------------------------------------------------------------------------------
    def shard(self, backend, order, n, batch_size):
        """This process's rows of the epoch's order, and its steps within them."""
        xp = backend.xp
        if order is None:
            order = xp.arange(n, device=backend.device)
        pieces, steps, start = [], [], 0
        for i, j in batches(n, batch_size):
            a, b = i + (j - i) * self.rank // self.size, i + (j - i) * (self.rank + 1) // self.size
            pieces.append(order[a:b])
            steps.append((start, start + b - a, (b - a) / (j - i), j))
            start += b - a
        return xp.concat(pieces), steps

    def batch(self, share):
        self.share = share

    def reduce_gradients(self, parameters):
        """Replace each gradient with the batch-weighted sum over processes (weighted by this
        process's share of the global batch, from ``batch``): one all-reduce per dtype, on the
        model's flat gradient buffer where it has one (core/flat.py), else over the gradients
        flattened. A process without rows in this batch (a last batch smaller than the number of
        processes) joins the sum with zeros."""
        xp, share = self._channel.backend.xp, self.share
        flats, parameters = flat_buffers.partition(parameters)
        for buffer in flats:  # the model's gradient buffers themselves: no flattening copy
            buffer.complete(always=True)
            grads = buffer.grads
            grads *= share
            summed = self._channel.allreduce_sum(grads)
            if summed is not grads:
                grads[...] = summed
        for p in parameters:
            if p.grad is None:
                p.grad = xp.zeros_like(p.value)
        for group in _by_dtype(parameters):
            flat = _flatten(xp, [p.grad for p in group]) * share
            flat = self._channel.allreduce_sum(flat)
            for p, grad in zip(group, _unflatten(xp, flat, group)):
                p.grad = grad

    def reduce_totals(self, values, n, count):
        """Host figures (sums over samples) and sample counts, summed over processes."""
        mine = [0.0] * count if values is None else [float(v) for v in values]
        with self._waiting("the epoch's figures all-gather"):
            rows = self.comm.allgather(mine + [n])
        sums = [sum(column) for column in zip(*rows)]
        return sums[:-1], int(sums[-1])

    def epoch_end(self, model):
        """Average state that is not trained (e.g. BatchNorm's running statistics)."""
        xp = model.backend.xp
        with self._waiting("the epoch-end averaging of non-trained state"):
            for group in _by_dtype([p for p in model.parameters() if not p.trainable]):
                flat = self._channel.allreduce_sum(_flatten(xp, [p.value for p in group]) * (1.0 / self.size))
                for p, value in zip(group, _unflatten(xp, flat, group)):
                    p.value = value

    @contextlib.contextmanager
    def running(self):
        """Abort every process when this one fails, instead of leaving the others waiting."""
        try:
            yield
        except DisagreementError:
            raise  # every process raises it together: nobody is left waiting
        except BaseException:
            if self.size == 1:
                raise
            print(f"xdl.distributed: rank {self.rank} of {self.size} failed; aborting the run\n"
                  + traceback.format_exc(), file=sys.stderr, flush=True)
            self.comm.Abort(1)
            raise


class DisagreementError(XdlError):
    """The processes of a data-parallel ``fit`` disagree on what they must share (raised on
    every process at once, so the run ends without an abort)."""


class _Watchdog:
    """Aborts the run when a collective has waited longer than ``strategy.timeout``: a
    thread that looks, a few times per timeout, at what the main thread waits in."""

    def __init__(self, strategy):
        self.strategy, self.what, self.since, self.thread = strategy, None, None, None

    @contextlib.contextmanager
    def waiting(self, what):
        if self.thread is None:
            self.thread = threading.Thread(target=self._watch, name="xdl-collective-watchdog", daemon=True)
            self.thread.start()
        self.what, self.since = what, time.monotonic()
        try:
            yield
        finally:
            self.what = None

    def _watch(self):
        timeout = self.strategy.timeout
        while True:
            time.sleep(min(timeout / 4, 1.0))
            what, since = self.what, self.since
            if what is not None and time.monotonic() - since > timeout:
                s = self.strategy
                print(f"xdl.distributed: rank {s.rank} of {s.size} waited more than {timeout:g} s in {what}; a process "
                      "stalled, died or took another path (see DataParallel(timeout=...)); aborting the run",
                      file=sys.stderr, flush=True)
                # mpiexec relays a rank's stderr through its proxy, and an abort right after the
                # write could end the run before the line was relayed
                time.sleep(0.5)
                s.comm.Abort(3)
                os._exit(3)


def resolve(distributed):
    """The strategy for ``fit(distributed=...)``: False, True or a strategy object."""
    if distributed is False or distributed is None:
        return LOCAL
    if distributed is True:
        return DataParallel()
    if isinstance(distributed, SingleProcess):
        return distributed
    raise ArgumentTypeError(f"fit: distributed must be True, False or an xdl.DataParallel, got {distributed!r}")


def _by_dtype(params):
    """Parameters grouped by dtype, in order: one flat buffer per group."""
    groups = []
    for p in params:
        for group in groups:
            if group[0].dtype == p.dtype:
                group.append(p)
                break
        else:
            groups.append([p])
    return groups


def _flatten(xp, arrays):
    return xp.concat([xp.reshape(a, (-1,)) for a in arrays])


def _unflatten(xp, flat, params):
    """Views of ``flat`` shaped like each parameter."""
    out, start = [], 0
    for p in params:
        size = math.prod(p.shape)
        out.append(xp.reshape(flat[start:start + size], p.shape))
        start += size
    return out
