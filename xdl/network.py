"""``NeuralNetwork`` (alias ``Sequential``): a stack of layers trained as one model."""

from __future__ import annotations

from . import losses, optimizers, training
from . import metrics as metrics_module
from ._backend import convert, get_backend, use_backend
from .distributed import resolve
from .errors import BackendError, NotBuiltError, ShapeError, shape_str
from .layers.base import Layer


class NeuralNetwork:
    """Layers applied in order: ``add``, ``compile``, ``fit``, ``predict``, ``save``.

    The model lives on the backend that was active when it was built (its first input);
    data given to ``fit``/``predict``/``evaluate`` is moved there once per call.
    """

    def __init__(self, layers=(), name="neural_network"):
        self.name = name
        self.layers = []
        self.loss = None
        self.optimizer = None
        self.metrics = []
        self.history = None
        self.stop_training = False
        self.epoch = 0  # epochs completed, saved in checkpoints: fit(..., initial_epoch=model.epoch)
        self.data_seed = None  # seeds each epoch's data order (see training._data_seed)
        self.backend = None
        self.input_shape = self.output_shape = None
        self.built = False
        self._parameters = []
        self._trainable = None  # index of the first layer with trainable parameters (set by build)
        for layer in layers:
            self.add(layer)

    def __repr__(self):
        inner = ", ".join(type(layer).__name__ for layer in self.layers)
        return f"{type(self).__name__}([{inner}])"

    # -- assembling -------------------------------------------------------------------------
    def add(self, layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"{type(self).__name__}.add expects a Layer such as xdl.Dense(...), "
                            f"got {type(layer).__name__}")
        self.layers.append(layer)
        if self.built:  # extend the built chain through the new layer
            self.build(self.input_shape)

    def compile(self, loss="mse", optimizer="sgd", metrics=None) -> None:
        """Choose the loss, the optimizer and the metrics to report: instances, or names such
        as "cross_entropy", "adam" and "accuracy"."""
        self.loss = losses.get(loss)
        self.optimizer = optimizers.get(optimizer)
        self.metrics = [metrics_module.get(m, self.loss) for m in (metrics or [])]

    def build(self, input_shape) -> None:
        """Create every layer's parameters for per-sample input shape ``input_shape``."""
        self._require_layers()
        owners = {layer.backend for layer in self.layers if layer.built}
        if len(owners) > 1:
            raise BackendError(f"{self.name}: layers live on different backends: "
                               f"{sorted(b.name for b in owners)}")
        be = owners.pop() if owners else get_backend()
        with use_backend(be):
            self.output_shape = self._propagate(tuple(input_shape), build=True)
        self.backend, self.input_shape, self.built = be, tuple(input_shape), True
        self._parameters = [p for layer in self.layers for p in layer.parameters()]
        # training backpropagates no further than the first layer with trainable parameters
        self._trainable = next((i for i, layer in enumerate(self.layers)
                                if any(p.trainable for p in layer.parameters())), None)

    def _require_layers(self) -> list:
        if not self.layers:
            raise NotBuiltError(f"{self.name}: the model has no layers; add some with model.add(...)")
        return self.layers

    def _propagate(self, shape, build=False):
        """Check (and with ``build``, build) each layer for ``shape``; return the output shape."""
        for layer in self.layers:
            if not layer.built and build:
                layer.build(shape)
            else:
                layer.check_input_shape(shape)
            shape = tuple(layer.output_shape(shape))
        return shape

    def parameters(self) -> list:
        """Every layer's ``Parameter``s, in layer order."""
        return list(self._parameters)

    # -- computing ------------------------------------------------------------------------------
    def accept_inputs(self, X, argument="X"):
        """``X`` on the model's backend and dtype, the model built for it; returns
        ``(X, per-sample output shape)``."""
        be = self.backend or get_backend()
        X = convert(be, X, self._require_layers()[0].input_dtype(be), f"{self.name}: {argument}")
        if X.ndim < 2:
            got = shape_str(X.shape, None)
            raise ShapeError(f"{self.name}: {argument} must have shape (N, features...), got {got}")
        if not self.built:
            with use_backend(be):
                self.build(X.shape[1:])
            return X, self.output_shape
        return X, self._propagate(tuple(X.shape[1:]))

    def forward(self, X, training=False):
        """The output for ``X`` (any array-like of shape (N, ...))."""
        X, _ = self.accept_inputs(X)
        return self.call(X, training)

    def call(self, x, training=False):
        for layer in self.layers:
            x = layer.call(x, training)
        return x

    def backward(self, grad):
        """Backpropagate ``grad`` (w.r.t. the output) through every layer; returns dX."""
        if not self.built:
            raise NotBuiltError(f"{self.name}: backward called before forward")
        grad = convert(self.backend, grad, self.layers[-1].dtype, f"{self.name}: backward")
        return self.backprop(grad)

    def backprop(self, grad):
        for layer in reversed(self.layers):
            grad = layer.backprop(grad)
        return grad

    def compute_gradients(self, x, y):
        """Forward and backward on a batch already on the device: fills every parameter's
        ``grad``; returns the loss (a 0-d device array) and the model's output."""
        out = self.call(x, True)
        loss = self.loss.call(y, out)
        if self._trainable is not None:  # nobody reads dX: the first trainable layer skips it
            grad = self.loss.backward()
            for layer in reversed(self.layers[self._trainable + 1:]):
                grad = layer.backprop(grad)
            self.layers[self._trainable].backprop_parameters(grad)
        return loss, out

    def train_step(self, x, y):
        """One optimizer step on a batch already on the device; returns the loss (a 0-d
        device array) and the model's output for the batch."""
        loss, out = self.compute_gradients(x, y)
        self.optimizer.step(self._parameters)
        return loss, out

    # -- training and inference (see training.py) ----------------------------------------------
    def fit(self, X, y, epochs=1, batch_size=32, verbose=1, validation_data=None, validation_split=0.0,
            shuffle=True, callbacks=None, seed=None, initial_epoch=0, check_finite=False, distributed=False):
        """Train on ``X``, ``y``; returns a ``History`` of per-epoch loss and metrics.

        ``validation_data=(X_val, y_val)``, or ``validation_split`` to hold out the last
        fraction of the samples, adds "val_" figures. ``verbose``: 1 a progress bar (one line
        per epoch when not on a terminal), 2 one line per epoch, 0 silent. ``seed`` fixes the
        shuffling order; ``initial_epoch`` resumes the epoch count (and the data order: see
        ``save(..., include_optimizer=True)``). ``check_finite`` refuses NaN/inf in the data.
        ``distributed=True`` (or an ``xdl.DataParallel``) trains data-parallel across the MPI
        processes of an ``mpiexec`` launch, ``batch_size`` being the global batch (see
        xdl/distributed.py).
        """
        return training.fit(self, X, y, epochs=epochs, batch_size=batch_size, verbose=verbose,
                            validation_data=validation_data, validation_split=validation_split,
                            shuffle=shuffle, callbacks=callbacks, seed=seed, initial_epoch=initial_epoch,
                            check_finite=check_finite, strategy=resolve(distributed))

    def predict(self, X, batch_size=None, check_finite=False):
        """The model's output for ``X``, as an array of the model's backend."""
        return training.predict(self, X, batch_size=batch_size, check_finite=check_finite)

    def evaluate(self, X, y, batch_size=None, return_dict=False, check_finite=False):
        """Mean loss over ``X``, ``y`` as a float; with compiled metrics, ``[loss, *metrics]``
        (Keras's convention), or a dict of them all with ``return_dict=True``."""
        scores = training.evaluate(self, X, y, batch_size=batch_size, check_finite=check_finite)
        if return_dict:
            return scores
        return scores["loss"] if len(scores) == 1 else list(scores.values())

    def summary(self, print_fn=print) -> None:
        """Print a table of layers, output shapes and parameter counts."""
        from .summary import summary_lines

        for line in summary_lines(self):
            print_fn(line)

    # -- files (see io.py) ----------------------------------------------------------------------------
    def save(self, path, include_optimizer=False) -> None:
        """Write the architecture, weights and compile settings to one safetensors file,
        atomically. ``include_optimizer=True`` makes a checkpoint: the optimizer's state and
        step count, the epochs completed and the data-order seed join it, so that
        ``load(path).fit(X, y, epochs=n, initial_epoch=model.epoch)`` continues the run."""
        from . import io

        io.save_model(self, path, include_optimizer=include_optimizer)

    @classmethod
    def load(cls, path, backend=None):
        """Read a model written by ``save`` onto ``backend`` (default: the active one)."""
        from . import io

        return io.load_model(path, backend=backend, model_class=cls)


Sequential = NeuralNetwork
