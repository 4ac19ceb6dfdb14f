"""The training loop and batched inference behind ``Model.fit/predict/evaluate``.

Inside an epoch nothing waits for the device: the loss and metrics of each batch are
summed on the device and read back together once, when the epoch ends (or when the
progress bar redraws).
"""

from __future__ import annotations

import math
import warnings

from ..core import random
from ..core.backend import get_backend, use_backend
from ..core.checks import int_at_least
from .callbacks import BatchLogs, Callbacks
from .data import DEFAULT_BATCH_SIZE, Stream, batches, is_stream, unpack
from .distributed import LOCAL
from .epochs import ArrayFeed, StreamFeed, feed_for_predict
from .epoch_sums import Tally
from .sample_weights import sample_weights
from ..errors import NotBuiltError, ShapeError
from .history import History
from .progress import Progress

__all__ = ["History", "fit", "predict", "evaluate", "step"]


def _check_finite(be, a, what):
    """One device read per call: refuse NaN or infinite values in ``a``."""
    xp = be.xp
    if xp.isdtype(a.dtype, "real floating"):
        bad = int(xp.sum(xp.astype(~xp.isfinite(a), xp.int64)))
        if bad:
            rows = xp.any(~xp.isfinite(xp.reshape(a, (a.shape[0], -1))), axis=1)
            first = int(xp.argmax(xp.astype(rows, xp.int8)))
            raise ValueError(f"{what} holds {bad} NaN or infinite value(s), the first in sample {first}")


def _data(model, X, y, where, check_finite=False, host_labels=False):
    """Inputs and targets on the model's backend, as lists (one array per input, one per
    output; None for an output without a loss), with shapes checked against each other.
    ``host_labels``: check label values on the host before the move where the targets come
    from the host (a stream's batches: no device read per batch)."""
    xs, out_shapes = model.accept_inputs(X)
    be, objectives, n = model.backend, model.objectives, xs[0].shape[0]
    if n == 0:
        raise ShapeError(f"{where}: X has no samples")
    ys = objectives.split(y, where)
    for k in objectives.scored:
        loss, name = objectives.losses[k], objectives.output_names[k]
        label = where if not objectives.several else f"{where}: output {name!r}"
        on_host = host_labels and not be.owns(ys[k])
        if on_host:
            host = _host_backend()
            t = loss.targets(host, ys[k], host.xp.float64)
            if t.ndim > 0 and t.shape[0] == n:
                ys[k] = loss.check_labels(host, t, (n,) + tuple(out_shapes[k]), label)
        t = loss.targets(be, ys[k], model._output_dtype(k))
        if t.ndim == 0 or t.shape[0] != n:
            got = "a scalar" if t.ndim == 0 else f"{t.shape[0]} samples"
            raise ShapeError(f"{label}: X has {n} samples but y has {got}")
        loss.check_shapes(tuple(t.shape), (n,) + tuple(out_shapes[k]))
        if check_finite:
            _check_finite(be, t, f"{label}: y")
        ys[k] = t if on_host else loss.check_labels(be, t, (n,) + tuple(out_shapes[k]), label)  # before any step
    if check_finite:
        for x in xs:
            _check_finite(be, x, f"{where}: X")
    return xs, ys


def _host_backend():
    from ..core.backend import _create

    return _create("numpy", None, False)


def _rows(arrays, a, b):
    return None if arrays is None else [None if x is None else x[a:b, ...] for x in arrays]


def _weighed(model, X, y, sample_weight, class_weight, where, check_finite, host_labels=False):
    """``(xs, ys, weights)`` on the device: ``_data`` and the sample weights (None without)."""
    xs, ys = _data(model, X, y, where, check_finite, host_labels)
    ws = sample_weights(model, sample_weight, class_weight, ys, xs[0].shape[0], where)
    if check_finite and ws is not None:
        for w in ws:
            if w is not None:
                _check_finite(model.backend, w, f"{where}: sample_weight")
    return xs, ys, ws


def _stream_converter(model, where, check_finite, class_weight):
    """A stream batch ``(x, y[, sample_weight])`` -> ``(xs, ys, weights)`` on the device."""
    def convert(raw):
        x, y, w = unpack(raw)
        if y is None:
            raise ValueError(f"{where}: each batch must be (x, y) or (x, y, sample_weight); got one without targets")
        return _weighed(model, x, y, w, class_weight, where, check_finite, host_labels=True)
    return convert


def _validation(model, validation_data, validation_steps, check_finite, prefetch):
    """A feed of the validation data: a stream, or ``(X, y)`` / ``(X, y, sample_weight)``."""
    where = "fit: validation_data"
    if is_stream(validation_data):
        return StreamFeed(Stream(validation_data, validation_steps, where),
                          _stream_converter(model, where, check_finite, None), prefetch)
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("fit: validation_data must be a pair (X_val, y_val), a triple (X_val, y_val, "
                         "sample_weight_val) or a stream of batches")
    X, y, w = (tuple(validation_data) + (None,))[:3]
    return _weighed(model, X, y, w, None, where, check_finite)


def _split(model, X, y, validation_data, validation_split, check_finite, sample_weight=None, class_weight=None,
           validation_steps=None, prefetch=2):
    """Training data and validation data (or None): triples ``(xs, ys, weights)`` on the
    model's backend (validation: a ``StreamFeed`` when given as a stream)."""
    if validation_data is not None:
        train = _weighed(model, X, y, sample_weight, class_weight, "fit", check_finite)
        return train, _validation(model, validation_data, validation_steps, check_finite, prefetch)
    xs, ys, ws = _weighed(model, X, y, sample_weight, class_weight, "fit", check_finite)
    if not validation_split:
        return (xs, ys, ws), None
    n = xs[0].shape[0]
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split!r}")
    n_val = int(n * validation_split)
    if n_val < 1 or n_val >= n:
        raise ValueError(f"fit: validation_split={validation_split} of {n} samples leaves "
                         f"{n_val} for validation; both parts need at least one sample")
    cut = n - n_val  # the last samples, before any shuffling (as Keras does)
    return ((_rows(xs, 0, cut), _rows(ys, 0, cut), _rows(ws, 0, cut)),
            (_rows(xs, cut, n), _rows(ys, cut, n), _rows(ws, cut, n)))


def step(model, xs, ys, strategy=LOCAL, share=1.0, weights=None):
    """The training step, the one every path takes: gradients cleared once, forward and
    backward (each use of a parameter adds to its gradient), the strategy's hook on the
    gradients (data parallelism sums them over processes), the optimizer. Returns the loss
    figures and outputs (None when this process had no rows of the batch). ``weights``: sample
    weights per output, or None."""
    model.zero_grad()
    if xs[0].shape[0] == 0:
        result = None
    else:
        result = model.compute_gradients(xs, ys) if weights is None else model.compute_gradients(xs, ys, weights)
    params = model.trainable_parameters()
    strategy.reduce_gradients(model, params, share)
    model.optimizer.step(params)
    return result


def fit(model, X, y, *, epochs, batch_size, verbose, validation_data, validation_split, shuffle,
        callbacks, seed, initial_epoch, check_finite, strategy, sample_weight=None, class_weight=None,
        steps_per_epoch=None, validation_steps=None, prefetch=2):
    """``strategy`` (see distributed.py) is consulted where processes must agree: weights at
    the start, the data each reads, gradients, figures, who reports and who writes. ``X`` may
    be a stream of batches (data.py), read by ``StreamFeed``; arrays go through ``ArrayFeed``."""
    if model.objectives is None or model.optimizer is None:
        raise NotBuiltError(f"{model.name}: call compile(loss=..., optimizer=...) before fit")
    int_at_least("fit", "epochs", epochs, 0)
    int_at_least("fit", "batch_size", batch_size, 1)
    int_at_least("fit", "initial_epoch", initial_epoch, 0)
    callbacks = Callbacks(strategy.callbacks(list(callbacks or [])), model, "fit")
    history = model.history = History()
    with use_backend(model.backend or get_backend()), strategy.running():
        try:
            if is_stream(X):
                feed, (xs, ys, _), validation = _stream_fit(model, X, y, validation_data, validation_split,
                                                            check_finite, sample_weight, class_weight,
                                                            steps_per_epoch, validation_steps, prefetch)
            else:
                (xs, ys, ws), validation = _split(model, X, y, validation_data, validation_split, check_finite,
                                                  sample_weight, class_weight, validation_steps, prefetch)
                feed = ArrayFeed(xs, ys, ws, batch_size)
        except Exception as e:  # noqa: BLE001 (in data-parallel training every process must hear of it)
            if strategy.size == 1:
                raise
            strategy.agree(None, e)
        strategy.agree(_facts(xs, ys, validation if isinstance(validation, tuple) else None, batch_size, epochs,
                              initial_epoch, shuffle))
        strategy.setup(model)
        if isinstance(validation, tuple):  # each process scores its part of the validation data
            a, b = strategy.rows(validation[0][0].shape[0])
            validation = ArrayFeed(*(_rows(part, a, b) for part in validation), batch_size)
        model.data_seed = strategy.agree_seed(_data_seed(model, seed, initial_epoch))
        progress = Progress(verbose if strategy.is_chief else 0, epochs, feed.steps, feed.samples or 0)
        model.stop_training = False
        callbacks.call("on_train_begin", {})
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
            if validation is not None:
                scores = _scores(model, validation, strategy, callbacks)
                logs.update({f"val_{k}": v for k, v in scores.items()})
            model.epoch = epoch + 1  # before the callbacks: a checkpoint saved now resumes after it
            try:
                callbacks.call("on_epoch_end", epoch, logs)
            finally:  # a callback that raises (a checkpoint on a full disk) leaves history and epoch agreeing
                history.record(epoch, **logs)
            progress.samples = feed.samples or 0
            progress.epoch_end(epoch, logs)
            if model.stop_training:
                break
        callbacks.call("on_train_end", {})
    return history


def _stream_fit(model, X, y, validation_data, validation_split, check_finite, sample_weight, class_weight,
                steps_per_epoch, validation_steps, prefetch):
    """``(feed, first batch, validation)`` for ``fit`` on a stream of batches."""
    if y is not None or sample_weight is not None:
        raise ValueError("fit: x is a stream of batches, so y and sample_weight come in its batches "
                         "((x, y) or (x, y, sample_weight)); pass y=None")
    if validation_split:
        raise ValueError("fit: validation_split needs arrays; with a stream of batches pass validation_data")
    feed = StreamFeed(Stream(X, steps_per_epoch, "fit"), _stream_converter(model, "fit", check_finite, class_weight),
                      prefetch)
    first = feed.first()  # builds an unbuilt model before the weights are shared or trained
    validation = None
    if validation_data is not None:
        validation = _validation(model, validation_data, validation_steps, check_finite, prefetch)
    return feed, first, validation


def _facts(xs, ys, validation, batch_size, epochs, initial_epoch, shuffle):
    """What the processes of a data-parallel fit must agree on (plain values, for an all-gather)."""
    n = xs[0].shape[0]
    return {"samples": n, "batch_size": batch_size, "epochs": epochs, "initial_epoch": initial_epoch,
            "shuffle": bool(shuffle), "steps per epoch": len(batches(n, batch_size)),
            "input shapes": [tuple(x.shape[1:]) for x in xs],
            "target shapes": [None if y is None else tuple(y.shape[1:]) for y in ys],
            "validation samples": None if validation is None else validation[0][0].shape[0]}


def _data_seed(model, seed, initial_epoch):
    """The seed of every epoch's data order: ``seed``; when resuming (``initial_epoch > 0``)
    the model's own, so that epoch k is shuffled as it would have been without a break."""
    if seed is not None:
        return int(seed)
    if initial_epoch and model.data_seed is not None:
        return model.data_seed
    return int(random.generator().integers(2**63))


def _train_epoch(model, feed, rng, progress, strategy, epoch=0, callbacks=None):
    """One pass over ``feed`` (feeding.py: arrays or a stream), each batch through ``step``;
    returns the epoch's mean loss and metrics as floats. A non-finite loss ends it (and
    ``fit``) within ``CHECK_STEPS`` steps, see ``NonFiniteGuard``. Batch callbacks get logs
    read from the device only if they look (``BatchLogs``)."""
    be, objectives = model.backend, model.objectives
    tally, total, k = _tally(model), feed.steps, -1
    guard = NonFiniteGuard(model, strategy, epoch)
    for k, (xb, yb, wb, share, done, rows) in enumerate(feed.epoch(be, rng, strategy)):
        if callbacks is not None:
            callbacks.call("on_train_batch_begin", k, {})
        result = step(model, xb, yb, strategy, share, wb)
        if result is not None:  # None: this process had no rows in this batch
            figures, outs = result
            tally.add(figures, objectives.metric_statistics(yb, outs, wb), rows)
            guard.record(k, figures[0])
            # the running figures, read from the device only when the bar redraws
            progress.batch_end(done, tally.reader(be))
        if callbacks is not None and callbacks.wants("on_train_batch_end"):
            callbacks.call("on_train_batch_end", k, BatchLogs(objectives.names, tally.reader(be)))
        if (k + 1) % CHECK_STEPS == 0 and (total is None or k + 1 < total) and guard.stopped(tally.sums, k):
            break
    logs = tally.read(be, strategy)  # this process's rows (figures summed over processes)
    if not model.stop_training and not math.isfinite(logs.get("loss", 0.0)):
        guard.stop(k + 1)  # every process reads the same summed loss: they stop together
    return logs


CHECK_STEPS = 32  # steps between reads of the running loss: a non-finite loss stops fit within as many


class NonFiniteGuard:
    """Stops training at a NaN or infinite loss without a host read per step: every
    ``CHECK_STEPS`` steps and at the epoch's end the running loss total (one number) is read;
    while it is finite the weights and optimizer state are copied on the device, and when it
    is not, they are put back, the first bad batch is named in a warning and ``fit`` stops.
    In data-parallel training the processes decide together (one small all-reduce per check)."""

    def __init__(self, model, strategy, epoch):
        self.model, self.strategy, self.epoch = model, strategy, epoch
        self.losses, self.after = [], 0  # (step, loss) since the last check; steps done at the copy
        self.copy = self._snapshot()

    def record(self, k, loss):
        self.losses.append((k, loss))

    def _snapshot(self):
        xp, opt = self.model.backend.xp, self.model.optimizer
        return ([(p, xp.asarray(p.value, copy=True)) for p in self.model.parameters()],
                {p: {slot: xp.asarray(v, copy=True) for slot, v in state.items()} for p, state in opt.state.items()},
                opt.iterations)

    def stopped(self, totals, k) -> bool:
        """The check after step ``k``: True when training stopped."""
        bad = totals is not None and not math.isfinite(float(self.model.backend.to_numpy(totals[0])))
        if not self.strategy.any_true(bad):
            self.losses, self.after, self.copy = [], k + 1, self._snapshot()
            return False
        self.stop(k + 1)
        return True

    def stop(self, limit):
        """Put the copy back and say where the loss first went bad (before step ``limit``)."""
        be, first = self.model.backend, limit - 1
        if self.losses:
            values = be.to_numpy(be.xp.stack([loss for _, loss in self.losses]))
            first = next((step for (step, _), v in zip(self.losses, values) if not math.isfinite(float(v))), first)
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


def _tally(model):
    return Tally(model.objectives, [tuple(t.shape) for t in model.graph.outputs])


def _scores(model, feed, strategy=None, callbacks=None):
    """Mean loss and metrics over ``feed`` (this process's part of arrays, or a stream whose
    batches each process splits) in evaluation mode, as floats (summed over the processes'
    parts when training is distributed)."""
    be, objectives, tally = model.backend, model.objectives, _tally(model)
    split = strategy if isinstance(feed, StreamFeed) else None
    for k, (xb, yb, wb, _, _, rows) in enumerate(feed.epoch(be, None, split)):
        if rows == 0:
            continue
        values, masks = model.graph.infer_masked(xb, objectives.slots)
        losses = model._add_penalties(objectives.loss_values(yb, values, wb, masks=masks))  # as fit reports them
        tally.add(losses, objectives.metric_statistics(yb, values, wb), rows)
        if callbacks is not None and callbacks.wants("on_test_batch_end"):
            callbacks.call("on_test_batch_end", k, BatchLogs(objectives.names, tally.reader(be)))
    if isinstance(feed, StreamFeed):
        if feed.samples == 0:
            raise ValueError(f"{feed.stream.where}: the data stream yielded no batch (a generator is spent after "
                             "one pass: pass one that repeats with validation_steps/steps, an iterable that can "
                             "be iterated again, or a Sequence)")
        feed.stream.end_epoch()  # a Sequence's on_epoch_end after each pass, validation's too
    return tally.read(be, strategy)


def predict(model, X, *, batch_size=None, check_finite=False, callbacks=None, steps=None, prefetch=2):
    """The outputs for ``X`` (arrays, or a stream of batches), a list of arrays (one per model
    output), computed ``batch_size`` rows at a time (default ``DEFAULT_BATCH_SIZE``)."""
    if batch_size is not None:
        int_at_least("predict", "batch_size", batch_size, 1)
    callbacks = Callbacks(callbacks, model, "predict")
    with use_backend(model.backend or get_backend()):
        def inputs(x):
            xs, _ = model.accept_inputs(x)
            if check_finite:
                for a in xs:
                    _check_finite(model.backend, a, "predict: X")
            return xs

        if is_stream(X):
            chunks = feed_for_predict(Stream(X, steps, "predict"), inputs, prefetch)
        else:
            xs = inputs(X)
            n, size = xs[0].shape[0], batch_size or DEFAULT_BATCH_SIZE
            chunks = [xs] if size >= n else (_rows(xs, i, min(i + size, n)) for i in range(0, n, size))
        callbacks.call("on_predict_begin", {})
        parts = []
        for k, xb in enumerate(chunks):
            callbacks.call("on_predict_batch_begin", k, {})
            parts.append(model.graph.infer(xb))
            callbacks.call("on_predict_batch_end", k, {"outputs": parts[-1] if len(parts[-1]) > 1 else parts[-1][0]})
        callbacks.call("on_predict_end", {})
        if not parts:
            raise ValueError("predict: the data stream yielded no batch")
        if len(parts) == 1:
            return parts[0]
        return [model.backend.xp.concat(list(column), axis=0) for column in zip(*parts)]


def evaluate(model, X, y, *, batch_size=None, check_finite=False, sample_weight=None, callbacks=None, steps=None,
             prefetch=2):
    if model.objectives is None:
        raise NotBuiltError(f"{model.name}: call compile(loss=...) before evaluate")
    if batch_size is not None:
        int_at_least("evaluate", "batch_size", batch_size, 1)
    callbacks = Callbacks(callbacks, model, "evaluate")
    with use_backend(model.backend or get_backend()):
        if is_stream(X):
            if y is not None or sample_weight is not None:
                raise ValueError("evaluate: x is a stream of batches, so y and sample_weight come in its batches; "
                                 "pass y=None")
            feed = StreamFeed(Stream(X, steps, "evaluate"), _stream_converter(model, "evaluate", check_finite, None),
                              prefetch)
            feed.first()  # builds an unbuilt model
        else:
            xs, ys, ws = _weighed(model, X, y, sample_weight, None, "evaluate", check_finite)
            feed = ArrayFeed(xs, ys, ws, batch_size or DEFAULT_BATCH_SIZE)
        callbacks.call("on_test_begin", {})
        scores = _scores(model, feed, None, callbacks)
        callbacks.call("on_test_end", scores)
        return scores
