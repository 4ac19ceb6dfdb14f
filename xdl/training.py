"""The training loop and batched inference behind ``NeuralNetwork.fit/predict/evaluate``.

Inside an epoch nothing waits for the device: batch losses are summed on the device and
read back once, when the epoch's figure is printed or recorded.
"""

from __future__ import annotations

import time

from . import random
from ._backend import get_backend, use_backend
from .errors import NotBuiltError, ShapeError


class History:
    """Per-epoch figures: ``history.history["loss"]``, ``history.epoch``."""

    def __init__(self):
        self.history = {}
        self.epoch = []

    def record(self, epoch, **figures):
        self.epoch.append(epoch)
        for key, value in figures.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self):
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"fit: {name} must be an int >= {minimum}, got {value!r}")
    return value


def _data(model, X, y, where):
    """Inputs and targets on the model's backend, with shapes checked against each other."""
    X, out_shape = model.accept_inputs(X)
    be, loss = model.backend, model.loss
    if X.shape[0] == 0:
        raise ShapeError(f"{where}: X has no samples")
    y = be.asarray(y)
    if not (loss.accepts_labels and be.xp.isdtype(y.dtype, "integral")):
        y = be.asarray(y, dtype=model.layers[-1].dtype)
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        got = "a scalar" if y.ndim == 0 else f"{y.shape[0]} samples"
        raise ShapeError(f"{where}: X has {X.shape[0]} samples but y has {got}")
    loss.check_shapes(tuple(y.shape), (X.shape[0],) + tuple(out_shape))
    return X, y


def _batches(n, batch_size):
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def fit(model, X, y, *, epochs, batch_size, shuffle, verbose, seed):
    if model.loss is None or model.optimizer is None:
        raise NotBuiltError(f"{model.name}: call compile(loss=..., optimizer=...) before fit")
    _positive_int("epochs", epochs, minimum=0)
    _positive_int("batch_size", batch_size)
    history = History()
    with use_backend(model.backend or get_backend()):
        X, y = _data(model, X, y, "fit")
        be, xp, n = model.backend, model.backend.xp, X.shape[0]
        rng = random.generator(seed)
        batches = _batches(n, batch_size)
        for epoch in range(epochs):
            start = time.perf_counter()
            Xe, ye = X, y
            if shuffle:  # one gather per epoch; the order is drawn on the host for reproducibility
                order = be.asarray(rng.permutation(n))
                Xe, ye = xp.take(X, order, axis=0), xp.take(y, order, axis=0)
            total = 0.0
            for i, j in batches:
                total = total + model.train_step(Xe[i:j, ...], ye[i:j, ...]) * (j - i)
            epoch_loss = float(be.to_numpy(total)) / n  # the epoch's one device-to-host sync
            history.record(epoch, loss=epoch_loss)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs} - loss: {epoch_loss:.4f} - "
                      f"{time.perf_counter() - start:.2f}s", flush=True)
    return history


def predict(model, X, *, batch_size=None):
    with use_backend(model.backend or get_backend()):
        X, _ = model.accept_inputs(X)
        n = X.shape[0]
        if batch_size is None or batch_size >= n:
            return model.call(X, False)
        _positive_int("batch_size", batch_size)
        outputs = [model.call(X[i:j, ...], False) for i, j in _batches(n, batch_size)]
        return model.backend.xp.concat(outputs, axis=0)


def evaluate(model, X, y, *, batch_size=None) -> float:
    if model.loss is None:
        raise NotBuiltError(f"{model.name}: call compile(loss=...) before evaluate")
    with use_backend(model.backend or get_backend()):
        X, y = _data(model, X, y, "evaluate")
        n = X.shape[0]
        total = 0.0
        for i, j in _batches(n, batch_size or n):
            total = total + model.loss.call(y[i:j, ...], model.call(X[i:j, ...], False)) * (j - i)
        return float(model.backend.to_numpy(total)) / n
