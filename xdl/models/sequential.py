"""``NeuralNetwork`` (alias ``Sequential``): a stack of layers, each feeding the next.

It is a ``Model`` whose graph is a chain, made when the input shape is known (the first
data, or ``build``), so it trains, saves and nests exactly as a functional model does.
"""

from __future__ import annotations

from ..core.backend import convert, get_backend, use_backend
from ..text.strings import is_string_dtype
from ..core.symbolic import Input, SymbolicTensor
from ..errors import (
    ArgumentError,
    ArgumentTypeError,
    BackendError,
    NotBuiltError,
    ShapeError,
    XdlError,
    shape_str,
)
from ..io import saving
from ..io.spec import build_spec, layer_spec
from ..layers.base import Layer, register_layer
from .graph import Graph
from .model import Model, restore_trainable


@register_layer
class NeuralNetwork(Model):
    """Layers applied in order: ``add``, ``compile``, ``fit``, ``predict``, ``save``.

    The model lives on the backend that was active when it was built (its first input);
    data given to ``fit``/``predict``/``evaluate`` is moved there once per call. Inputs of
    another shape than the first are taken wherever every layer takes them (sequences of
    another length, images of another size).
    """

    is_chain = True

    def __init__(self, layers=None, trainable=True, name=None):
        super().__init__(name=name, trainable=trainable)
        self._layers = []
        self._input_tensor = None  # an xdl.Input given first (Keras's Sequential([Input(...), ...]))
        self._single_output = True
        for layer in layers or ():
            self.add(layer)

    def __repr__(self):
        inner = ", ".join(type(layer).__name__ for layer in self._layers)
        return f"{type(self).__name__}([{inner}])"

    @property
    def layers(self) -> list:
        return list(self._layers)

    # -- assembling -------------------------------------------------------------------------
    def add(self, layer) -> None:
        """Append ``layer``; ``xdl.Input(shape=...)`` first (Keras's way) gives the input shape,
        and the model is built from it as soon as it has layers."""
        if isinstance(layer, SymbolicTensor):
            self._add_input(layer)
            return
        if not isinstance(layer, Layer):
            raise ArgumentTypeError(f"{type(self).__name__}.add expects a Layer such as xdl.Dense(...), "
                                    f"got {type(layer).__name__}")
        if layer is self:
            raise XdlError(f"{self.name}: a model cannot contain itself")
        declared = getattr(layer, "_declared_input", None)
        if declared is not None and not self._layers and self._input_tensor is None:  # Keras's input_shape=
            self._input_tensor = Input(batch_shape=declared)
        self._layers.append(layer)
        if not self.trainable:  # a frozen model freezes what joins it
            layer.trainable = False
        if self.built:  # extend the built chain through the new layer
            self._build_sample(self.sample_input_shape)
        elif self._input_tensor is not None:
            self._build_sample(self._input_tensor.sample_shape)

    def _add_input(self, tensor) -> None:
        if tensor.node.layer is not None:
            raise ArgumentTypeError(f"{self.name}: add takes layers and, first, xdl.Input(shape=...); {tensor!r} is "
                                    f"the output of layer {tensor.node.layer.describe()}: build an xdl.Model(inputs, "
                                    "outputs) to start from it")
        if self._input_tensor is not None:
            raise ArgumentError(f"{self.name}: already has an input {self._input_tensor!r}; a Sequential takes one "
                                "xdl.Input, first (build an xdl.Model for several inputs)")
        if self._layers:
            raise ArgumentError(f"{self.name}: xdl.Input must come first, before the layers "
                                f"(it has {len(self._layers)}); e.g. Sequential([xdl.Input(shape=(4,)), xdl.Dense(8)])")
        self._input_tensor = tensor

    def pop(self, rebuild=True):
        """Keras's: remove the last layer and return it; a built model is rebuilt without it
        (``rebuild=False``: left unbuilt, made again on the next data or ``build``)."""
        if not self._layers:
            raise ArgumentTypeError(f"{self.name}: pop on a model without layers")
        layer = self._layers.pop()
        was_built = self.built
        shape = self.sample_input_shape
        self._drop_graph()
        if was_built and rebuild and self._layers:
            self._build_sample(shape)
        return layer

    def _drop_graph(self) -> None:
        """Forget the built chain (its nodes leave the layers' ``input``/``output``)."""
        old = self.graph
        if old is None:
            return
        _forget_nodes(old)
        self.graph = None
        self.built = False
        self._params, self._regularized, self._loss_layers = [], [], []
        self._trainable_cache = (None, [])

    def build(self, input_shape=None) -> None:
        """Create every layer's parameters for ``input_shape``: Keras's, with the batch axis
        first (``(None, 4)``, ``(None, None, 8)`` for sequences of any length), or xdl's
        per-sample shape (``(4,)``, ``(28, 28, 1)``). A leading None is read as the batch axis
        where the shape has two axes or more (``(None,)`` stays one free axis per sample).
        None: the shape of the ``xdl.Input`` the model was given."""
        if input_shape is None:
            if self._input_tensor is None:
                raise NotBuiltError(f"{self.name}: build needs input_shape, e.g. model.build((None, 4)), "
                                    "or an xdl.Input first in the model")
            self._build_sample(self._input_tensor.sample_shape)
            return
        if isinstance(input_shape, int) and not isinstance(input_shape, bool):
            input_shape = (input_shape,)
        if not isinstance(input_shape, (tuple, list)) or not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in input_shape):
            raise ArgumentTypeError(f"{self.name}: build's input_shape must be a tuple of ints or None, e.g. "
                                    f"(None, 4), got {input_shape!r:.80}")
        shape = tuple(input_shape)
        if len(shape) >= 2 and shape[0] is None:
            shape = shape[1:]
        self._build_sample(shape)

    def _build_sample(self, input_shape) -> None:
        """Build the chain for per-sample input shape ``input_shape`` (how xdl builds it
        inside: from data, a symbolic input, a config)."""
        layers = self._require_layers()
        owners = {layer.backend for layer in layers if layer.built}
        if len(owners) > 1:
            raise BackendError(f"{self.name}: layers live on different backends: "
                               f"{sorted(b.name for b in owners)}")
        be = owners.pop() if owners else get_backend()
        given = self._input_tensor
        counts = {id(layer): len(layer.__dict__.get("_inbound_nodes", ())) for layer in layers}
        try:
            with use_backend(be):
                if given is not None and tuple(given.sample_shape) == tuple(input_shape):
                    x = inputs = given
                else:
                    x = inputs = Input(tuple(input_shape), name=f"{self.name}_input",
                                       dtype=None if given is None else given.dtype)
                for layer in layers:
                    x = layer(x)
                    if isinstance(x, list):
                        raise XdlError(f"{self.name}: {layer.describe()} gives {len(x)} outputs (return_state=True?); "
                                       "in a NeuralNetwork each layer feeds one array to the next: build an xdl.Model "
                                       "to use several outputs")
                graph = Graph(inputs, x, self.name)
        except BaseException:
            for layer in layers:  # a chain that failed leaves no nodes behind
                nodes = layer.__dict__.get("_inbound_nodes")
                if nodes is not None:
                    del nodes[counts[id(layer)]:]
            raise
        if self.graph is not None:
            _forget_nodes(self.graph)
        self._set_graph(graph)

    def _require_layers(self) -> list:
        if not self._layers:
            raise NotBuiltError(f"{self.name}: the model has no layers; add some with model.add(...)")
        return self._layers

    def _output_names(self):
        if self.graph is not None:
            return self.output_names
        return [self._layers[-1].name] if self._layers else ["output"]

    def output_shapes(self, input_shape):
        if not self.built:
            self._build_sample(input_shape)
        return self.graph.propagate([input_shape], check_declared=False)[0]

    def input_dtype(self, be, k=0):
        if self.graph is None:
            return self._require_layers()[0].input_dtype(be)
        return super().input_dtype(be, k)

    # -- computing on data -------------------------------------------------------------------------
    def accept_inputs(self, X, argument="X"):
        """``[X]`` on the model's backend and dtype, the model built for it on first use;
        returns ``([X], [per-sample output shape])``."""
        be = self.backend or get_backend()
        dtype = self.input_dtype(be)
        X = convert(be, X, dtype, f"{self.name}: {argument}")
        if X.ndim < (1 if is_string_dtype(dtype) else 2):  # text: one string a sample
            raise ShapeError(f"{self.name}: {argument} must have shape (N, features...), got "
                             f"{shape_str(X.shape, None)}")
        if not self.built:
            with use_backend(be):
                self._build_sample(X.shape[1:])
        shapes = self.graph.propagate([tuple(X.shape[1:])], check_declared=False)
        self._check_input_values([X], argument)
        return [X], shapes

    def _require_built(self, what) -> None:
        """Build the chain from its first layer's input shape, or say how to build it."""
        if not self.built:
            first = self._require_layers()[0]
            if not first.built:
                raise NotBuiltError(f"{self.name}: {what} needs the input shape; call model.build(input_shape), "
                                    "fit or predict first, or give the first layer its input size")
            self._build_sample(first.sample_input_shape)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None) -> None:
        self._require_built("summary")
        super().summary(line_length, positions, print_fn, expand_nested, show_trainable, layer_range)

    def get_weights(self) -> list:
        self._require_built("get_weights")
        return super().get_weights()

    def set_weights(self, weights) -> None:
        self._require_built("set_weights")
        super().set_weights(weights)

    # -- files ---------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = {"name": self.name, "input_shape": None if not self.built else list(self.sample_input_shape),
                  "layers": [layer_spec(layer) for layer in self._layers]}
        if self._input_tensor is not None and self._input_tensor.dtype is not None:
            config["input_dtype"] = self._input_tensor.dtype
        if not self.trainable:  # each layer's config says so too
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config, build_layer=None, custom_objects=None):
        if isinstance(build_layer, dict):  # Keras's from_config(config, custom_objects)
            build_layer, custom_objects = None, build_layer
        if build_layer is None:  # a user's call: layers checked as a file's are, custom_objects added
            build_layer = saving.from_config_builder(f"{cls.__name__}.from_config", custom_objects)
        layers = [build_spec(spec, build_layer) for spec in config["layers"]]
        model = cls(layers, name=config.get("name"))
        if config.get("input_dtype") is not None and config.get("input_shape") is not None:
            model._input_tensor = Input(tuple(config["input_shape"]), dtype=config["input_dtype"],
                                        name=f"{model.name}_input")
        if config.get("input_shape") is not None:
            model._build_sample(tuple(config["input_shape"]))
        return restore_trainable(model, config.get("trainable", True))


def _forget_nodes(graph) -> None:
    """Take ``graph``'s nodes out of its layers' node lists (a Sequential's chain rebuilt)."""
    stale = {id(node) for node in graph.nodes}
    for layer in graph.layers:
        nodes = layer.__dict__.get("_inbound_nodes")
        if nodes:
            nodes[:] = [n for n in nodes if id(n) not in stale]


Sequential = NeuralNetwork
