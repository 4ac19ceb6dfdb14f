"""Callbacks for ``fit(callbacks=[...])`` (and ``evaluate``/``predict``'s): hooks at the start
and end of training, of each epoch and of each batch. Epoch ``logs`` hold the epoch's figures
as Python floats ("loss", "val_loss", ...); a callback stops training by setting
``model.stop_training = True``.

Batch hooks get ``BatchLogs``: the running figures of the epoch so far (as Keras gives them),
read from the device only when a value is looked up. A callback that reads ``logs["loss"]``
every batch makes each step wait for the device; one that does not costs nothing.
"""

from __future__ import annotations

import csv
import math
import os

from ..core.checks import boolean, file_path, int_at_least, number, one_of, short, text
from ..errors import ArgumentError, ArgumentTypeError, NotFoundError
from ..io.weights import export_weights, import_weights
from .hooks import HOOKS, BatchLogs, Callback  # noqa: F401 (BatchLogs: xdl.callbacks' name for batch hooks' logs)
from .tensorboard import TensorBoard  # noqa: F401 (xdl.callbacks.TensorBoard)


def callback_list(where, callbacks) -> list:
    """``callbacks`` (None, or a list or tuple of ``Callback``) as a list."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        hint = " (put it in a list: callbacks=[...])" if isinstance(callbacks, Callback) else ""
        raise ArgumentTypeError(f"{where}: callbacks must be a list of xdl.callbacks.Callback, got "
                                f"{short(callbacks)}{hint}")
    return list(callbacks)


class Callbacks:
    """The callbacks of one call, dispatched by hook name; a batch hook that no callback
    overrides is skipped without building its logs."""

    def __init__(self, callbacks, model, where="fit"):
        self.callbacks = callback_list(where, callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise ArgumentTypeError(f"{where}: callbacks must be xdl.callbacks.Callback instances, got "
                                        f"{type(cb).__name__}")
            cb.set_model(model)
        self._used = {hook: [cb for cb in self.callbacks if getattr(type(cb), hook, None) is not getattr(Callback, hook)
                             or hook in getattr(cb, "__dict__", {})] for hook in HOOKS}

    def __iter__(self):
        return iter(self.callbacks)

    def set_params(self, verbose, epochs, steps):
        for cb in self.callbacks:
            cb.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})

    def wants(self, hook) -> bool:
        return bool(self._used[hook])

    def call(self, hook, *args):
        for cb in self._used[hook]:
            getattr(cb, hook)(*args)


class _Monitor(Callback):
    """Tracks the best value of one logged figure ("min" for losses, "max" for accuracies)."""

    def __init__(self, monitor, mode, min_delta=0.0, patience=0, verbose=0):
        owner = type(self).__name__
        monitor = text(owner, "monitor", monitor)
        mode = one_of(owner, "mode", mode, ("auto", "min", "max"))
        if mode == "auto":
            mode = "max" if any(k in monitor for k in ("acc", "auc")) else "min"
        self.monitor, self.mode = monitor, mode
        self.min_delta = abs(number(owner, "min_delta", min_delta, -math.inf))
        self.patience = int_at_least(owner, "patience", patience, 0)
        self.verbose = one_of(owner, "verbose", verbose, (0, 1, 2))
        self.best = None

    def current(self, logs):
        if self.monitor not in (logs or {}):
            raise NotFoundError(f"{type(self).__name__}: monitor {self.monitor!r} is not logged; "
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
        super().__init__(monitor, mode, min_delta, patience, verbose)
        self.restore_best_weights = boolean("EarlyStopping", "restore_best_weights", restore_best_weights)

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
    the optimizer's state (``include_optimizer``: None, the default, when the model is compiled, as
    Keras's ``save``) each file is a checkpoint that training can resume from. In
    data-parallel training only rank 0 writes."""

    chief_only = True

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None, *, include_optimizer=None):
        super().__init__(monitor, mode, verbose=verbose)
        self.filepath = file_path("ModelCheckpoint", "filepath", filepath)
        self.save_best_only = boolean("ModelCheckpoint", "save_best_only", save_best_only)
        #: Keras's: the weights alone (``model.save_weights``), not the architecture
        self.save_weights_only = boolean("ModelCheckpoint", "save_weights_only", save_weights_only)
        self.include_optimizer = boolean("ModelCheckpoint", "include_optimizer", include_optimizer, optional=True)
        if not isinstance(save_freq, str) or save_freq != "epoch":
            raise ArgumentError(f"ModelCheckpoint: save_freq must be 'epoch' (saving every k batches is not "
                                f"supported), got {short(save_freq)}")
        self.initial_value_threshold = None if initial_value_threshold is None else number(
            "ModelCheckpoint", "initial_value_threshold", initial_value_threshold, low=-math.inf)

    def on_train_begin(self, logs=None):
        self.best = self.initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self.current(logs)
            if not self.improved(value):
                return
            self.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        try:
            if self.save_weights_only:
                self.model.save_weights(path)
            else:
                self.model.save(path, include_optimizer=self.include_optimizer)
        except OSError as e:  # a ModelSaveError (full disk, no permission): say where training stands
            if hasattr(e, "message"):
                e.message = (f"ModelCheckpoint after epoch {epoch + 1}: {e.message}; training stopped with epoch "
                             f"{epoch + 1} trained (model.epoch and the history agree) but not saved")
            raise
        if self.verbose:
            print(f"ModelCheckpoint: saved {path}")


class LearningRateScheduler(Callback):
    """Set the optimizer's rate at each epoch's start to ``schedule(epoch, current_rate)``."""

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise ArgumentTypeError(f"LearningRateScheduler: schedule must be callable (epoch, lr) -> lr, "
                                    f"got {short(schedule)}")
        self.schedule, self.verbose = schedule, one_of("LearningRateScheduler", "verbose", verbose, (0, 1, 2))

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        optimizer.learning_rate = float(self.schedule(epoch, optimizer.learning_rate))
        if self.verbose:
            print(f"LearningRateScheduler: epoch {epoch + 1}, learning rate {optimizer.learning_rate:.6g}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class TerminateOnNaN(Callback):
    """Stop as soon as a NaN or infinite loss is read back (at the end of the epoch: the
    loss stays on the device until then)."""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"TerminateOnNaN: loss is {loss} at epoch {epoch + 1}; stopping")
            self.model.stop_training = True


class ReduceLROnPlateau(_Monitor):
    """Keras's ``ReduceLROnPlateau``: when ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` epochs, multiply the learning rate by ``factor`` (not below
    ``min_lr``), then wait ``cooldown`` epochs before counting again. Logs "learning_rate"."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        owner = "ReduceLROnPlateau"
        self.factor = number(owner, "factor (it multiplies the rate)", factor, 0.0, 1.0, low_open=True, high_open=True)
        super().__init__(monitor, mode, min_delta, patience, verbose)
        self.cooldown = int_at_least(owner, "cooldown", cooldown, 0)
        self.min_lr = number(owner, "min_lr", min_lr)

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if callable(getattr(optimizer, "_learning_rate", None)):
            raise ArgumentTypeError("ReduceLROnPlateau: the optimizer's learning_rate is a schedule; pass a number as "
                                    "learning_rate= to let this callback change it")
        value = self.current(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.improved(value):
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(optimizer.learning_rate)
                if old > self.min_lr:
                    optimizer.learning_rate = max(old * self.factor, self.min_lr)
                    if self.verbose:
                        print(f"ReduceLROnPlateau: epoch {epoch + 1}, learning rate {old:.6g} -> "
                              f"{optimizer.learning_rate:.6g}")
                    self.cooldown_counter, self.wait = self.cooldown, 0
        if logs is not None:
            logs["learning_rate"] = float(optimizer.learning_rate)


class CSVLogger(Callback):
    """Keras's ``CSVLogger``: one row per epoch ("epoch", counted from 0, then the logs' keys
    in order), flushed as it is written, so a killed run keeps its rows. ``append=True``
    continues an existing file under its header: a run resumed with ``initial_epoch`` adds its
    rows after the earlier ones (rows of epochs the resumed run repeats are dropped first, so
    the file holds each epoch once). In data-parallel training only rank 0 writes."""

    chief_only = True

    def __init__(self, filename, separator=",", append=False):
        self.filename = file_path("CSVLogger", "filename", filename)
        if not isinstance(separator, str) or len(separator) != 1:
            raise ArgumentError(f"CSVLogger: separator must be one character, got {short(separator)}")
        self.separator, self.append = separator, boolean("CSVLogger", "append", append)
        self.keys, self._file, self._writer = None, None, None

    def on_train_begin(self, logs=None):
        self.keys, self._file, self._writer = None, None, None

    def on_epoch_begin(self, epoch, logs=None):
        if self._file is None:  # the run's first epoch: the one it starts (or resumes) from
            self._open(epoch)

    def _open(self, start):
        if self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0:
            with open(self.filename, newline="") as f:
                reader = csv.reader(f, delimiter=self.separator)
                header = next(reader, None)
                rows = [row for row in reader if row]
            if header and header[0] == "epoch":
                self.keys = header[1:]
                kept = [row for row in rows if not row[0].isdigit() or int(row[0]) < start]
                if len(kept) != len(rows):  # epochs this run does again
                    self._rewrite(header, kept)
        self._file = open(self.filename, "a" if self.keys is not None else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator)

    def _rewrite(self, header, rows):
        tmp = f"{self.filename}.tmp{os.getpid()}"
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, self.filename)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self._file is None:
            self._open(epoch)
        if self.keys is None:
            self.keys = list(logs)
            self._writer.writerow(["epoch"] + self.keys)
        extra = sorted(set(logs) - set(self.keys))
        if extra:
            self.on_train_end()
            raise ArgumentError(f"CSVLogger: {self.filename} has columns {self.keys}; this run also logs {extra} "
                                "(write to a new file, or append=False)")
        self._writer.writerow([epoch] + [_cell(logs.get(k, "")) for k in self.keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None


def _cell(value):
    return repr(float(value)) if isinstance(value, float) else value


class LambdaCallback(Callback):
    """Keras's ``LambdaCallback``: a callback from functions, by hook name, e.g.
    ``LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))``;
    ``on_train_batch_end=lambda batch, logs: ...`` and every other hook of ``Callback``."""

    def __init__(self, **hooks):
        unknown = sorted(set(hooks) - set(HOOKS))
        if unknown:
            raise ArgumentTypeError(f"LambdaCallback: unknown hooks {unknown}; hooks are {list(HOOKS)}")
        for name, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise ArgumentTypeError(f"LambdaCallback: {name} must be callable, got {fn!r}")
                setattr(self, name, fn)


