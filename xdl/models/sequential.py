"""``NeuralNetwork`` (alias ``Sequential``): a stack of layers, each feeding the next.

It is a ``Model`` whose graph is a chain, made when the input shape is known (the first
data, or ``build``), so it trains, saves and nests exactly as a functional model does.
"""

from __future__ import annotations

from ..core.backend import convert, get_backend, use_backend
from ..errors import ArgumentTypeError, BackendError, NotBuiltError, ShapeError, XdlError, shape_str
from .graph import Graph
from ..io.spec import build_spec, layer_spec
from ..layers.base import Layer, register_layer
from .model import Model, restore_trainable
from ..core.symbolic import Input


@register_layer
class NeuralNetwork(Model):
    """Layers applied in order: ``add``, ``compile``, ``fit``, ``predict``, ``save``.

    The model lives on the backend that was active when it was built (its first input);
    data given to ``fit``/``predict``/``evaluate`` is moved there once per call. Inputs of
    another shape than the first are taken wherever every layer takes them (sequences of
    another length, images of another size).
    """

    is_chain = True

    def __init__(self, layers=(), name=None):
        super().__init__(name=name)
        self._layers = []
        self._single_output = True
        for layer in layers:
            self.add(layer)

    def __repr__(self):
        inner = ", ".join(type(layer).__name__ for layer in self._layers)
        return f"{type(self).__name__}([{inner}])"

    @property
    def layers(self) -> list:
        return list(self._layers)

    # -- assembling -------------------------------------------------------------------------
    def add(self, layer) -> None:
        if not isinstance(layer, Layer):
            raise ArgumentTypeError(f"{type(self).__name__}.add expects a Layer such as xdl.Dense(...), "
                                    f"got {type(layer).__name__}")
        if layer is self:
            raise XdlError(f"{self.name}: a model cannot contain itself")
        self._layers.append(layer)
        if not self.trainable:  # a frozen model freezes what joins it
            layer.trainable = False
        if self.built:  # extend the built chain through the new layer
            self.build(self.input_shape)

    def build(self, input_shape) -> None:
        """Create every layer's parameters for per-sample input shape ``input_shape``."""
        layers = self._require_layers()
        owners = {layer.backend for layer in layers if layer.built}
        if len(owners) > 1:
            raise BackendError(f"{self.name}: layers live on different backends: "
                               f"{sorted(b.name for b in owners)}")
        be = owners.pop() if owners else get_backend()
        with use_backend(be):
            x = inputs = Input(tuple(input_shape), name=f"{self.name}_input")
            for layer in layers:
                x = layer(x)
                if isinstance(x, list):
                    raise XdlError(f"{self.name}: {layer.describe()} gives {len(x)} outputs (return_state=True?); "
                                   "in a NeuralNetwork each layer feeds one array to the next: build an xdl.Model "
                                   "to use several outputs")
            self._set_graph(Graph(inputs, x, self.name))

    def _require_layers(self) -> list:
        if not self._layers:
            raise NotBuiltError(f"{self.name}: the model has no layers; add some with model.add(...)")
        return self._layers

    def _output_names(self):
        if self.graph is not None:
            return self.output_names
        return [self._layers[-1].name] if self._layers else ["output"]

    def output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
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
        X = convert(be, X, self.input_dtype(be), f"{self.name}: {argument}")
        if X.ndim < 2:
            raise ShapeError(f"{self.name}: {argument} must have shape (N, features...), got "
                             f"{shape_str(X.shape, None)}")
        if not self.built:
            with use_backend(be):
                self.build(X.shape[1:])
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
            self.build(first.input_shape)

    def summary(self, print_fn=print) -> None:
        self._require_built("summary")
        super().summary(print_fn)

    def get_weights(self) -> list:
        self._require_built("get_weights")
        return super().get_weights()

    def set_weights(self, weights) -> None:
        self._require_built("set_weights")
        super().set_weights(weights)

    # -- files ---------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = {"name": self.name, "input_shape": None if not self.built else list(self.input_shape),
                  "layers": [layer_spec(layer) for layer in self._layers]}
        if not self.trainable:  # each layer's config says so too
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config, build_layer=None):
        layers = [build_spec(spec, build_layer) for spec in config["layers"]]
        model = cls(layers, name=config.get("name"))
        if config.get("input_shape") is not None:
            model.build(tuple(config["input_shape"]))
        return restore_trainable(model, config.get("trainable", True))


Sequential = NeuralNetwork
