"""The training loop and batched inference behind ``Model.fit/predict/evaluate``.

Inside an epoch nothing waits for the device: the loss and metrics of each batch are
summed on the device and read back together once, when the epoch ends (or when the
progress bar redraws).
"""

from __future__ import annotations

from . import random
from ._backend import get_backend, use_backend
from ._checks import int_at_least
from .callbacks import Callback
from .data import batches
from .distributed import LOCAL
from .errors import NotBuiltError, ShapeError
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


def _data(model, X, y, where, check_finite=False):
    """Inputs and targets on the model's backend, as lists (one array per input, one per
    output; None for an output without a loss), with shapes checked against each other."""
    xs, out_shapes = model.accept_inputs(X)
    be, objectives, n = model.backend, model.objectives, xs[0].shape[0]
    if n == 0:
        raise ShapeError(f"{where}: X has no samples")
    ys = objectives.split(y, where)
    for k in objectives.scored:
        loss, name = objectives.losses[k], objectives.output_names[k]
        label = where if not objectives.several else f"{where}: output {name!r}"
        t = loss.targets(be, ys[k], model._output_dtype(k))
        if t.ndim == 0 or t.shape[0] != n:
            got = "a scalar" if t.ndim == 0 else f"{t.shape[0]} samples"
            raise ShapeError(f"{label}: X has {n} samples but y has {got}")
        loss.check_shapes(tuple(t.shape), (n,) + tuple(out_shapes[k]))
        if check_finite:
            _check_finite(be, t, f"{label}: y")
        ys[k] = loss.check_labels(be, t, (n,) + tuple(out_shapes[k]), label)  # once per call, before any step
    if check_finite:
        for x in xs:
            _check_finite(be, x, f"{where}: X")
    return xs, ys


def _rows(arrays, a, b):
    return [None if x is None else x[a:b, ...] for x in arrays]


def _split(model, X, y, validation_data, validation_split, check_finite):
    """Training data and validation data (or None): pairs of lists on the model's backend."""
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (X_val, y_val)")
        return (_data(model, X, y, "fit", check_finite),
                _data(model, *validation_data, "fit: validation_data", check_finite))
    xs, ys = _data(model, X, y, "fit", check_finite)
    if not validation_split:
        return (xs, ys), None
    n = xs[0].shape[0]
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split!r}")
    n_val = int(n * validation_split)
    if n_val < 1 or n_val >= n:
        raise ValueError(f"fit: validation_split={validation_split} of {n} samples leaves "
                         f"{n_val} for validation; both parts need at least one sample")
    cut = n - n_val  # the last samples, before any shuffling (as Keras does)
    return (_rows(xs, 0, cut), _rows(ys, 0, cut)), (_rows(xs, cut, n), _rows(ys, cut, n))


def step(model, xs, ys, strategy=LOCAL, share=1.0):
    """The training step, the one every path takes: gradients cleared once, forward and
    backward (each use of a parameter adds to its gradient), the strategy's hook on the
    gradients (data parallelism sums them over processes), the optimizer. Returns the loss
    figures and outputs (None when this process had no rows of the batch)."""
    model.zero_grad()
    result = model.compute_gradients(xs, ys) if xs[0].shape[0] > 0 else None
    params = model.trainable_parameters()
    strategy.reduce_gradients(model, params, share)
    model.optimizer.step(params)
    return result


def fit(model, X, y, *, epochs, batch_size, verbose, validation_data, validation_split, shuffle,
        callbacks, seed, initial_epoch, check_finite, strategy):
    """``strategy`` (see distributed.py) is consulted where processes must agree: weights at
    the start, the data each reads, gradients, figures, who reports and who writes."""
    if model.objectives is None or model.optimizer is None:
        raise NotBuiltError(f"{model.name}: call compile(loss=..., optimizer=...) before fit")
    int_at_least("fit", "epochs", epochs, 0)
    int_at_least("fit", "batch_size", batch_size, 1)
    int_at_least("fit", "initial_epoch", initial_epoch, 0)
    callbacks = strategy.callbacks(list(callbacks or []))
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks must be xdl.callbacks.Callback instances, got {type(cb).__name__}")
        cb.set_model(model)
    history = model.history = History()
    with use_backend(model.backend or get_backend()), strategy.running():
        (xs, ys), validation = _split(model, X, y, validation_data, validation_split, check_finite)
        strategy.setup(model)
        if validation is not None:  # each process scores its part of the validation data
            a, b = strategy.rows(validation[0][0].shape[0])
            validation = _rows(validation[0], a, b), _rows(validation[1], a, b)
        model.data_seed = strategy.agree_seed(_data_seed(model, seed, initial_epoch))
        n = xs[0].shape[0]
        progress = Progress(verbose if strategy.is_chief else 0, epochs, len(batches(n, batch_size)), n)
        model.stop_training = False
        for cb in callbacks:
            cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            progress.epoch_begin(epoch)
            for layer in model.layers:
                layer.start_epoch(epoch, strategy.rank)
            order_rng = random.generator([model.data_seed, epoch]) if shuffle else None
            logs = _train_epoch(model, xs, ys, batch_size, order_rng, progress, strategy)
            strategy.epoch_end(model)
            if validation is not None:
                scores = _scores(model, *validation, batch_size, strategy)
                logs.update({f"val_{k}": v for k, v in scores.items()})
            model.epoch = epoch + 1  # before the callbacks: a checkpoint saved now resumes after it
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            history.record(epoch, **logs)
            progress.epoch_end(epoch, logs)
            if model.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end()
    return history


def _data_seed(model, seed, initial_epoch):
    """The seed of every epoch's data order: ``seed``; when resuming (``initial_epoch > 0``)
    the model's own, so that epoch k is shuffled as it would have been without a break."""
    if seed is not None:
        return int(seed)
    if initial_epoch and model.data_seed is not None:
        return model.data_seed
    return int(random.generator().integers(2**63))


def _train_epoch(model, xs, ys, batch_size, rng, progress, strategy):
    """One pass over the data; returns the epoch's mean loss and metrics as floats."""
    be, xp, n = model.backend, model.backend.xp, xs[0].shape[0]
    # one gather per epoch (of this process's rows); the order is drawn on the host for reproducibility
    order = be.asarray(rng.permutation(n)) if rng is not None else None
    order, steps = strategy.shard(be, order, n, batch_size)
    if order is not None:
        xs = [xp.take(x, order, axis=0) for x in xs]
        ys = [None if y is None else xp.take(y, order, axis=0) for y in ys]
    objectives, totals = model.objectives, None
    for i, j, share, done in steps:
        yb = _rows(ys, i, j)
        result = step(model, _rows(xs, i, j), yb, strategy, share)
        if result is None:  # this process had no rows in this batch
            continue
        figures, outs = result
        totals = _accumulate(totals, figures + objectives.metric_values(yb, outs), j - i)
        # the running figures, read from the device only when the bar redraws
        progress.batch_end(done, lambda totals=totals, seen=j: _read(model, totals, seen))
    return _read(model, totals, xs[0].shape[0], strategy)  # this process's rows


def _accumulate(totals, values, weight):
    values = [v * weight for v in values]
    return values if totals is None else [t + v for t, v in zip(totals, values)]


def _read(model, totals, n, strategy=None):
    """The epoch's one device-to-host transfer: every total at once (then summed over
    processes when training is distributed)."""
    names = model.objectives.names
    values = None if totals is None else model.backend.to_numpy(model.backend.xp.stack(totals))
    if strategy is not None:
        values, n = strategy.reduce_totals(values, n, len(names))
    return {name: float(v) / n for name, v in zip(names, values)}


def _scores(model, xs, ys, batch_size, strategy=None):
    """Mean loss and metrics over ``xs``, ``ys`` in evaluation mode, as floats (summed over the
    processes' parts when training is distributed)."""
    totals, objectives, n = None, model.objectives, xs[0].shape[0]
    for i, j in batches(n, batch_size or n):
        yb, values = _rows(ys, i, j), model.graph.infer(_rows(xs, i, j), objectives.slots)
        totals = _accumulate(totals, objectives.loss_values(yb, values) + objectives.metric_values(yb, values), j - i)
    return _read(model, totals, n, strategy)


def predict(model, X, *, batch_size=None, check_finite=False):
    """The outputs for ``X``, a list of arrays (one per model output)."""
    with use_backend(model.backend or get_backend()):
        xs, _ = model.accept_inputs(X)
        if check_finite:
            for x in xs:
                _check_finite(model.backend, x, "predict: X")
        n = xs[0].shape[0]
        if batch_size is None or batch_size >= n:
            return model.graph.infer(xs)
        int_at_least("predict", "batch_size", batch_size, 1)
        parts = [model.graph.infer(_rows(xs, i, j)) for i, j in batches(n, batch_size)]
        return [model.backend.xp.concat(list(column), axis=0) for column in zip(*parts)]


def evaluate(model, X, y, *, batch_size=None, check_finite=False):
    if model.objectives is None:
        raise NotBuiltError(f"{model.name}: call compile(loss=...) before evaluate")
    if batch_size is not None:
        int_at_least("evaluate", "batch_size", batch_size, 1)
    with use_backend(model.backend or get_backend()):
        xs, ys = _data(model, X, y, "evaluate", check_finite)
        return _scores(model, xs, ys, batch_size)
