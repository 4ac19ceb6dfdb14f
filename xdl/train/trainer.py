"""``Trainer``: what ``compile`` sets up and the steps ``fit``, ``evaluate`` and ``predict`` call,
Keras's way. ``Model`` inherits it.

``train_step(data)``, ``test_step(data)`` and ``predict_step(data)`` each take one batch and are
the whole of what happens to it: override one in a subclass and ``fit`` (or ``evaluate``,
``predict``) runs yours on every batch and shows what it returns. The loops around them
(loop.py) iterate the data, call the callbacks and the progress bar, and read the figures once
per epoch; they never reach into the model beyond these methods.
"""

from __future__ import annotations

from .. import metrics as _metrics
from .. import optimizers
from ..core import ops, regularizers, tape
from ..core.backend import convert, get_backend
from ..core.checks import as_int, boolean, one_of, positive_int, short
from ..errors import ArgumentError, ArgumentTypeError, NotBuiltError
from ..layers import traced
from . import loop
from .compile import Objectives
from .distributed import LOCAL, resolve
from .epoch_sums import Tally


class Trainer:
    """``compile``, ``fit``, ``evaluate``, ``predict`` and the steps they run, for a model that
    has a ``graph`` (models/graph.py), ``backend``, ``trainable_parameters()`` and ``zero_grad()``."""

    objectives = None  # the compiled losses, weights and metrics per output (compile.py)
    optimizer = None
    #: consulted by the step where processes must agree (distributed.py); ``fit`` sets it
    distribute_strategy = LOCAL
    _running = None  # the figures since reset_metrics (epoch_sums.py)
    _loss_layers = ()  # the layers that may add_loss (Keras-style ones, nested models)

    # -- compiling ---------------------------------------------------------------------------------
    def compile(self, optimizer="sgd", loss="mse", loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True) -> None:
        """Choose the optimizer, the loss (one, a list per output or a dict by output name) and
        the metrics to report: instances, or names such as "adam", "cross_entropy" and
        "accuracy". ``loss_weights`` weighs each output's loss in the total. Keras's order and
        keywords (its defaults are "rmsprop" and no loss: xdl's "sgd" and "mse" stay). Keras's
        execution hints (``run_eagerly``, ``steps_per_execution``, ``jit_compile``,
        ``auto_scale_loss``) are accepted and change nothing: xdl runs every step eagerly;
        ``weighted_metrics`` is taken only as None."""
        where = f"{self.name}: compile"
        for key, value in (("run_eagerly", run_eagerly), ("auto_scale_loss", auto_scale_loss)):
            boolean(where, key, value)
        positive_int(where, "steps_per_execution", steps_per_execution)
        one_of(where, "jit_compile", jit_compile, ("auto", True, False))
        if weighted_metrics is not None:
            raise ArgumentError(f"{where}: weighted_metrics is not supported; metrics are not weighted by "
                                "sample_weight in xdl")
        self.objectives = Objectives(self._output_names(), loss, metrics, loss_weights)
        self.optimizer = optimizers.get(optimizer)
        self._loss_tracker = _metrics.Mean(name="loss")  # for a train_step of the user's, as Keras gives
        if self.graph is not None:
            self.objectives.bind(self.graph)
        self._running = None  # not reset_metrics: a subclass's compile may set its metrics after this

    @property
    def loss(self):
        """The compiled loss (a list of them, one per output, for several outputs)."""
        if self.objectives is None:
            return None
        return self.objectives.losses if self.objectives.several else self.objectives.losses[0]

    @property
    def metrics(self) -> list:
        """Keras's: a ``Mean`` named "loss" for a custom ``train_step`` to track its loss with,
        then the compiled metrics (of every output, in order), each with ``update_state``,
        ``result`` and ``reset_state``; ``reset_metrics`` (each epoch) resets them all."""
        if self.objectives is None:
            return []
        return [self._loss_tracker, *(m for _, m in self.objectives.metric_pairs)]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Keras's: the compiled loss of ``y_pred`` (an output, or a list per output) against
        ``y``, weighted per output, plus the weight penalties and what layers gave ``add_loss``
        in their latest call. Differentiable: a Tensor when ``y_pred`` is one (a model called
        under a GradientTape or with ``training=True``)."""
        objectives, preds, ys, ws = self._batch_parts(y, y_pred, sample_weight, "compute_loss")
        be = self.backend or get_backend()
        total = None
        for k in objectives.scored:
            loss, pred = objectives.losses[k], preds[k]
            value = tape.unwrap(pred)
            target = loss.targets(be, ys[k], value.dtype)
            w = None if ws is None or ws[k] is None else convert(be, ws[k], value.dtype, "compute_loss: sample_weight")
            node = tape.node_of(pred)
            if loss.keras_style():  # a user's call: the tape records it (and any Variable it reads)
                term = loss(target, pred, w)
            else:  # a built-in loss: one step, its own gradient
                loss_value, g = loss.value_and_grad(target, value, w, grad=node is not None)
                term = loss_value if node is None else tape.Tensor(loss_value, (node,), lambda d, need, g=g: (d * g,))
            factor = objectives.weights[k]
            term = term if factor == 1.0 else ops.multiply(term, factor)
            total = term if total is None else ops.add(total, term)
        penalized = [p for p in self.parameters() if p.regularizer is not None and p.trainable]
        if penalized:
            value = regularizers.penalty(penalized)
            penalty = tape.Tensor(value, tuple(penalized),
                                  lambda d, need: tuple(d * p.regularizer.gradient(p.value) for p in penalized))
            total = penalty if total is None else ops.add(total, penalty)
        for extra in self.losses:
            total = extra if total is None else ops.add(total, extra)
        return total

    def _batch_parts(self, y, y_pred, sample_weight, where):
        """``(objectives, predictions, targets, weights)`` per output, for ``where``."""
        if self.objectives is None:
            raise NotBuiltError(f"{self.name}: call compile(...) before {where}")
        objectives = self.objectives
        preds = list(y_pred) if objectives.several else [y_pred]
        return (objectives, preds, objectives.split(y, where),
                objectives.split_weights(sample_weight, where))

    @property
    def metrics_names(self) -> list:
        """Keras's: the names of ``metrics``, "loss" first."""
        return [m.name for m in self.metrics]

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Keras's: add the batch to the compiled metrics (``update_state`` on each output's)
        and return every metric's result so far, the loss tracker's ("loss") first, by the
        names ``fit`` logs. For a ``train_step`` of the user's."""
        objectives, preds, ys, ws = self._batch_parts(y, y_pred, sample_weight, "compute_metrics")
        for k, metric in objectives.metric_pairs:
            metric.update_state(ys[k], tape.unwrap(preds[k]), None if ws is None else ws[k])
        names = ["loss", *objectives.names[len(objectives.names) - len(objectives.metric_pairs):]]
        return {name: metric.result() for name, metric in zip(names, self.metrics)}

    def reset_metrics(self) -> None:
        """Start the running loss and metrics afresh (``fit`` does at every epoch, ``evaluate``
        at its start)."""
        self._running = None
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self):
        """The running loss and metrics since ``reset_metrics``, read when looked up (none for
        a model without a graph, whose train_step is the user's)."""
        if self.graph is None and self.custom_step:
            return {}
        return self._tally().figures()

    @property
    def custom_step(self) -> bool:
        """Whether the class overrides ``train_step`` (then fit may hand it x alone)."""
        return type(self).train_step is not Trainer.train_step

    def _tally(self):
        if self._running is None:
            if self.graph is None:
                self._require_built("get_metrics_result")
            self._running = Tally(self.backend, self.objectives, [t.sample_shape for t in self.graph.outputs])
        return self._running

    # -- the steps -----------------------------------------------------------------------------------
    def train_step(self, data, *legacy):
        """One optimizer step on a batch: ``data`` is ``(x, y)`` or ``(x, y, sample_weight)``
        (Keras's form), arrays on the model's device; for several inputs ``x`` is a list (or a
        dict by input name), for several outputs ``y`` and ``sample_weight`` are lists (or dicts
        by output name). Returns the logs: the running loss and metrics since
        ``reset_metrics`` (``fit`` resets them every epoch), read from the device only when a
        value is looked up.

        Override it to change the step; ``fit`` calls yours on every batch and shows what it
        returns (a dict of numbers or 0-d device arrays; the last batch's are the epoch's)."""
        if legacy:
            raise ArgumentTypeError(f"{self.name}: train_step takes one argument, the batch, as in Keras: write "
                                    "model.train_step((x, y)) (or (x, y, sample_weight)); it returns the logs, a "
                                    "dict whose 'loss' is the running mean since model.reset_metrics() (each lookup "
                                    "waits for the device)")
        xs, ys, weights = self._unpack(data, "train_step")
        rows = xs[0].shape[0]
        self.zero_grad()  # the gradients of this step alone
        if rows:  # in data-parallel training a process may hold no rows of a last, small batch
            values, masks, backprop = self.graph.run(xs, True, self.objectives.slots)  # forward
            losses, grads, weights = self.objectives.value_and_grad(ys, values, weights, masks)  # loss and its gradient
            backprop(grads)  # backward: each use of a parameter adds to its gradient
            if self._regularized:  # weight penalties: into the loss and the gradients
                losses = regularizers.penalize(losses, self._regularized)
            if self._loss_layers:  # add_loss terms (their gradients came in backprop)
                losses = self._added_losses(losses)
        parameters = self.trainable_parameters()
        self.distribute_strategy.reduce_gradients(parameters)  # data parallelism: the sum over processes
        self.optimizer.step(parameters)  # the update
        if not rows:
            return self.get_metrics_result()
        statistics = self.objectives.metric_statistics(ys, values, weights) if self.objectives.metric_pairs else ()
        return (self._running or self._tally()).add(losses, statistics, rows)  # the running figures

    def test_step(self, data):
        """The loss and metrics of a batch in inference mode, added to the running ones: ``data``
        as ``train_step`` takes it; returns the logs as ``train_step`` does."""
        xs, ys, weights = self._unpack(data, "test_step")
        values, masks = self.graph.infer_masked(xs, self.objectives.slots)
        losses, _, weights = self.objectives.value_and_grad(ys, values, weights, masks, grad=False)
        losses = regularizers.penalize(losses, self._regularized, grads=False)  # as fit reports them
        if self._loss_layers:
            losses = self._added_losses(losses)
        return self._tally().add(losses, self.objectives.metric_statistics(ys, values, weights), xs[0].shape[0])

    def _added_losses(self, losses):
        """The loss figures with what layers gave ``add_loss`` in this batch added to the total."""
        extra = [tape.unwrap(v) for layer in self._loss_layers for v in traced.collected_losses(layer)]
        total = losses[0]
        for v in extra:
            total = total + v
        return [total, *losses[1:]]

    def predict_step(self, data):
        """The model's output for a batch of inputs ``data`` (``x``, or ``(x,)``), in inference
        mode: an array, or a list of them for several outputs."""
        x = data[0] if isinstance(data, tuple) and len(data) == 1 else data
        xs = self._inputs(x, "predict_step")  # builds an unbuilt Sequential
        outputs = self.graph.infer(xs)
        return outputs[0] if self._single_output else outputs

    def _unpack(self, data, where):
        """``(xs, ys, weights)`` as lists per input and output (``weights`` None without) from a
        batch in Keras's form; arrays already on the device pass as they are."""
        if self.objectives is None or (self.optimizer is None and where == "train_step"):
            raise NotBuiltError(f"{self.name}: call compile(loss=..., optimizer=...) before {where}")
        if (type(data) is tuple and len(data) == 2 and self.graph is not None and not self.multiple_inputs
                and not self.objectives.several and self.backend.owns(data[0]) and self.backend.owns(data[1])):
            return [data[0]], [data[1]], None  # what fit gives one input and output: nothing to convert
        parts = tuple(data) if isinstance(data, (tuple, list)) else (data,)  # Keras's unpacking
        if len(parts) not in (2, 3):
            raise ArgumentError(f"{self.name}: {where} takes a batch (x, y) or (x, y, sample_weight), got "
                                f"{len(parts)} part(s)")
        x, y, sample_weight = parts + (None,) * (3 - len(parts))
        xs, objectives = self._inputs(x, where), self.objectives  # first: an unbuilt Sequential builds here
        ys = objectives.split(y, where)
        for k in objectives.scored:
            if not self.backend.owns(ys[k]):
                ys[k] = objectives.losses[k].targets(self.backend, ys[k], self.output_dtype(k))
        weights = objectives.split_weights(sample_weight, where)
        if weights is not None:
            weights = [w if w is None or self.backend.owns(w) else
                       convert(self.backend, w, self.output_dtype(k), f"{self.name}: {where}: sample_weight")
                       for k, w in enumerate(weights)]
        return xs, ys, weights

    def _inputs(self, x, where):
        """Input arrays as a list, converted and checked unless they are the built model's own."""
        xs = self._split_inputs(x, where) if self.multiple_inputs else [x]
        if self.graph is not None and all(self.backend.owns(a) for a in xs):
            return xs
        return self.accept_inputs(xs if self.multiple_inputs else xs[0], where)[0]

    # -- training and inference (loop.py) ----------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1, *, seed=None,
            check_finite=False, distributed=False, prefetch=2):
        """Train on ``x``, ``y``; returns a ``History`` of per-epoch loss and metrics. Keras's
        positional order; ``batch_size`` None is 32, ``verbose="auto"`` is 1.

        ``x`` may instead be a stream of batches (``y=None``): an iterable or generator of
        ``(x, y)`` or ``(x, y, sample_weight)``, or an ``xdl.data.Sequence``; ``steps_per_epoch``
        batches make an epoch (default: all of a Sequence, an iterable until it ends), and a
        background thread keeps ``prefetch`` batches ready on the device (see train/data.py).
        ``sample_weight`` (N,) weighs each sample, ``class_weight={class: weight}`` each class
        (Keras's definitions: see train/sample_weights.py). ``validation_data`` may be a triple
        with sample weights or a stream (``validation_steps`` batches).

        ``validation_data=(X_val, y_val)``, or ``validation_split`` to hold out the last
        fraction of the samples, adds "val_" figures. ``verbose``: 1 a progress bar (one line
        per epoch when not on a terminal), 2 one line per epoch, 0 silent. ``seed`` fixes the
        shuffling order; ``initial_epoch`` resumes the epoch count (and the data order: see
        ``save(..., include_optimizer=True)``). ``check_finite`` refuses NaN/inf in the data.
        ``distributed=True`` (or an ``xdl.DataParallel``) trains data-parallel across the MPI
        processes of an ``mpiexec`` launch, ``batch_size`` being the global batch (see
        train/distributed.py). Every batch goes through ``train_step``.
        """
        where = f"{self.name}: fit"
        if validation_batch_size is not None or as_int(validation_freq) != 1:
            raise ArgumentError(f"{where}: validation_batch_size and validation_freq are taken only at their defaults "
                                f"(None and 1), got {short(validation_batch_size)} and {short(validation_freq)}")
        if x is None:
            raise ArgumentTypeError(f"{where}: x is required: arrays, or a stream of batches")
        return loop.fit(self, x, y, epochs=epochs, batch_size=32 if batch_size is None else batch_size,
                        verbose=loop.verbosity(where, verbose),
                        validation_data=validation_data, validation_split=validation_split, shuffle=shuffle,
                        callbacks=callbacks, seed=seed, initial_epoch=initial_epoch, check_finite=check_finite,
                        strategy=resolve(distributed), sample_weight=sample_weight, class_weight=class_weight,
                        steps_per_epoch=steps_per_epoch, validation_steps=validation_steps, prefetch=prefetch)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, *, check_finite=False, prefetch=2):
        """The model's output for ``x`` (arrays, or a stream of batches as ``fit`` takes), as an
        array of the model's backend (a list of them for several outputs), ``batch_size`` rows
        at a time (default 1024: memory stays bounded), each through ``predict_step``.
        ``verbose`` is accepted as in Keras; nothing is printed."""
        loop.verbosity(f"{self.name}: predict", verbose)
        outs = loop.predict(self, x, batch_size=batch_size, check_finite=check_finite, callbacks=callbacks,
                            steps=steps, prefetch=prefetch)
        return outs[0] if self._single_output else outs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None, callbacks=None,
                 return_dict=False, *, check_finite=False, prefetch=2):
        """Mean loss over ``x``, ``y`` as a float; with compiled metrics or several outputs,
        ``[loss, ...]`` (Keras's convention), or a dict of them all with ``return_dict=True``.
        ``x`` may be a stream of batches, as for ``fit``; ``sample_weight`` weighs samples. Every
        batch goes through ``test_step``. ``verbose`` is accepted as in Keras; nothing is printed."""
        if x is None:
            raise ArgumentTypeError(f"{self.name}: evaluate: x is required: arrays, or a stream of batches")
        loop.verbosity(f"{self.name}: evaluate", verbose)
        scores = loop.evaluate(self, x, y, batch_size=batch_size, check_finite=check_finite,
                               sample_weight=sample_weight, callbacks=callbacks, steps=steps, prefetch=prefetch)
        if boolean(f"{self.name}: evaluate", "return_dict", return_dict):
            return scores
        return scores["loss"] if len(scores) == 1 else list(scores.values())

