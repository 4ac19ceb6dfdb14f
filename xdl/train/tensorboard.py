"""Keras's ``TensorBoard`` callback, written without TensorFlow: scalars per epoch (and per
batch), the graph and weight histograms, as TensorFlow event files (xdl/io/events.py)."""

from __future__ import annotations

import contextlib
import os
import time

from ..core.backend import to_numpy
from ..core.checks import boolean, file_path, int_at_least, short
from ..errors import ArgumentError, ArgumentTypeError
from ..io.events import EventFileWriter
from .hooks import Callback


def _number(value):
    """``value`` as a float when it is a real number (a NumPy or 0-d array one included), else None."""
    try:
        if isinstance(value, (bool, str, bytes)) or value is None:
            return None
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f


class TensorBoard(Callback):
    """Keras's ``TensorBoard``: write the epoch's figures as TensorBoard event files, without
    TensorFlow. Training figures go to ``log_dir/train``, validation figures (the "val_" ones,
    the prefix dropped) to ``log_dir/validation``, as "epoch_<name>" scalars at step = epoch
    (counted from 0), the optimizer's rate as "epoch_learning_rate". With ``update_freq="batch"``
    (or an int n: every n batches) the running batch figures go to ``log_dir/train`` as
    "batch_<name>" at step = the optimizer's step count. ``write_graph`` writes the model's
    layer graph (layer names, their classes and connections) for the Graphs tab;
    ``histogram_freq=n`` writes each parameter's histogram every n epochs ("<layer>/<param>").
    ``write_steps_per_second`` adds "epoch_steps_per_second".

    Files are flushed after each epoch and closed at the end of training; each ``fit`` (a
    resumed run too) writes new files beside the earlier ones, which TensorBoard reads as one
    run. In data-parallel training only rank 0 writes. ``write_images``, ``profile_batch``,
    ``embeddings_freq`` and ``embeddings_metadata`` are accepted for Keras's signature and not
    written (nothing is profiled; no images nor embeddings)."""

    chief_only = True

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        owner = "TensorBoard"
        self.log_dir = file_path(owner, "log_dir", log_dir)
        if not self.log_dir:
            raise ArgumentError("TensorBoard: log_dir must not be empty")
        self.histogram_freq = int_at_least(owner, "histogram_freq", histogram_freq, 0)
        self.write_graph = boolean(owner, "write_graph", write_graph)
        self.write_images = boolean(owner, "write_images", write_images)
        self.write_steps_per_second = boolean(owner, "write_steps_per_second", write_steps_per_second)
        if isinstance(update_freq, str):
            if update_freq not in ("epoch", "batch"):
                raise ArgumentError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive int, "
                                    f"got {short(update_freq)}")
            self.update_freq = 1 if update_freq == "batch" else "epoch"
        else:
            self.update_freq = int_at_least(owner, "update_freq ('epoch', 'batch' or a positive int)", update_freq, 1)
        self.profile_batch = _profile_batch(profile_batch)
        self.embeddings_freq = int_at_least(owner, "embeddings_freq", embeddings_freq, 0)
        if embeddings_metadata is not None and not isinstance(embeddings_metadata, (str, dict, os.PathLike)):
            raise ArgumentTypeError(f"TensorBoard: embeddings_metadata must be a path, a dict or None, got "
                                    f"{short(embeddings_metadata)}")
        self.embeddings_metadata = embeddings_metadata
        self._writers = {}
        self._batches = self._step0 = 0
        self._epoch_start, self._graph_written = None, False

    # the writers, opened on first use: a run without validation has no validation folder
    def _writer(self, which):
        writer = self._writers.get(which)
        if writer is None:
            writer = self._writers[which] = EventFileWriter(os.path.join(self.log_dir, which))
        return writer

    @property
    def _train_dir(self):
        return os.path.join(self.log_dir, "train")

    @property
    def _val_dir(self):
        return os.path.join(self.log_dir, "validation")

    def on_train_begin(self, logs=None):
        self._close()
        self._step0 = int(getattr(getattr(self.model, "optimizer", None), "iterations", 0) or 0)
        self._batches = 0
        if self.write_graph and not self._graph_written:  # once: a resumed run's graph is the same
            self._graph_written = True
            nodes = _graph_nodes(self.model)
            if nodes:
                self._writer("train").graph(nodes)
                self._writer("train").flush()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._epoch_batches = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        self._epoch_batches = getattr(self, "_epoch_batches", 0) + 1
        if self.update_freq == "epoch" or self._batches % self.update_freq or not logs:
            return
        pairs = [("batch_" + k, v) for k, v in ((k, _number(logs[k])) for k in logs) if v is not None]
        self._writer("train").scalars(pairs, self._step0 + self._batches)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        if "learning_rate" not in train:
            rate = _number(getattr(getattr(self.model, "optimizer", None), "learning_rate", None))
            if rate is not None:
                train["learning_rate"] = rate
        if self.write_steps_per_second and self._epoch_start is not None:
            seconds = time.perf_counter() - self._epoch_start
            if seconds > 0:
                train["steps_per_second"] = getattr(self, "_epoch_batches", 0) / seconds
        for which, figures in (("train", train), ("validation", val)):
            pairs = [("epoch_" + k, v) for k, v in ((k, _number(v)) for k, v in figures.items()) if v is not None]
            if pairs:
                self._writer(which).scalars(pairs, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            pairs = _parameters(self.model)
            if pairs:
                self._writer("train").histograms(pairs, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def __del__(self):
        with contextlib.suppress(Exception):  # at interpreter shutdown
            self._close()


def _profile_batch(value):
    """Keras's ``profile_batch``: 0, a positive int, a pair of them, or "start,stop"; nothing is profiled."""
    parts = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        numbers = [int(p) if isinstance(p, str) else p for p in parts]
    except ValueError:
        numbers = None
    if (numbers is None or not 1 <= len(numbers) <= 2
            or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in numbers)):
        raise ArgumentError(f"TensorBoard: profile_batch must be a non-negative int, a pair (start, stop) or "
                            f"'start,stop', got {short(value)}")
    return value


def _graph_nodes(model):
    """The model's layers as ``(name, op, inputs)``: a functional graph's connections, or a chain."""
    graph = getattr(model, "graph", None)
    nodes = []
    try:
        if graph is not None and getattr(graph, "nodes", None) is not None:
            names, used = {}, set()

            def unique(base):
                name, k = base, 1
                while name in used:
                    name, k = f"{base}_{k}", k + 1
                used.add(name)
                return name

            def producer(tensor):
                node = getattr(tensor, "node", None)
                if node is None or id(node) not in names:
                    key = ("input", id(tensor))
                    if key not in names:
                        names[key] = unique(str(getattr(tensor, "name", None) or "input"))
                        nodes.append((names[key], "Placeholder", []))
                    return names[key]
                return names[id(node)]

            for t in graph.inputs:
                producer(t)
            for node in graph.nodes:
                inputs = [producer(t) for t in node.inputs]
                names[id(node)] = unique(str(getattr(node.layer, "name", None) or type(node.layer).__name__))
                nodes.append((names[id(node)], type(node.layer).__name__, inputs))
            return nodes
        previous = "input"
        nodes.append((previous, "Placeholder", []))
        for layer in list(getattr(model, "layers", []) or []):
            name = str(getattr(layer, "name", None) or type(layer).__name__)
            nodes.append((name, type(layer).__name__, [previous]))
            previous = name
        return nodes if len(nodes) > 1 else []
    except Exception:  # noqa: BLE001 (a model whose structure cannot be read: no graph, training goes on)
        return []


def _parameters(model):
    """Each parameter as ``("<layer>/<name>", NumPy array)``; what cannot be read is left out."""
    pairs = []
    for layer in list(getattr(model, "layers", []) or []):
        for name, value in _layer_arrays(layer):
            if value.size and value.dtype.kind in "iuf":
                pairs.append((f"{getattr(layer, 'name', type(layer).__name__)}/{name}", value))
    return pairs


def _layer_arrays(layer):
    named = getattr(layer, "named_parameters", None)
    with contextlib.suppress(Exception):  # an unbuilt layer, a value that is not an array
        return [(name, to_numpy(getattr(p, "value", p))) for name, p in dict(named()).items()]
    return []
