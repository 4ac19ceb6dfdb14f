"""Callbacks for ``fit(callbacks=[...])``: hooks at the start and end of training and of
each epoch. ``logs`` holds the epoch's figures as Python floats ("loss", "val_loss", ...);
a callback stops training by setting ``model.stop_training = True``."""

from __future__ import annotations

import math

from .weights import export_weights, import_weights


class Callback:
    """Base of callbacks. ``chief_only = True``: in data-parallel training only rank 0 runs it."""

    model = None
    chief_only = False

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class _Monitor(Callback):
    """Tracks the best value of one logged figure ("min" for losses, "max" for accuracies)."""

    def __init__(self, monitor, mode, min_delta=0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if any(k in monitor for k in ("acc", "auc")) else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self.best = None

    def current(self, logs):
        if self.monitor not in (logs or {}):
            raise KeyError(f"{type(self).__name__}: monitor {self.monitor!r} is not logged; "
                           f"available: {sorted(logs or {})} (pass validation data for 'val_' figures)")
        return logs[self.monitor]

    def improved(self, value) -> bool:
        if self.best is None:
            return not math.isnan(value)
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; with
    ``restore_best_weights`` the model ends with the weights of its best epoch."""

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto",
                 restore_best_weights=False, verbose=0):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.restore_best_weights, self.verbose = patience, restore_best_weights, verbose

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.wait, self.stopped_epoch = None, None, 0, None
        self._best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = self.current(logs)
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = export_weights(self.model, to_numpy=False)
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self._best_weights is not None:
            import_weights(self.model, self._best_weights)
        if self.verbose and self.stopped_epoch is not None:
            print(f"EarlyStopping: stopped after epoch {self.stopped_epoch + 1}; best {self.monitor} "
                  f"{self.best:.4f} at epoch {self.best_epoch + 1}")


class ModelCheckpoint(_Monitor):
    """Save the model after each epoch (or only when ``monitor`` improves, with
    ``save_best_only``). ``filepath`` may hold fields such as "{epoch:02d}" or "{val_loss:.3f}";
    writes are atomic, so an interrupted save leaves the previous file whole. With
    ``include_optimizer`` each file is a checkpoint that training can resume from. In
    data-parallel training only rank 0 writes."""

    chief_only = True

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, mode="auto", verbose=0,
                 include_optimizer=False):
        super().__init__(monitor, mode)
        self.filepath, self.save_best_only, self.verbose = str(filepath), save_best_only, verbose
        self.include_optimizer = include_optimizer

    def on_train_begin(self, logs=None):
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self.current(logs)
            if not self.improved(value):
                return
            self.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        self.model.save(path, include_optimizer=self.include_optimizer)
        if self.verbose:
            print(f"ModelCheckpoint: saved {path}")


class LearningRateScheduler(Callback):
    """Set the optimizer's rate at each epoch's start to ``schedule(epoch, current_rate)``."""

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be callable (epoch, lr) -> lr, got {schedule!r}")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        optimizer.learning_rate = float(self.schedule(epoch, optimizer.learning_rate))
        if self.verbose:
            print(f"LearningRateScheduler: epoch {epoch + 1}, learning rate {optimizer.learning_rate:.6g}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


class TerminateOnNaN(Callback):
    """Stop as soon as a NaN or infinite loss is read back (at the end of the epoch: the
    loss stays on the device until then)."""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"TerminateOnNaN: loss is {loss} at epoch {epoch + 1}; stopping")
            self.model.stop_training = True

