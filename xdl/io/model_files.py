"""Model files: one safetensors file, weights as named tensors, architecture as JSON metadata.

This is a host boundary: arrays pass through NumPy on their way to and from disk. Files
are written atomically (temporary file, fsync, rename), so a failed save never damages
the previous file. Loading never executes anything from the file: layer, loss, optimizer
and metric types come from registries of known classes; the architecture is checked whole
(every class, name, shape and graph reference) before any layer is built, and the header
(names, shapes, dtypes) against the built model before any tensor data is read. Whatever
is wrong with a file is one ``ModelFileError`` naming the file and the fault.

Layout (format version 2): tensors named by path, "{layer}/{parameter}" and
"{model}/{layer}/{parameter}" inside nested models (e.g. "block1/conv2d/weights"), and in a
checkpoint "optimizer/{path}/{slot}" (the state of that parameter). Metadata: "format",
"format_version", "xdl_version", "backend", "dtype", "model" (JSON: the model's class and
config, see models/config.py: a Sequential's layers, or a graph's inputs, layers, nodes and
outputs), and when compiled "training" (JSON: losses, loss weights and metrics per output,
optimizer class and config; in a checkpoint also the optimizer's step count, the epochs
completed and the data-order seed).

Version 1 files (a flat Sequential, tensors "layers.{i}.{name}" and "optimizer.{j}.{slot}",
training "loss" and "metrics") still load.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings

import numpy
from safetensors import safe_open
from safetensors.numpy import save as _serialize

from .. import __version__, losses
from ..core import initializers, random
from .. import metrics
from .. import optimizers
from ..optimizers import schedules
from ..core.backend import get_backend, use_backend, use_floatx
from ..errors import ModelFileError, NotBuiltError
from .spec import MAX_DEPTH, MAX_ELEMENTS, MAX_LAYERS, MAX_WORK  # noqa: F401 (the limits, for readers of io)
from .spec import check_sizes, check_spec, is_model_class, is_sequential_class, short, valid_name
from ..layers.base import LAYERS, check_config_keys
from .bounded_json import parse_json
from .files import atomic_write, load_error
from .weights import import_weights, named_parameters

FORMAT = "xdl.model"
FORMAT_VERSION = 2
READS = ("1", "2")
SLACK = 2**20  # parameter elements an architecture may ask for beyond the file's (then: "missing tensor")
_DTYPES = {"F32": "float32", "F64": "float64"}
LOSSES = losses.CLASSES
OPTIMIZERS = {cls.__name__: cls for cls in set(optimizers.OPTIMIZERS.values())}
METRICS = dict(metrics.CLASSES)


def _spec(obj) -> dict:
    return {"class": type(obj).__name__, "config": obj.get_config()}


# -- saving -------------------------------------------------------------------------------------


def architecture(model, refuse) -> dict:
    """``model``'s class and config as files (and ``to_json``) hold them, after the loader's
    own checks: a model that could not be read back is refused here, with the reason
    (``refuse(message)``), rather than written as a file that fails later."""
    if getattr(model, "keras_call", False):
        raise ModelFileError(f"{model.name}: a subclassed model (its own call) has no architecture a file can "
                             "hold: save it with save_weights(path), make it again by its code, then "
                             "load_weights(path); save() and to_json() write graphs of layers (Sequential, "
                             "functional)")
    _check_saveable(model)
    arch = _spec(model)
    check_spec(arch, refuse)
    return arch


def check_savable(model, include_optimizer) -> None:
    """What ``save`` needs in either format: a built model, compiled when the optimizer's state is asked for."""
    if not model.built and not getattr(model, "keras_call", False):
        raise NotBuiltError(f"{model.name}: nothing to save yet; fit or build the model first")
    if include_optimizer and model.optimizer is None:
        raise NotBuiltError(f"{model.name}: include_optimizer=True needs a compiled model")


def save_model(model, path, include_optimizer=False) -> None:
    def refuse(message):
        raise ModelFileError(f"{model.name}: cannot be saved: {message}")

    check_savable(model, include_optimizer)
    arch = architecture(model, refuse)
    check_sizes(model, refuse)
    be = model.backend
    params = named_parameters(model)
    tensors = {key: be.to_numpy(p.value) for key, p in params.items()}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "xdl_version": __version__,
                "backend": be.name, "dtype": model.dtype_name or "", "model": json.dumps(arch),
                "order": json.dumps(list(params))}  # the parameters' order, for load_weights by order
    if model.objectives is not None and model.optimizer is not None:
        opt = model.optimizer
        training = {**model.objectives.get_config(), "optimizer": _spec(opt)}
        if include_optimizer:
            training.update(iterations=opt.iterations, epoch=model.epoch, data_seed=model.data_seed)
        metadata["training"] = json.dumps(training)
    for key in ("model", "training"):  # within the loader's bounds (size, nesting, finite numbers)
        if key in metadata:
            parse_json(metadata[key], key, lambda message, key=key: refuse(f"its {key} metadata {message}"))
    if include_optimizer:
        for key, p in params.items():
            for slot, value in model.optimizer.state.get(p, {}).items():
                name = f"optimizer/{key}/{slot}"
                if name in tensors:  # a layer named "optimizer" whose parameter looks like a state
                    refuse(f"tensor name {name!r} is both a parameter and an optimizer state; rename the layer")
                tensors[name] = be.to_numpy(value)
    tensors = {k: numpy.ascontiguousarray(v) for k, v in tensors.items()}
    _warn_if_misnamed(path)
    atomic_write(path, _serialize(tensors, metadata=metadata))


WEIGHTS_FORMAT = "xdl-weights"


def save_weights(model, path) -> None:
    """The model's weights alone (state included), named by path, in one safetensors file
    written atomically: Keras's ``save_weights``, for a model rebuilt by its own code."""
    if not model.built:
        raise NotBuiltError(f"{model.name}: no weights yet; fit or call the model first")
    params = named_parameters(model)
    tensors = {key: numpy.ascontiguousarray(model.backend.to_numpy(p.value)) for key, p in params.items()}
    _warn_if_misnamed(path)
    metadata = {"format": WEIGHTS_FORMAT, "xdl_version": __version__, "order": json.dumps(list(params))}
    atomic_write(path, _serialize(tensors, metadata=metadata))


def load_weights(model, path) -> None:
    """Read weights ``save_weights`` (or ``save``) wrote into ``model``, by name; where the
    names differ (a model made again, its layers named anew: "dense_7" for "dense_6") by
    order, as Keras matches them, when every shape agrees. All is checked before any is set."""
    file = _File(path)
    if file.metadata.get("format") not in (WEIGHTS_FORMAT, FORMAT):
        file.fail("a safetensors file, but not xdl weights (no xdl metadata)")
    params = named_parameters(model)
    keys = [k for k in file.header if not k.startswith("optimizer/")]
    if set(keys) != set(params):
        order = _json(file, "order", "order", required=False)
        shapes = [file.header[k][0] if isinstance(k, str) and k in file.header else None for k in order or []]
        if not isinstance(order, list) or len(order) != len(params) or \
                any(s != p.shape for s, p in zip(shapes, params.values())):
            file.fail(f"its weights {sorted(keys)} do not match the model's {list(params)}, by name or by order "
                      "and shape")
        keys = dict(zip(params, order))
        with file.refusing("the weights do not fit the model"):
            import_weights(model, {name: file.read(key) for name, key in keys.items()})
        return
    with file.refusing("the weights do not fit the model"):
        import_weights(model, {k: file.read(k) for k in keys})


# Suffixes that promise another format: the file is still written (safetensors), with a warning.
# Keras's own names (``model.keras``, ``model.weights.h5``) get Keras's formats (keras_files.py).
OTHER_FORMATS = {".h5": "HDF5 (Keras)", ".hdf5": "HDF5 (Keras)", ".keras": "Keras", ".pt": "PyTorch",
                 ".pth": "PyTorch", ".pkl": "pickle", ".pickle": "pickle", ".joblib": "joblib",
                 ".npz": "NumPy", ".npy": "NumPy", ".onnx": "ONNX", ".pb": "TensorFlow"}
KERAS_NAMES = (".keras", ".weights.h5")


def _warn_if_misnamed(path):
    name = os.fsdecode(os.fspath(path))
    suffix = os.path.splitext(name)[1].lower()
    if suffix in OTHER_FORMATS and not name.lower().endswith(KERAS_NAMES):
        warnings.warn(f"{name}: the name says {OTHER_FORMATS[suffix]} ({suffix}), but xdl writes a safetensors "
                      "file; name it .xdl or .safetensors", UserWarning, stacklevel=5)


def _check_saveable(model):
    """Files name classes (an unregistered one could not be found again on loading) and give
    each layer one model: a layer that a nested model and its host both use would come back
    as two layers, its weights no longer shared."""
    _check_registered(model)
    owners, hosts = {}, [model]
    while hosts:
        host = hosts.pop()
        for layer in host.layers:
            _check_registered(layer)
            other = owners.setdefault(id(layer), host)
            if other is not host:
                raise ModelFileError(f"{model.name}: cannot be saved: {layer.describe()} is used by both {other.name} "
                                     f"and {host.name}; a file keeps each layer in one model (reuse the nested "
                                     "model instead)")
            if is_model_class(type(layer)):
                hosts.append(layer)


def _check_registered(layer):
    if LAYERS.get(type(layer).__name__) is not type(layer):
        layer.get_config()  # a layer that cannot be saved at all (a Lambda's code) says why
        raise ModelFileError(f"{layer.describe()}: unregistered layer type; decorate it with xdl.register_layer")


# -- reading the header -------------------------------------------------------------------------


class Source:
    """Where a model's description comes from (a file's path, or a label such as
    "model_from_json"), as the layer builder needs it: ``fail`` and ``refusing`` name it."""

    def __init__(self, path):
        self.path = path

    def fail(self, message):
        raise ModelFileError(f"{os.fspath(self.path)}: {message}")

    @contextlib.contextmanager
    def refusing(self, what):
        """Any other error raised while building from the source's data is the source's fault."""
        try:
            yield
        except ModelFileError:
            raise
        except Exception as e:  # noqa: BLE001 (layers raise what their arguments provoke)
            raise ModelFileError(f"{os.fspath(self.path)}: {what} ({type(e).__name__}: {e})") from e


class _File(Source):
    """An open model file: metadata and each tensor's shape and dtype from the header alone;
    ``read(key)`` loads one tensor's data."""

    def __init__(self, path):
        super().__init__(path)
        try:
            self._f = safe_open(os.fspath(path), framework="numpy")
            self.metadata = self._f.metadata() or {}
            slices = {k: self._f.get_slice(k) for k in self._f.keys()}  # noqa: SIM118 (not a mapping)
            self.header = {k: (tuple(s.get_shape()), s.get_dtype()) for k, s in slices.items()}
        except OSError as e:
            raise load_error(path, e) from None
        except Exception as e:  # the library's errors for malformed headers, offsets, sizes
            raise ModelFileError(f"{path}: not a safetensors model file ({type(e).__name__}: {e})") from None

    def read(self, key):
        try:
            return self._f.get_tensor(key)
        except Exception as e:
            raise ModelFileError(f"{self.path}: tensor {key!r} cannot be read ({type(e).__name__}: {e})") from None

    def elements(self) -> int:
        return sum(math.prod(shape) for shape, _ in self.header.values())



def _json(file, key, label, required=True):
    if key not in file.metadata:
        if required:
            file.fail(f"malformed metadata: no {key!r} entry")
        return None
    return parse_json(file.metadata[key], key, lambda message: file.fail(f"malformed {label} metadata: {message}"))


def _architecture(file):
    """The file's model spec, a version 1 file's layers made into one, checked whole."""
    meta = file.metadata
    if meta.get("format") != FORMAT:
        file.fail("a safetensors file, but not an xdl model (no xdl metadata)")
    version = meta.get("format_version")
    if version not in READS:
        file.fail(f"format version {short(version)}; this xdl reads versions {', '.join(READS)}")
    if meta.get("dtype", "") not in ("", "float32", "float64"):
        file.fail(f"malformed metadata: dtype {short(meta['dtype'])} is not float32 or float64")
    arch = _json(file, "model", "architecture")
    if version == "1":
        if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list) or "input_shape" not in arch:
            file.fail("malformed architecture metadata: a version 1 file needs input_shape and a list of layers")
        arch = {"class": "NeuralNetwork", "config": {"name": None, "input_shape": arch.get("input_shape"),
                                                     "layers": _v1_names(arch["layers"])}}
    check_spec(arch, lambda message: file.fail(f"malformed architecture metadata: {message}"))
    if version == "1" and any(is_model_class(LAYERS[s["class"]]) for s in arch["config"]["layers"]):
        file.fail("malformed architecture metadata: a version 1 file holds no nested models")  # its names are flat
    return arch, version


def _v1_names(layers):
    """Version 1 let layers share a name or hold "/"; version 2 names tensors by layer name,
    so such layers get fresh names (version 1 tensors are found by position: nothing else changes)."""
    configs = [s["config"] for s in layers if isinstance(s, dict) and isinstance(s.get("config"), dict)]
    taken = {c.get("name") for c in configs if isinstance(c.get("name"), str)}
    seen, renamed = set(), []
    for i, spec in enumerate(layers):
        if isinstance(spec, dict) and isinstance(spec.get("config"), dict):
            name = spec["config"].get("name")
            if not valid_name(name) or name in seen:
                name = f"layer_{i}"
                while name in taken:
                    name += "_"
                taken.add(name)
                spec = {**spec, "config": {**spec["config"], "name": name}}
            seen.add(name)
        renamed.append(spec)
    return renamed


# -- building -------------------------------------------------------------------------------------


#: the wrappers of a user's function (compile(loss=fn), metrics=[fn]): the file names the function
FUNCTION_WRAPPERS = {"LossFunctionWrapper": losses.LossFunctionWrapper, "MeanMetricWrapper": metrics.MeanMetricWrapper}


def _build(file, spec, registry, kind, custom=None):
    """An instance of a registered class from a spec (config values are plain JSON); nested
    models build their layers through here too. ``custom``: Keras's ``custom_objects``, the
    user's classes and functions by name (a loss or metric function is found by its name)."""
    custom = custom or {}
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        file.fail(f"malformed {kind} entry {short(spec)}")
    known = registry.keys() | custom.keys() | (FUNCTION_WRAPPERS.keys() if kind in ("loss", "metric") else set())
    if not isinstance(spec.get("class"), str) or spec["class"] not in known:
        file.fail(f"unknown {kind} {short(spec.get('class'))}; a class of your own: register it "
                  "(xdl.register_layer for a layer) or pass load(path, custom_objects={name: class})")
    name = spec["config"].get("name")
    if spec["class"] in FUNCTION_WRAPPERS and kind in ("loss", "metric"):  # the function is the user's: by its name
        fn = custom.get(name) if isinstance(name, str) else None
        if not callable(fn):
            file.fail(f"the {kind} is your function {short(name)}: pass load(path, custom_objects={{{name!r}: "
                      f"{name if isinstance(name, str) else 'fn'}}})")
        with file.refusing(f"the {kind} {short(name)}: its config does not fit it"):
            return FUNCTION_WRAPPERS[spec["class"]](fn=fn, **spec["config"])
    cls = custom.get(spec["class"]) or registry[spec["class"]]
    what = f"the {kind} {spec['class']}" + (f" named {short(name)}" if isinstance(name, str) else "")
    with file.refusing(f"{what}: its config does not fit it"):
        if kind != "layer type":  # layers check their keys in from_config
            check_config_keys(cls, spec["config"])
            return cls(**spec["config"])
        if is_model_class(cls):
            return cls.from_config(spec["config"], lambda inner: _build(file, inner, registry, kind, custom))
        return cls.from_config(spec["config"])


def load_model(path, backend, model_class, custom_objects=None, compile=True):
    """The model in ``path``, built on ``backend`` (None: the active one). ``model_class``
    (the class ``load`` was called on) must be the file's class or a base of it;
    ``custom_objects``: the user's layer, loss and metric classes and functions by name;
    ``compile=False`` leaves the compile settings and training state out."""
    file = _File(path)
    arch, version = _architecture(file)
    cls = LAYERS[arch["class"]]
    if version == "1" and is_sequential_class(model_class):
        cls = model_class  # version 1 files name no class: build what load was called on, as v1 did
    if not issubclass(cls, model_class):
        file.fail(f"holds a {arch['class']}, not a {model_class.__name__}; xdl.Model.load(path) loads "
                  "any model file")
    training = _json(file, "training", "training", required=False)
    dtype = file.metadata.get("dtype") or None
    with use_backend(backend or get_backend()), use_floatx(dtype) if dtype else contextlib.nullcontext(), \
            random.preserved_state(), \
            initializers.limit(file.elements() + SLACK, lambda message: ModelFileError(f"{path}: {message}")), \
            file.refusing("the architecture cannot be built"):
        model = cls.from_config(arch["config"], lambda spec: _build(file, spec, LAYERS, "layer type", custom_objects))
        if not model.built:
            file.fail("the architecture has no input shape")
    check_sizes(model, lambda message: file.fail(f"malformed architecture metadata: {message}"))
    params = named_parameters(model)
    keys = _v1_keys(model) if version == "1" else {key: key for key in params}
    state_keys = _check_tensors(file, model, params, keys, version)
    if state_keys and training is None:
        file.fail("holds optimizer state but no training metadata")
    for key, path_key in keys.items():
        p = params[path_key]
        p.value = model.backend.asarray(file.read(key), dtype=p.dtype)
    if training is not None and compile:
        _restore_training(file, model, training, state_keys, version, custom_objects)
    return model


def _v1_keys(model):
    """Version 1 tensor names ("layers.{i}.{name}") -> the model's paths."""
    return {f"layers.{i}.{p.name}": f"{layer.name}/{p.name}" for i, layer in enumerate(model.layers)
            for p in layer.parameters()}


def _check_tensors(file, model, params, keys, version):
    """Every tensor in the header matches a parameter (or optimizer state) in shape and dtype;
    returns the optimizer states as ``{tensor name: (parameter, slot)}``."""
    for key, path_key in keys.items():
        if key not in file.header:
            file.fail(f"missing tensor {key!r} for {path_key.rpartition('/')[0]}")
    parameters, path_of = model.parameters(), {id(p): key for key, p in params.items()}
    state_keys = {}
    for key, (shape, dtype) in file.header.items():
        if key in keys:
            p, owner = params[keys[key]], keys[key].rpartition("/")[0]
        elif version == "1" and key.startswith("optimizer."):
            j, _, slot = key[len("optimizer."):].partition(".")
            if not (j.isascii() and j.isdigit()) or len(j) > 9 or int(j) >= len(parameters) or not slot:
                file.fail(f"optimizer state {short(key)} names no parameter of the model")
            p = parameters[int(j)]
            owner = f"optimizer state for {path_of.get(id(p), p.name)}"
            state_keys[key] = (p, slot)
        elif version != "1" and key.startswith("optimizer/"):
            path_key, _, slot = key[len("optimizer/"):].rpartition("/")
            if path_key not in params or not slot:
                file.fail(f"optimizer state {short(key)} names no parameter of the model")
            p, owner = params[path_key], f"optimizer state for {path_key}"
            state_keys[key] = (p, slot)
        else:
            prefix = "optimizer." if version == "1" else "optimizer/"
            unknown = sorted(k for k in file.header if k not in keys and not k.startswith(prefix))
            file.fail(f"tensors that no layer uses: {short(unknown, 300)}")
        if shape != p.shape:
            file.fail(f"tensor {key!r} has shape {shape}, {owner} expects {p.shape}")
        if _DTYPES.get(dtype) != str(p.dtype).rpartition(".")[2]:
            file.fail(f"tensor {key!r} has dtype {dtype}, {owner} expects {p.dtype}")
    return state_keys


def _restore_training(file, model, training, state_keys, version, custom=None):
    """Compile the loaded model as it was saved; in a checkpoint, restore the optimizer's state."""
    if not isinstance(training, dict):
        file.fail("malformed training metadata (not a dict)")
    n = len(model.output_names)
    if version == "1":
        loss_specs, weights, metric_specs = [training.get("loss")], None, [training.get("metrics", [])]
    else:
        loss_specs, weights, metric_specs = (training.get(k) for k in ("losses", "loss_weights", "metrics"))
    for what, value in (("losses", loss_specs), ("metrics", metric_specs)):
        if not isinstance(value, list) or len(value) != n:
            file.fail(f"malformed training metadata ({what} must be a list of {n}, one per output: {short(value)})")
    for specs in metric_specs:
        if not isinstance(specs, list):
            file.fail(f"malformed training metadata (metrics is not a list: {short(specs)})")
    found_losses = [None if spec is None else _build(file, spec, LOSSES, "loss", custom) for spec in loss_specs]
    found_metrics = [[_build(file, m, METRICS, "metric", custom) for m in specs] for specs in metric_specs]
    opt_spec = training.get("optimizer")
    if isinstance(opt_spec, dict) and isinstance(opt_spec.get("config"), dict) \
            and isinstance(opt_spec["config"].get("learning_rate"), dict):
        schedule = _build(file, opt_spec["config"]["learning_rate"], schedules.SCHEDULES, "learning-rate schedule")
        opt_spec = {**opt_spec, "config": {**opt_spec["config"], "learning_rate": schedule}}
    optimizer = _build(file, opt_spec, OPTIMIZERS, "optimizer")
    with file.refusing("malformed training metadata"):
        model.compile(loss=found_losses if n > 1 else found_losses[0], optimizer=optimizer,
                      metrics=found_metrics if n > 1 else found_metrics[0], loss_weights=weights)
    if "iterations" in training:
        counters = [training.get(k) for k in ("iterations", "epoch")]
        if not all(type(c) is int and 0 <= c < 2**62 for c in counters):
            file.fail(f"malformed checkpoint counters {short(counters)}")
        optimizer.iterations, model.epoch = counters
        seed = training.get("data_seed")
        if seed is not None and not (type(seed) is int and 0 <= seed < 2**64):
            file.fail(f"malformed checkpoint: data_seed must be an int in [0, 2**64) or null, got {short(seed)}")
        model.data_seed = seed
    for key, (p, slot) in state_keys.items():
        if slot not in optimizer.slots:
            file.fail(f"optimizer state {key!r}: {type(optimizer).__name__} keeps no {slot!r}")
        optimizer.state.setdefault(p, {})[slot] = model.backend.asarray(file.read(key), dtype=p.dtype)
    path_of = {id(p): key for key, p in model.named_parameters().items()}
    for p, state in optimizer.state.items():
        if set(state) != set(optimizer.slots):
            file.fail(f"optimizer state for {path_of[id(p)]} is incomplete: {sorted(state)} of "
                      f"{sorted(optimizer.slots)}")
