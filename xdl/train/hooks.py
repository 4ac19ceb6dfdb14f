"""The callback protocol: ``Callback`` (every hook, doing nothing), the hooks' names, and the
lazily read logs a batch hook gets. The callbacks themselves are in callbacks.py and
tensorboard.py."""

from __future__ import annotations

import collections.abc

from ..errors import NotFoundError

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
         "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end")


class BatchLogs(collections.abc.Mapping):
    """A batch's logs whose values are read (one device transfer for all) on first lookup.
    The keys are known without reading; ``read`` returns the figures as a dict of floats."""

    def __init__(self, names, read):
        self._names, self._read, self._values = list(names), read, None

    def _all(self):
        if self._values is None:
            self._values = dict(self._read())
        return self._values

    def __getitem__(self, key):
        if key not in self._names:
            raise NotFoundError(key)
        return self._all()[key]

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def __contains__(self, key):
        return key in self._names

    def __repr__(self):
        return f"BatchLogs({self._all() if self._values is not None else self._names})"


class Callback:
    """Base of callbacks. ``chief_only = True``: in data-parallel training only rank 0 runs it."""

    model = None
    chief_only = False
    #: Keras's: what the call runs, {"verbose", "epochs", "steps"} (steps per epoch; None when a
    #: stream's length is not known), set before the first hook
    params = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        """``logs``: a ``BatchLogs`` of the epoch's running figures, read only when looked up."""

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        """``logs["outputs"]``: the batch's outputs (device arrays; a list for several outputs)."""
