"""The loops behind ``fit``, ``evaluate`` and ``predict``: epochs of batches, each through the
model's ``train_step``, ``test_step`` or ``predict_step`` (trainer.py), with the callbacks, the
progress bar and the data-parallel strategy around them.

Inside an epoch nothing waits for the device: a step returns its logs unread, and they are
read once when the epoch ends (or when the progress bar redraws, or a callback looks).
"""

from __future__ import annotations

import math
import warnings

from ..core import random
from ..core.backend import get_backend, host_floats, use_backend
from ..core.checks import boolean, int_at_least, number, one_of, positive_int
from ..core.tape import unwrap
from ..errors import ArgumentError, ArgumentTypeError, NotBuiltError
from . import inputs
from .callbacks import BatchLogs, Callbacks, callback_list
from .data import DEFAULT_BATCH_SIZE, Stream, is_stream
from .epoch_sums import Figures
from .epochs import ArrayFeed, StreamFeed, feed_for_predict, rows
from .history import History
from .progress import Progress

__all__ = ["History", "fit", "predict", "evaluate"]


def fit(model, X, y, *, epochs, batch_size, verbose, validation_data, validation_split, shuffle,
        callbacks, seed, initial_epoch, check_finite, strategy, sample_weight=None, class_weight=None,
        steps_per_epoch=None, validation_steps=None, prefetch=2):
    """``strategy`` (see distributed.py) is consulted where processes must agree: weights at
    the start, the data each reads, gradients, figures, who reports and who writes. ``X`` may
    be a stream of batches (data.py), read by ``StreamFeed``; arrays go through ``ArrayFeed``."""
    if model.objectives is None:
        raise NotBuiltError(f"{model.name}: call compile(loss=..., optimizer=...) before fit")
    epochs = int_at_least("fit", "epochs", epochs, 0)
    batch_size = positive_int("fit", "batch_size", batch_size)
    initial_epoch = int_at_least("fit", "initial_epoch", initial_epoch, 0)
    verbose = verbosity("fit", verbose)
    steps_per_epoch = positive_int("fit", "steps_per_epoch", steps_per_epoch, optional=True)
    validation_steps = positive_int("fit", "validation_steps", validation_steps, optional=True)
    seed = int_at_least("fit", "seed", seed, 0, optional=True)
    validation_split = number("fit", "validation_split", validation_split, 0.0, 1.0, high_open=True)
    shuffle, check_finite = boolean("fit", "shuffle", shuffle), boolean("fit", "check_finite", check_finite)
    callbacks = Callbacks(strategy.callbacks(callback_list("fit", callbacks)), model, "fit")
    history = model.history = History()
    if model.graph is None and model.custom_step and model.backend is None:
        model.backend = get_backend()  # a model of the user's own step (a GAN of two models): it lives here
    with use_backend(model.backend or get_backend()), strategy.running():
        try:
            if is_stream(X):
                feed, (xs, ys, _), validation = inputs.stream_fit(model, X, y, validation_data, validation_split,
                                                                  check_finite, sample_weight, class_weight,
                                                                  steps_per_epoch, validation_steps, prefetch)
            elif y is None and model.custom_step:  # a train_step of the user's reads x alone (a GAN's images)
                xs, ys, validation = inputs.unlabelled(model, X, check_finite), None, None
                feed = ArrayFeed(xs, None, None, batch_size, steps_per_epoch)
            else:
                (xs, ys, ws), validation = inputs.split(model, X, y, validation_data, validation_split, check_finite,
                                                        sample_weight, class_weight, validation_steps, prefetch)
                feed = ArrayFeed(xs, ys, ws, batch_size, steps_per_epoch)
        except Exception as e:  # noqa: BLE001 (in data-parallel training every process must hear of it)
            if strategy.size == 1:
                raise
            strategy.agree(None, e)
        strategy.agree(inputs.facts(xs, ys, validation if isinstance(validation, tuple) else None, batch_size, epochs,
                                    initial_epoch, shuffle))
        strategy.setup(model)
        if isinstance(validation, tuple):  # each process scores its part of the validation data
            a, b = strategy.rows(validation[0][0].shape[0])
            validation = ArrayFeed(*(rows(part, a, b) for part in validation), batch_size)
        model.data_seed = strategy.agree_seed(_data_seed(model, seed, initial_epoch))
        progress = Progress(verbose if strategy.is_chief else 0, epochs, feed.steps, feed.samples or 0)
        callbacks.set_params(verbose, epochs, feed.steps)
        model.stop_training = False
        previous, model.distribute_strategy = model.distribute_strategy, strategy
        try:
            callbacks.call("on_train_begin", {})
            last_logs = {}  # Keras gives on_train_end the last epoch's logs (none: empty)
            for epoch in range(initial_epoch, epochs):
                callbacks.call("on_epoch_begin", epoch, {})
                progress.epoch_begin(epoch)
                for layer in model.layers:
                    layer.start_epoch(epoch, strategy.rank)
                order_rng = random.generator([model.data_seed, epoch]) if shuffle else None
                logs = _train_epoch(model, feed, order_rng, progress, strategy, epoch, callbacks)
                feed.finish_epoch(model)
                if feed.samples == 0:  # a spent stream: no epoch to report (finish_epoch warned)
                    break
                strategy.epoch_end(model)
                if validation is not None:  # as Keras: validation runs evaluate's logic, test hooks and all
                    callbacks.call("on_test_begin", {})
                    scores = _scores(model, validation, strategy, callbacks)
                    callbacks.call("on_test_end", dict(scores))
                    logs.update({f"val_{k}": v for k, v in scores.items()})
                model.epoch = epoch + 1  # before the callbacks: a checkpoint saved now resumes after it
                try:
                    callbacks.call("on_epoch_end", epoch, logs)
                finally:  # a callback that raises (a checkpoint on a full disk) leaves history and epoch agreeing
                    history.record(epoch, **logs)
                last_logs = logs
                progress.samples = feed.samples or 0
                progress.epoch_end(epoch, logs)
                if model.stop_training:
                    break
            callbacks.call("on_train_end", dict(last_logs))
        finally:
            model.distribute_strategy = previous
    return history


def verbosity(where, verbose) -> int:
    """Keras's ``verbose``: 0 silent, 1 a progress bar, 2 a line per epoch; "auto" is 1."""
    verbose = one_of(where, "verbose", verbose, (0, 1, 2, "auto"))
    return 1 if verbose == "auto" else verbose


def _data_seed(model, seed, initial_epoch):
    """The seed of every epoch's data order: ``seed``; when resuming (``initial_epoch > 0``)
    the model's own, so that epoch k is shuffled as it would have been without a break."""
    if seed is not None:
        return int(seed)
    if initial_epoch and model.data_seed is not None:
        return model.data_seed
    return int(random.generator().integers(2**63))


def _train_epoch(model, feed, rng, progress, strategy, epoch=0, callbacks=None):
    """One pass over ``feed`` (epochs.py: arrays or a stream), each batch through
    ``model.train_step``; returns the epoch's logs as floats. A non-finite loss ends it (and
    ``fit``) within ``CHECK_STEPS`` steps, see ``NonFiniteGuard``. What the steps return is
    read from the device only where someone looks (the bar, a callback, the epoch's end)."""
    be, total, k = model.backend or get_backend(), feed.steps, -1
    guard = NonFiniteGuard(model, strategy, epoch)
    model.reset_metrics()
    logs = model.get_metrics_result()
    for k, (batch, share, done, _) in enumerate(feed.epoch(be, rng, strategy)):
        if callbacks is not None:
            callbacks.call("on_train_batch_begin", k, {})
        strategy.batch(share)
        logs = _checked(model, model.train_step(batch), "train_step")
        guard.record(k, logs.batch_loss if isinstance(logs, Figures) else logs.get("loss"))
        progress.batch_end(done, lambda logs=logs: read(be, logs))  # read only when the bar redraws
        if callbacks is not None and callbacks.wants("on_train_batch_end"):
            callbacks.call("on_train_batch_end", k, _lazy(be, logs))
        if (k + 1) % CHECK_STEPS == 0 and (total is None or k + 1 < total) and guard.stopped(k):
            break
    epoch_logs = read(be, logs, strategy)  # summed over processes
    if not model.stop_training and not math.isfinite(epoch_logs.get("loss", 0.0)):
        guard.stop(k + 1)  # every process reads the same summed loss: they stop together
    return epoch_logs


def _checked(model, logs, where):
    if not isinstance(logs, dict) and not isinstance(logs, Figures):
        raise ArgumentTypeError(f"{model.name}: {where} must return a dict of logs (names to numbers or 0-d "
                                f"arrays), got "
                                f"{type(logs).__name__}")
    return logs


def read(backend, logs, strategy=None) -> dict:
    """A step's logs as host floats: a ``Figures`` reads itself (summed over processes with a
    ``strategy``); a dict's device values cross in one transfer."""
    if isinstance(logs, Figures):
        return logs.read(strategy)
    return dict(zip(logs, host_floats(backend, _scalars(backend, logs.values()))))


def _scalars(backend, values):
    """Each value as one number: a 0-d array (or one of one element, or a Tensor's) as a 0-d array."""
    values = [unwrap(v) for v in values]
    return [v if isinstance(v, (int, float)) else backend.xp.reshape(v, ()) for v in values]


def _lazy(backend, logs):
    """Logs for a batch callback: read when a value is looked up."""
    return logs if isinstance(logs, Figures) else BatchLogs(list(logs), lambda: read(backend, logs))


CHECK_STEPS = 32  # steps between reads of the running loss: a non-finite loss stops fit within as many


class NonFiniteGuard:
    """Stops training at a NaN or infinite loss without a host read per step: every
    ``CHECK_STEPS`` steps the losses of the steps since the last check are summed on the device
    and read (one number); while they are finite the weights and optimizer state are copied on
    the device, and when they are not, they are put back, the first bad batch is named in a
    warning and ``fit`` stops. In data-parallel training the processes decide together (one small
    all-reduce per check). Steps whose logs hold no "loss" are not watched."""

    def __init__(self, model, strategy, epoch):
        self.model, self.strategy, self.epoch = model, strategy, epoch
        self.losses, self.after = [], 0  # (step, loss) since the last check; steps done at the copy
        self.copy = self._snapshot()

    def record(self, k, loss):
        if loss is not None:
            self.losses.append((k, loss))

    def _snapshot(self):
        xp, opt = self.model.backend.xp, self.model.optimizer
        return ([(p, xp.asarray(p.value, copy=True)) for p in self.model.parameters()],
                {p: {slot: xp.asarray(v, copy=True) for slot, v in state.items()} for p, state in opt.state.items()},
                opt.iterations)

    def _finite(self) -> bool:
        """Whether the losses since the last check are all finite: one device read, of their sum."""
        numbers = [loss for _, loss in self.losses if isinstance(loss, (int, float))]
        arrays = _scalars(self.model.backend, (loss for _, loss in self.losses if not isinstance(loss, (int, float))))
        if arrays and len({a.dtype for a in arrays}) == 1:
            xp = self.model.backend.xp
            arrays = [xp.sum(xp.stack(arrays))]
        return math.isfinite(math.fsum(numbers + host_floats(self.model.backend, arrays)))

    def stopped(self, k) -> bool:
        """The check after step ``k``: True when training stopped."""
        if not self.strategy.any_true(not self._finite()):
            self.losses, self.after, self.copy = [], k + 1, self._snapshot()
            return False
        self.stop(k + 1)
        return True

    def stop(self, limit):
        """Put the copy back and say where the loss first went bad (before step ``limit``)."""
        first = limit - 1
        if self.losses:
            values = host_floats(self.model.backend, _scalars(self.model.backend, (loss for _, loss in self.losses)))
            first = next((step for (step, _), v in zip(self.losses, values) if not math.isfinite(v)), first)
        first = self.strategy.min_int(first)
        params, state, iterations = self.copy
        for p, value in params:
            p.value = value
        self.model.optimizer.state, self.model.optimizer.iterations = state, iterations
        self.model.stop_training = True
        if self.strategy.is_chief:
            since = f"after batch {self.after}" if self.after else "at the start"
            warnings.warn(f"fit: the loss is not finite (NaN or inf) at batch {first + 1} of epoch {self.epoch + 1}; "
                          f"training stopped, the weights and optimizer state put back to those {since} of that "
                          "epoch. Look for NaN/inf in the data (fit(check_finite=True)) or lower the learning rate",
                          RuntimeWarning, stacklevel=4)


def _scores(model, feed, strategy=None, callbacks=None):
    """Mean loss and metrics over ``feed`` (this process's part of arrays, or a stream whose
    batches each process splits), each batch through ``model.test_step``, as floats (summed
    over the processes' parts when training is distributed)."""
    be = model.backend
    split = strategy if isinstance(feed, StreamFeed) else None
    model.reset_metrics()
    logs = model.get_metrics_result()
    for k, (batch, _, _, batch_rows) in enumerate(feed.epoch(be, None, split)):
        if batch_rows == 0:
            continue
        if callbacks is not None and callbacks.wants("on_test_batch_begin"):
            callbacks.call("on_test_batch_begin", k, {})
        logs = _checked(model, model.test_step(batch), "test_step")
        if callbacks is not None and callbacks.wants("on_test_batch_end"):
            callbacks.call("on_test_batch_end", k, _lazy(be, logs))
    if isinstance(feed, StreamFeed):
        if feed.samples == 0:
            raise ArgumentError(f"{feed.stream.where}: the data stream yielded no batch (a generator is spent after "
                                "one pass: pass one that repeats with validation_steps/steps, an iterable that can "
                                "be iterated again, or a Sequence)")
        feed.stream.end_epoch()  # a Sequence's on_epoch_end after each pass, validation's too
    return read(be, logs, strategy)


def predict(model, X, *, batch_size=None, check_finite=False, callbacks=None, steps=None, prefetch=2):
    """The outputs for ``X`` (arrays, or a stream of batches), a list of arrays (one per model
    output), ``batch_size`` rows at a time (default ``DEFAULT_BATCH_SIZE``), each through
    ``model.predict_step``."""
    batch_size = positive_int("predict", "batch_size", batch_size, optional=True)
    check_finite = boolean("predict", "check_finite", check_finite)
    callbacks = Callbacks(callback_list("predict", callbacks), model, "predict")
    with use_backend(model.backend or get_backend()):
        def accept(x):
            xs, _ = model.accept_inputs(x)
            if check_finite:
                for a in xs:
                    inputs.check_finite_values(model.backend, a, "predict: X")
            return xs

        if is_stream(X):
            chunks = feed_for_predict(Stream(X, steps, "predict"), accept, prefetch)
        else:
            xs = accept(X)
            n, size = xs[0].shape[0], batch_size or DEFAULT_BATCH_SIZE
            chunks = [xs] if size >= n else (rows(xs, i, min(i + size, n)) for i in range(0, n, size))
        callbacks.set_params(0, 1, steps)
        callbacks.call("on_predict_begin", {})
        parts = []
        for k, xb in enumerate(chunks):
            callbacks.call("on_predict_batch_begin", k, {})
            out = model.predict_step(xb if model.multiple_inputs else xb[0])
            parts.append(list(out) if isinstance(out, (list, tuple)) else [out])
            callbacks.call("on_predict_batch_end", k, {"outputs": parts[-1] if len(parts[-1]) > 1 else parts[-1][0]})
        callbacks.call("on_predict_end", {})
        if not parts:
            raise ArgumentError("predict: the data stream yielded no batch")
        if len(parts) == 1:
            return parts[0]
        return [model.backend.xp.concat(list(column), axis=0) for column in zip(*parts)]


def evaluate(model, X, y, *, batch_size=None, check_finite=False, sample_weight=None, callbacks=None, steps=None,
             prefetch=2):
    if model.objectives is None:
        raise NotBuiltError(f"{model.name}: call compile(loss=...) before evaluate")
    batch_size = positive_int("evaluate", "batch_size", batch_size, optional=True)
    check_finite = boolean("evaluate", "check_finite", check_finite)
    callbacks = Callbacks(callback_list("evaluate", callbacks), model, "evaluate")
    with use_backend(model.backend or get_backend()):
        if is_stream(X):
            if y is not None or sample_weight is not None:
                raise ArgumentError("evaluate: x is a stream of batches, so y and sample_weight come in its batches; "
                                    "pass y=None")
            feed = StreamFeed(Stream(X, steps, "evaluate"),
                              inputs.stream_converter(model, "evaluate", check_finite, None), prefetch)
            feed.first()  # builds an unbuilt model
        else:
            xs, ys, ws = inputs.weighed(model, X, y, sample_weight, None, "evaluate", check_finite)
            feed = ArrayFeed(xs, ys, ws, batch_size or DEFAULT_BATCH_SIZE)
        callbacks.set_params(0, 1, getattr(feed, "steps", None))
        callbacks.call("on_test_begin", {})
        scores = _scores(model, feed, None, callbacks)
        callbacks.call("on_test_end", dict(scores))
        return scores
