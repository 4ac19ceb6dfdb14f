"""``Model``: layers joined in a graph, trained as one; itself a layer of other models.

Built Keras's functional way::

    inputs = xdl.Input(shape=(8, 8, 1))
    x = xdl.Conv2D(output_channels=16, kernel_size=3, padding="same")(inputs)
    outputs = xdl.Dense(output_size=10)(xdl.Flatten()(x))
    model = xdl.Model(inputs=inputs, outputs=outputs)

``NeuralNetwork`` (sequential.py) is the same model with its graph made from a list of layers.
What trains it (``compile``, ``fit``, the steps) is the ``Trainer`` it inherits (train/trainer.py).
"""

from __future__ import annotations

import errno
import os

from ..core import flat
from ..core.backend import backend_named, convert, floatx, get_backend
from ..core.checks import boolean, file_path, int_at_least, text
from ..text.strings import STRING, is_host_strings, is_string_dtype, one_string_a_sample
from ..core.symbolic import Input, SymbolicTensor
from ..errors import (
    ArgumentError,
    ArgumentTypeError,
    NotBuiltAttributeError,
    NotBuiltError,
    NotFoundError,
    ShapeError,
    shape_str,
)
from ..io import formats, saving
from ..io.files import save_error
from ..layers import traced
from ..layers.base import Layer, attribute_layers, register_layer
from ..train.trainer import Trainer
from ..tutorial import TutorialModel
from .config import graph_config, graph_from_config
from .graph import Graph
from .summary import summary_lines


class CallOf(Layer):
    """The one step of a subclassed model's graph: the model's own ``call``, written with
    xdl.ops and layers; its weights are the model's (those its attributes hold, and its own
    ``add_weight``s)."""

    def __init__(self, model):
        super().__init__(name=f"{model.name}_call")
        self._owner = lambda: model  # not an attribute layer: the model is not inside its step
        self.multiple_inputs = False

    def call(self, x, training=None):
        return traced.run_call(self._owner(), x, training, {})

    def named_parameters(self) -> dict:
        return Layer.named_parameters(self._owner())


class KerasShape(tuple):
    """Keras's ``model.output_shape`` (a tuple, or a list in ``shapes``' place for several
    outputs) that is also callable as the layer protocol's ``output_shape(input_shape)``."""

    def __new__(cls, shape, protocol):
        several = isinstance(shape, list)
        self = super().__new__(cls, () if several else shape)
        self._list, self._protocol = (shape if several else None), protocol
        return self

    def __call__(self, input_shape):
        return self._protocol(input_shape)

    def __eq__(self, other):
        return self._list == other if self._list is not None else tuple.__eq__(self, other)

    __hash__ = tuple.__hash__

    def __repr__(self):
        return repr(self._list) if self._list is not None else tuple.__repr__(self)

    def __iter__(self):
        return iter(self._list) if self._list is not None else tuple.__iter__(self)

    def __len__(self):
        return len(self._list) if self._list is not None else tuple.__len__(self)

    def __getitem__(self, k):
        return self._list[k] if self._list is not None else tuple.__getitem__(self, k)


@register_layer
class Model(Trainer, TutorialModel, Layer):
    """A graph of layers from ``inputs`` to ``outputs`` (symbolic tensors, or lists of them):
    ``compile``, ``fit``, ``predict``, ``evaluate``, ``summary``, ``save``.

    With several inputs, data comes as a list in ``inputs`` order or a dict by
    ``Input(name=...)``; with several outputs, targets likewise (by output layer name), and
    ``predict`` returns a list. A layer used twice shares its weights; a model called on a
    symbolic tensor becomes one node of a larger model. The model lives on the backend its
    layers were built on; data given to ``fit``/``predict``/``evaluate`` is moved there once
    per call. ``model.trainable = False`` freezes every layer; ``get_weights``/``set_weights``
    read and write all parameters as NumPy arrays, in ``parameters()`` order.
    """

    #: a chain of layers, each feeding the next (NeuralNetwork): summary() shows no connections
    is_chain = False
    untracked = frozenset({"_loss_layers"})

    def __init__(self, inputs=None, outputs=None, name=None, *, trainable=True, dtype=None):
        super().__init__(name=name, dtype=dtype)
        trainable = boolean(type(self).__name__, "trainable", trainable)
        self.history = None
        self.stop_training = False
        self.epoch = 0  # epochs completed, saved in checkpoints: fit(..., initial_epoch=model.epoch)
        self.data_seed = None  # seeds each epoch's data order (see train/loop.py's _data_seed)
        self.graph = None
        self._params = []
        self._regularized = []  # parameters with a weight penalty (xdl.regularizers)
        self._trainable_cache = (None, [])
        self._flats, self._loose = [], []
        if inputs is None and outputs is None and type(self) is not Model:
            self._trainable_flag = trainable  # a subclass (NeuralNetwork) makes its graph itself
            return
        if inputs is None or outputs is None:
            raise ArgumentTypeError(f"{self.name}: Model needs inputs= and outputs=, e.g. "
                                    f"Model(inputs=xdl.Input(shape=(4,)), "
                                    "outputs=...)")
        self._single_output = isinstance(outputs, SymbolicTensor)
        self._set_graph(Graph(inputs, outputs, self.name))
        if not trainable:
            self.trainable = False

    def _set_graph(self, graph):
        self.graph = graph
        self.backend = graph.backend or get_backend()
        self.multiple_inputs = len(graph.inputs) > 1
        self.input_shape = ([t.sample_shape for t in graph.inputs] if self.multiple_inputs
                            else graph.inputs[0].sample_shape)
        self.built = True
        self.dtype_name = self.dtype_name or floatx()
        self.dtype = self.backend.dtype(self.dtype_name)
        seen, params = set(), []
        for layer in graph.layers:
            for p in layer.parameters():
                if id(p) not in seen:  # a layer shared with a nested model counts once
                    seen.add(id(p))
                    params.append(p)
        self._params = params
        self._regularized = [p for p in params if p.regularizer is not None]
        self._loss_layers = [layer for layer in graph.layers if layer.keras_style or isinstance(layer, Model)]
        self._trainable_cache = (None, [])
        if self.objectives is not None:
            self.objectives.bind(graph)
            self.reset_metrics()

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"

    # -- structure -----------------------------------------------------------------------------
    @property
    def layers(self) -> list:
        """The model's layers, each once, in the order the graph first uses them; for a model
        without a graph (a subclass of the user's), those its attributes hold."""
        if not self._layers_by_attribute:
            return list(self.graph.layers)
        return [layer for _, layer in attribute_layers(self)]

    @property
    def _layers_by_attribute(self) -> bool:
        """Whether the model's layers and weights are those its attributes hold (a subclass of
        the user's), not its graph's."""
        return self.graph is None or self.keras_call

    @property
    def keras_call(self) -> bool:
        """Whether the class defines ``call`` (Keras's subclassed model): its graph is then one
        step, that ``call`` on the model's inputs, made on first data (layers/traced.py)."""
        return type(self).call is not Model.call

    @property
    def inputs(self):
        return list(self._graph_for("inputs").inputs)

    @property
    def outputs(self):
        return list(self._graph_for("outputs").outputs)

    @property
    def input(self):
        """Keras's: the model's input tensor (a list where it has several)."""
        inputs = self._graph_for("input").inputs
        return inputs[0] if len(inputs) == 1 else list(inputs)

    @property
    def output(self):
        """Keras's: the model's output tensor (a list where it has several)."""
        graph = self._graph_for("output")
        return graph.outputs[0] if self._single_output else list(graph.outputs)

    def _graph_for(self, what):
        """The graph, a Sequential built from its first layer's input size where it can be;
        else an error that is an ``AttributeError`` too (``hasattr`` answers False, as Keras's)."""
        if self.graph is None and not self.keras_call:
            try:
                self._require_built(what)
            except NotBuiltError as e:
                raise NotBuiltAttributeError(str(e)) from None
        if self.graph is None:
            raise NotBuiltAttributeError(f"{self.name}: has no {what} yet: it is made on the first data (or "
                                         "model.build(input_shape))")
        return self.graph

    @property
    def output_names(self) -> list:
        """Each output's name, for targets and losses by dict and for the logged figures: the
        name of the layer that makes it (made distinct where one layer makes two outputs)."""
        return list(self.graph.output_names)

    def get_layer(self, name=None, index=None):
        """The layer called ``name`` (nested models are searched too), or Keras's ``index``
        into ``layers``."""
        if index is not None:
            if name is not None:
                raise ArgumentError(f"{self.name}: get_layer takes name= or index=, not both")
            k = int_at_least(f"{self.name}: get_layer", "index", index, 0)
            if k >= len(self.layers):
                raise ArgumentError(f"{self.name}: get_layer index {k} is past its {len(self.layers)} layers")
            return self.layers[k]
        text(f"{self.name}: get_layer", "name", name)
        for layer in self.layers:
            if layer.name == name:
                return layer
            if isinstance(layer, Model):
                try:
                    return layer.get_layer(name)
                except KeyError:
                    pass
        raise NotFoundError(f"{self.name}: no layer named {name!r}; layers: {[layer.name for layer in self.layers]}")

    def parameters(self) -> list:
        """Every layer's ``Parameter``s, each once, in the order of the layers' first use."""
        if self._layers_by_attribute:
            return Layer.parameters(self)
        return list(self._params)

    def _sublayers(self) -> list:
        """``model.trainable = False`` freezes every layer (nested models' too)."""
        return self.layers

    def trainable_parameters(self) -> list:
        """The parameters the optimizer updates (remembered until a ``trainable`` changes),
        laid out as views of one flat buffer per dtype where the backend allows (flat.py)."""
        if self._trainable_cache[0] != flat.layout_key():
            params = [p for p in self._params if p.trainable]
            for p in self._params:
                if not p.trainable:
                    flat.release(p)  # a frozen parameter keeps its values, out of the buffer
            self._flats = flat.lay_out(self.backend, params) if self.backend is not None else []
            self._loose = [p for p in self._params if p.flat is None]
            self._trainable_cache = (flat.layout_key(), params)
        return self._trainable_cache[1]

    def named_parameters(self) -> dict:
        """``{path: Parameter}``: "dense/weights", "block1/conv2d/bias" for nested models."""
        if self._layers_by_attribute:
            return Layer.named_parameters(self)
        named = {}
        for layer in self.layers:
            for key, p in layer.named_parameters().items():
                named.setdefault(f"{layer.name}/{key}", p)
        return named

    def _named_sublayers(self) -> list:
        if self._layers_by_attribute:
            return attribute_layers(self)
        return [(layer.name, layer) for layer in self.layers]

    def start_epoch(self, epoch, stream=0):
        for layer in self.layers:
            layer.start_epoch(epoch, stream)

    # -- the layer protocol (a model inside another) ----------------------------------------------
    def build(self, input_shape):
        if self.graph is None and self.keras_call:
            self._build_call_graph(input_shape if isinstance(input_shape, list) else [input_shape])
            return
        self.check_input_shape(input_shape)

    def _build_call_graph(self, shapes, dtypes=None):
        """The graph of a subclassed model: its inputs (per-sample ``shapes``), then one step
        that runs its ``call`` (recorded by the tape in training)."""
        dtypes = dtypes or [None] * len(shapes)
        inputs = [Input(tuple(s), name=f"{self.name}_input_{k}" if len(shapes) > 1 else f"{self.name}_input",
                        dtype=d) for k, (s, d) in enumerate(zip(shapes, dtypes))]
        step = CallOf(self)
        step.multiple_inputs = len(inputs) > 1
        out = step(inputs if len(inputs) > 1 else inputs[0])
        self._single_output = True
        self._set_graph(Graph(inputs, out, self.name))

    def check_input_shape(self, input_shape):
        self.output_shape(input_shape)

    def output_shapes(self, input_shape):
        """The layer protocol's ``output_shape`` (per-sample shapes in and out): models keep
        that name for Keras's property (see ``output_shape``)."""
        shapes = self.graph.propagate(input_shape if self.multiple_inputs else [input_shape])
        return shapes[0] if self._single_output else shapes

    @property
    def output_shape(self):
        """Keras's: the output's shape with the batch axis first, ``(None, 10)`` (a list for
        several outputs). Called with per-sample input shapes it is the layer protocol's
        ``output_shape(input_shape)``, so a model nests as a layer."""
        outputs = getattr(self.graph, "outputs", None) if self.built else None
        shape = () if outputs is None else (
            outputs[0].shape if self._single_output else [t.shape for t in outputs])
        return KerasShape(shape, self.output_shapes)

    @property
    def input_shape(self):
        """Keras's: the input's shape with the batch axis first, ``(None, 8, 8, 1)`` (a list for
        several inputs); None before the model is built. ``sample_input_shape`` is xdl's
        per-sample form, which layers keep as ``input_shape``."""
        shape = self.sample_input_shape
        if shape is None:
            return None
        return [(None, *s) for s in shape] if self.multiple_inputs else (None, *shape)

    @input_shape.setter
    def input_shape(self, value):
        self._sample_input_shape = value

    @property
    def sample_input_shape(self):
        return self._sample_input_shape

    def input_dtype(self, be, k=0):
        """What input ``k`` is cast to: its ``Input(dtype=...)``, else integers kept where every
        layer reading it takes indices (Embedding), strings where every such layer reads text
        (kept on the host: xdl/text/strings.py), else the model's float dtype."""
        declared = self.graph.inputs[k].dtype
        if declared is not None:
            return STRING if is_string_dtype(declared) else be.dtype(declared)
        kinds = [layer.input_dtype(be) for layer in self.graph.consumers(k)]
        if kinds and all(kind is None for kind in kinds):
            return None
        if kinds and all(is_string_dtype(kind) for kind in kinds):
            return STRING
        return self.dtype or be.dtype(self.dtype_name or floatx())

    def apply(self, x, training=False):
        y, _, backprop = self.apply_masked(x, None, training)
        return y, backprop

    def _require_built(self, what) -> None:
        """A functional model is built when made; ``Sequential`` builds here or says how."""

    def output_masked(self, masked):
        """A nested model's outputs carry the masks its own layers make (masks from outside
        do not enter it: ``supports_masking`` is False)."""
        flags = [t.masked for t in self.graph.outputs]
        return flags[0] if self._single_output else flags

    def apply_masked(self, x, mask, training=False):
        xs = x if self.multiple_inputs else [x]
        outs, masks, back = self.graph.run(xs, training)
        out_mask = None if masks is None else masks[0] if self._single_output else masks

        def backprop(dy, need_dx=True):
            dxs = back([dy] if self._single_output else list(dy), need_dx)
            if not need_dx:
                return None
            return dxs if self.multiple_inputs else dxs[0]

        return (outs[0] if self._single_output else tuple(outs)), out_mask, backprop

    def call(self, x, training=False):
        """The output for backend arrays ``x`` (a list for several inputs)."""
        xs = x if self.multiple_inputs else [x]
        outs = self.graph.run(xs, True)[0] if training else self.graph.infer(xs)
        return outs[0] if self._single_output else outs

    # -- computing on data -------------------------------------------------------------------------
    def accept_inputs(self, X, argument="X"):
        """``X`` as a list of arrays on the model's backend and dtypes, checked against the
        inputs; returns ``(arrays, per-sample output shapes)``."""
        if self.graph is None and self.keras_call:  # a subclassed model meets its first data
            parts = X if isinstance(X, (list, tuple)) else [X]
            be = self.backend or get_backend()
            arrays = [convert(be, part, None, f"{self.name}: {argument}") for part in parts]
            ints = ["int64" if be.xp.isdtype(a.dtype, "integral") else None for a in arrays]
            self._build_call_graph([tuple(a.shape[1:]) for a in arrays], ints)
        parts = self._split_inputs(X, argument)
        be = self.backend
        arrays = []
        for k, (t, part) in enumerate(zip(self.graph.inputs, parts)):
            label = f"{self.name}: {argument}" if len(parts) == 1 else f"{self.name}: {argument}[{t.name!r}]"
            a = convert(be, part, self.input_dtype(be, k), label)
            if is_host_strings(a):
                a = one_string_a_sample(a, t.sample_shape)
            if a.ndim != len(t.sample_shape) + 1:
                raise ShapeError(f"{label} must have shape {shape_str(t.sample_shape)}, got {shape_str(a.shape, None)}")
            arrays.append(a)
        if len({a.shape[0] for a in arrays}) > 1:
            raise ShapeError(f"{self.name}: {argument} arrays hold different numbers of samples: "
                             f"{[a.shape[0] for a in arrays]}")
        shapes = self.graph.propagate([tuple(a.shape[1:]) for a in arrays])
        self._check_input_values(arrays, argument)
        return arrays, shapes

    def _check_input_values(self, arrays, argument):
        """Each input through its readers' value checks (Embedding's index range)."""
        for k, a in enumerate(arrays):  # ids as whole floats too: Embedding casts them, as Keras's
            if self.backend.owns(a) and not self.backend.xp.isdtype(a.dtype, "bool"):
                for layer in self.graph.consumers(k):
                    layer.check_values(a, f"{self.name}: {argument}")

    def check_values(self, x, where):
        self._check_input_values(list(x) if isinstance(x, (list, tuple)) else [x], where)  # accept gives the first

    def _split_inputs(self, X, argument):
        names = [t.name for t in self.graph.inputs]
        if isinstance(X, dict):
            unknown, missing = sorted(set(X) - set(names)), [n for n in names if n not in X]
            if unknown or missing:
                raise ArgumentError(f"{self.name}: {argument} dict keys must be the inputs' names {names}; "
                                    f"unknown {unknown}, missing {missing}")
            return [X[n] for n in names]
        if len(names) == 1:
            return [X]
        if not isinstance(X, (list, tuple)) or len(X) != len(names):
            raise ArgumentError(f"{self.name}: the model has {len(names)} inputs {names}: pass {argument} as a list "
                                f"of {len(names)} arrays or a dict by input name")
        return list(X)

    def output_dtype(self, k):
        node = self.graph.outputs[k].node
        return node.layer.dtype if node.layer is not None and node.layer.dtype is not None else self.dtype

    def zero_grad(self) -> None:
        """Clear every gradient: the flat buffers' clocks advance; nothing is written."""
        self.trainable_parameters()
        for f in self._flats:
            f.clear()
        for p in self._loose:
            p.grad = None

    def _output_names(self):
        if self.graph is None:  # named as the graph made on first data will name it
            return [f"{self.name}_call"] if self.keras_call else ["output"]
        return self.output_names

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None) -> None:
        """Print a table of layers, output shapes and parameter counts (and, for graphs,
        what each layer is connected to). Keras's layout options (``line_length``,
        ``positions``, ``expand_nested``, ``show_trainable``, ``layer_range``) are accepted
        and change nothing."""
        print_fn = print if print_fn is None else print_fn
        if not callable(print_fn):
            raise ArgumentTypeError(f"{self.name}: summary's print_fn must be callable (print), got {print_fn!r:.80}")
        for line in summary_lines(self):
            print_fn(line)

    # -- files (io/formats.py) -------------------------------------------------------------------------
    def save(self, path, overwrite=True, include_optimizer=None) -> None:
        """Write the architecture, weights, compile settings and (as Keras's ``save``) the
        optimizer's state to one file, atomically: Keras 3's zip for a ``.keras`` name
        (io/keras_files.py), else xdl's safetensors file. With the state, the step count,
        the epochs completed and the data-order seed, the file is a checkpoint, and
        ``load(path).fit(X, y, epochs=n, initial_epoch=model.epoch)`` continues the run.
        ``include_optimizer`` None (the default): the state when the model is compiled; False
        leaves it out. ``overwrite=False`` refuses to replace an existing file."""
        path = file_path(f"{self.name}: save", "path", path)
        if include_optimizer is None:
            include_optimizer = getattr(self, "optimizer", None) is not None
        include_optimizer = boolean(f"{self.name}: save", "include_optimizer", include_optimizer)
        if not boolean(f"{self.name}: save", "overwrite", overwrite) and os.path.exists(path):
            raise save_error(path, FileExistsError(errno.EEXIST, "the file exists and save was given overwrite=False"),
                             "the file exists")
        if self.graph is None and self.layers and self.layers[0].built:
            self._require_built("save")  # a Sequential whose first layer knows its input size
        formats.save_model(self, path, include_optimizer=include_optimizer)

    def save_weights(self, path) -> None:
        """Keras's: the weights alone in one file, atomically: Keras's HDF5 for a ``.weights.h5``
        name (a Sequential or functional model), else safetensors named by path; a subclassed
        model is saved this way and rebuilt by its own code."""
        self._require_built("save_weights")
        formats.save_weights(self, file_path(f"{self.name}: save_weights", "path", path))

    def load_weights(self, path) -> None:
        """Keras's: set the weights from a file ``save_weights`` or ``save`` wrote (or Keras:
        ``.weights.h5``, ``.keras``); names and shapes must match (a subclassed model: call it
        on data first, as Keras asks)."""
        self._require_built("load_weights")
        if self.graph is None and self.keras_call:
            raise NotBuiltError(f"{self.name}: load_weights needs the model's weights made: call it on data first "
                                "(model.predict(x[:1])), as Keras asks")
        formats.load_weights(self, file_path(f"{self.name}: load_weights", "path", path))

    @classmethod
    def load(cls, path, backend=None, custom_objects=None, compile=True):
        """Read a model written by ``save`` (or by Keras 3: a ``.keras`` file) onto ``backend``
        (default: the active one). ``custom_objects``: Keras's, ``{name: class or function}``
        for the classes and functions of one's own the file names (a loss or metric function
        by its name). ``compile=False``: leave a Keras file's compile settings out."""
        if backend is not None:
            backend = backend_named(backend)  # checked before the file is read
        return formats.load_model(file_path("load", "path", path), backend=backend, model_class=cls,
                                      custom_objects=saving.with_registered(custom_objects),
                                      compile=boolean("load", "compile", compile))

    def get_config(self) -> dict:
        config = graph_config(self)
        if not self.trainable:  # each layer's config says so too
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config, build_layer=None, custom_objects=None):
        """The model ``get_config`` described, with fresh weights. Keras's ``custom_objects``
        (``{name: class}``, also accepted in the second place, as Keras's signature has it)
        add to the registered classes."""
        if isinstance(build_layer, dict):
            build_layer, custom_objects = None, build_layer
        if build_layer is None:  # a user's call: layers checked as a file's are, custom_objects added
            build_layer = saving.from_config_builder(f"{cls.__name__}.from_config", custom_objects)
        config = dict(config)
        trainable = config.pop("trainable", True)
        return restore_trainable(graph_from_config(cls, config, build_layer), trainable)

    def describe(self) -> str:
        return f"{self.name} ({type(self).__name__})"

    def to_json(self, **kwargs) -> str:
        """Keras's: the architecture (class and config) as JSON, which
        ``xdl.models.model_from_json`` builds again with fresh weights; ``kwargs`` go to
        ``json.dumps`` (``indent=2``)."""
        return saving.to_json(self, **kwargs)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs) -> None:
        """Keras 3's: the model as a file another runtime runs; xdl writes ``format="onnx"``
        (opset 18, the batch axis free; needs ``pip install xdl[onnx]``). See
        ``xdl.io.export.export`` for ``input_signature`` and ``opset_version``."""
        from ..io.export import export  # onnx is imported there, at the first export
        export(self, filepath, format, verbose, input_signature, **kwargs)


def restore_trainable(model, trainable):
    """A model read from a config: its own ``trainable`` flag set, its layers left as their
    configs say (one may have been unfrozen inside a frozen model)."""
    if not isinstance(trainable, bool):
        raise ArgumentTypeError(f"{model.describe()}: trainable must be True or False, got {trainable!r}")
    model._trainable_flag = trainable
    return model
