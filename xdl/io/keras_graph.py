"""A Keras 3 model's structure in ``config.json`` (Sequential, or Functional: layers with their
``inbound_nodes``) and xdl's architecture spec (models/config.py), both ways.

Reading makes the spec that io/spec.py checks and the file loader builds, so a Keras file is
held to what an xdl file is; its nodes are put in topological order (Kahn's, so a cycle or a
dangling reference is refused, never followed). Both ways also list where each layer's weights
live in the HDF5 file: Keras names groups by class in the model's layer order, and for a
functional model that order is Keras's own (``Function``'s: by depth from the outputs, then by
first visit), which ``keras_order`` repeats so that Keras finds each weight where it looks.
"""

from __future__ import annotations

from ..layers.base import LAYERS
from .keras_config import RECURRENT, XDL_CLASS, policy_name, snake, xdl_config
from .keras_nodes import MASK, MASK_OPS, Graph
from .spec import (
    INPUT_DTYPES,
    MAX_LAYERS,
    MAX_OUTPUTS,
    is_model_class,
    is_sequential_class,
    short,
)

MODELS = ("Sequential", "Functional", "Model")


def _unique(name, used):
    """Keras's ``_get_unique_name``: "dense", "dense_1", ... per name."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _join(h5, name):
    return f"{h5}/layers/{name}" if h5 else f"layers/{name}"


MODEL_MODULES = (None, "keras", "keras.models", "keras.src.models.functional", "keras.src.models.sequential")


def _origin(spec):
    """"model" or "layer" (Keras's own), "keras" (another of Keras's objects: an operation on
    tensors), or "custom" (a class of the user's, or of a library: by registered name only)."""
    module = spec.get("module")
    if spec["class_name"] in MODELS and module in MODEL_MODULES:
        return "model"
    if module in (None, "keras.layers"):
        return "layer"
    return "keras" if isinstance(module, str) and module.split(".")[0] == "keras" else "custom"


class Reader:
    """Keras's config -> xdl's spec; ``weights``: (xdl layer path, HDF5 group, Keras's form?);
    ``masks``: what keras_nodes.check_masks checks once the model is built."""

    def __init__(self, fail, custom):
        self.fail, self.custom, self.weights, self.budget = fail, custom or {}, [], MAX_LAYERS
        self.masks = []  # (model path, {layer name: Keras gave it a mask}) of each functional model

    def spend(self, n):
        self.budget -= n
        if self.budget < 0:
            self.fail(f"more than {MAX_LAYERS} layers and nodes")

    def entry(self, spec, where):
        if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str) \
                or not isinstance(spec.get("config"), dict):
            self.fail(f"{where}: malformed entry {short(spec)} (expected class_name and config)")
        return spec["class_name"], spec["config"]

    def model(self, spec, where, h5, path=()):
        kind, config = self.entry(spec, where)
        if _origin(spec) != "model" and not isinstance(config.get("layers"), list):
            self.fail(f"{where}: {short(kind)} is a subclassed Keras model (its own call: Python code); xdl reads "
                      "Sequential and functional models (rebuild it in xdl, then load_weights)")
        cls = None if _origin(spec) == "model" else self.custom_class(spec, where, model=True)
        if len(path) > 32:
            self.fail(f"{where}: models nested more than 32 deep")
        layers = config.get("layers")
        if not isinstance(layers, list) or not layers:
            self.fail(f"{where}: layers must be a non-empty list, got {short(layers)}")
        self.spend(len(layers))
        sequential = kind == "Sequential" if cls is None else is_sequential_class(LAYERS[cls["class"]])
        out = (self.sequential if sequential else self.functional)(config, layers, where, h5, path)
        if cls is not None:
            out["class"] = cls["class"]
        name = config.get("name")
        out["config"]["name"] = name if isinstance(name, str) else None
        if config.get("trainable") is False:
            out["config"]["trainable"] = False
        return out

    def layer(self, spec, where, h5, path):
        """``spec`` as xdl's spec; weights noted at ``h5`` under xdl's ``path``."""
        kind, config = self.entry(spec, where)
        where = f"{where} ({kind} {short(config.get('name'))})"
        if not isinstance(path[-1], str):
            self.fail(f"{where}: a layer needs a name (a string)")
        origin = _origin(spec)
        if origin == "model" or (origin == "custom" and is_model_class(self.resolve(spec, where))):
            return self.model(spec, where, h5, path)
        xspec, mapped = self.convert(spec, where)
        self.weights.append((path, h5, mapped))
        return xspec

    def convert(self, spec, where):
        kind, config = spec["class_name"], spec["config"]
        if kind == "Lambda":
            self.fail(f"{where}: a Lambda layer holds Python code, and xdl runs no code from a file; rebuild the "
                      "model with that step as a layer of its own (registered), or load the weights alone")
        origin = _origin(spec)
        if origin == "custom":
            return self.custom_class(spec, where), False
        if origin != "layer" or kind not in XDL_CLASS:
            self.fail(f"{where}: Keras's {kind} ({spec.get('module')}) has no xdl reader; xdl reads the layers "
                      f"{sorted(XDL_CLASS)} and Sequential and functional models")
        cls = LAYERS[XDL_CLASS[kind]]

        def inner(inner_spec, inner_where):  # a wrapper's layer(s)
            self.entry(inner_spec, inner_where)
            out = self.convert(inner_spec, inner_where)[0]
            if cls.__name__ == "Bidirectional" and out["class"] not in RECURRENT:
                self.fail(f"{inner_where}: Bidirectional wraps SimpleRNN, LSTM or GRU in xdl, got {out['class']}")
            return out

        return {"class": cls.__name__, "config": xdl_config(cls, config, where, self.fail, inner)}, True

    def resolve(self, spec, where):
        """The registered xdl class a custom object names (its registered name first), never imported."""
        registered, kind = spec.get("registered_name"), spec["class_name"]
        cls = LAYERS.get(registered[4:]) if isinstance(registered, str) and registered.startswith("xdl>") else None
        if cls is None:
            from ..core.registry import get_registered_object
            for key in (registered, kind):
                if isinstance(key, str) and cls is None:
                    cls = get_registered_object(key, self.custom) or LAYERS.get(key)
        if not isinstance(cls, type) or LAYERS.get(cls.__name__) is not cls:
            self.fail(f"{where}: unknown class {short(registered or kind)}; a class of your own: register it "
                      "(xdl.register_layer or keras.saving.register_keras_serializable) before loading")
        return cls

    def custom_class(self, spec, where, model=False):
        cls = self.resolve(spec, where)
        if model != is_model_class(cls):
            self.fail(f"{where}: {cls.__name__} is {'a layer, not a model' if model else 'a model, not a layer'}")
        if model:
            return {"class": cls.__name__}
        config = dict(spec["config"])
        if "dtype" in config:
            config["dtype"] = policy_name(config["dtype"], where, self.fail)
        return {"class": cls.__name__, "config": config}

    def input(self, spec, where):
        _, config = self.entry(spec, where)
        unknown = sorted(set(config) - {"batch_shape", "batch_input_shape", "dtype", "sparse", "ragged", "name",
                                        "optional"})
        shape = config.get("batch_shape", config.get("batch_input_shape"))
        if unknown or config.get("sparse") or config.get("ragged") or config.get("optional"):
            self.fail(f"{where}: an InputLayer with {short(unknown) if unknown else 'sparse, ragged or optional'}; "
                      "xdl reads dense inputs")
        if not isinstance(shape, list) or not 1 <= len(shape) <= MAX_OUTPUTS:
            self.fail(f"{where}: batch_shape must be a list (the batch axis first), got {short(shape)}")
        dtype = config.get("dtype")
        dtype = policy_name(dtype, where, self.fail) if isinstance(dtype, dict) else dtype
        if dtype not in INPUT_DTYPES:
            self.fail(f"{where}: input dtype {short(dtype)}; xdl's inputs are {INPUT_DTYPES[1:]}")
        return shape[1:], dtype

    def sequential(self, config, layers, where, h5, path):
        start, shape, dtype = 0, None, None
        if isinstance(layers[0], dict) and layers[0].get("class_name") == "InputLayer":
            shape, dtype = self.input(layers[0], f"{where}: its InputLayer")
            start = 1
        elif isinstance(config.get("build_input_shape"), list) and config["build_input_shape"]:
            shape = config["build_input_shape"][1:]
        used, out = {}, []
        for i, spec in enumerate(layers[start:], start):
            kind, inner = self.entry(spec, f"{where}: layer {i}")
            name = inner.get("name")
            out.append(self.layer(spec, f"{where}: layer {i}", _join(h5, _unique(snake(kind), used)), path + (name,)))
        config = {"input_shape": shape, "layers": out}
        if dtype not in (None, "float32", "float64"):
            config["input_dtype"] = dtype
        return {"class": "NeuralNetwork", "config": config}

    def functional(self, config, layers, where, h5, path):
        used, specs, inputs, nodes, kinds = {}, [], {}, [], {}
        for i, spec in enumerate(layers):
            kind, inner = self.entry(spec, f"{where}: layer {i}")
            name = spec.get("name", inner.get("name"))
            if not isinstance(name, str) or name in kinds:
                self.fail(f"{where}: layer {i}: names must be distinct strings, got {short(name)}")
            if _origin(spec) == "keras" and kind in MASK_OPS:  # xdl makes masks itself: checked after the build
                kinds[name] = MASK
                continue
            group = _join(h5, _unique(snake(kind), used))
            if kind == "InputLayer":
                inputs[name] = self.input(spec, f"{where}: input {name!r}")
                kinds[name] = None
                continue
            xspec = self.layer(spec, f"{where}: layer {i}", group, path + (name,))
            xspec["config"]["name"] = name
            specs.append(xspec)
            kinds[name] = xspec
            calls = spec.get("inbound_nodes")
            if not isinstance(calls, list) or len(calls) > MAX_LAYERS:
                self.fail(f"{where}: layer {name!r}: inbound_nodes must be a list, got {short(calls)}")
            self.spend(len(calls))
            nodes.extend((name, k, call) for k, call in enumerate(calls))
        refs = {"input_layers": config.get("input_layers"), "output_layers": config.get("output_layers")}
        single = {key: isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) for key, v in refs.items()}
        for key, value in refs.items():
            refs[key] = [value] if single[key] else value
            if not isinstance(refs[key], list) or not refs[key]:
                self.fail(f"{where}: {key} must list [layer, node, tensor] references, got {short(value)}")
        names = []
        for ref in refs["input_layers"]:
            if not (isinstance(ref, list) and len(ref) == 3 and ref[0] in inputs and ref[1:] == [0, 0]):
                self.fail(f"{where}: input_layers names {short(ref)}, not an InputLayer of the model")
            names.append(ref[0])
        graph = Graph(self, where, kinds, nodes, refs["output_layers"])
        self.masks.append((path, graph.given))
        config = {"inputs": [{"name": n, "shape": inputs[n][0], "dtype": inputs[n][1]} for n in names],
                  "layers": specs, "nodes": graph.nodes,
                  "outputs": [graph.ref(r, "output_layers") for r in refs["output_layers"]],
                  "single_output": single["output_layers"]}
        return {"class": "Model", "config": config}
