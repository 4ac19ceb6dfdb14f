"""Model files: one safetensors file, weights as named tensors, architecture as JSON metadata.

This is a host boundary: arrays pass through NumPy on their way to and from disk. Files
are written atomically (temporary file, fsync, rename), so a failed save never damages
the previous file. Loading never executes anything from the file: layer, loss, optimizer
and metric types come from registries of known classes; the header (names, shapes, dtypes,
metadata) is checked against the architecture before any tensor data is read.

Layout: tensors "layers.{i}.{name}" (weights) and, in a checkpoint, "optimizer.{j}.{slot}"
(state of the model's j-th parameter). Metadata: "format", "format_version", "xdl_version",
"backend", "dtype", "model" (JSON: input shape, each layer's class and config), and when
compiled "training" (JSON: loss, metrics, optimizer class and config; in a checkpoint also
the optimizer's step count, the epochs completed and the data-order seed).
"""

from __future__ import annotations

import json
import math
import os
import tempfile

import numpy
from safetensors import safe_open
from safetensors.numpy import save as _serialize

from . import __version__, initializers, losses, metrics, optimizers, random, schedules
from ._backend import convert, get_backend, use_backend
from .errors import ModelFileError, NotBuiltError
from .layers.base import LAYERS

FORMAT = "xdl.model"
FORMAT_VERSION = 1
MAX_LAYERS = 10_000
SLACK = 2**20  # parameter elements an architecture may ask for beyond the file's (then: "missing tensor")
_DTYPES = {"F32": "float32", "F64": "float64"}
LOSSES = {cls.__name__: cls for cls in set(losses.LOSSES.values())}
OPTIMIZERS = {cls.__name__: cls for cls in set(optimizers.OPTIMIZERS.values())}
METRICS = {cls.__name__: cls for cls in set(metrics.METRICS.values())}


def atomic_write(path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new, never half."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _suppress_os_error():
            os.unlink(tmp)
        raise
    with _suppress_os_error():  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class _suppress_os_error:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, OSError)


def _spec(obj) -> dict:
    return {"class": type(obj).__name__, "config": obj.get_config()}


def _training_spec(model, include_optimizer) -> dict:
    opt = model.optimizer
    spec = {"loss": _spec(model.loss), "metrics": [_spec(m) for m in model.metrics], "optimizer": _spec(opt)}
    if include_optimizer:
        spec.update(iterations=opt.iterations, epoch=model.epoch, data_seed=model.data_seed)
    return spec


def save_model(model, path, include_optimizer=False) -> None:
    if not model.built:
        raise NotBuiltError(f"{model.name}: nothing to save yet; fit or build the model first")
    if include_optimizer and model.optimizer is None:
        raise NotBuiltError(f"{model.name}: include_optimizer=True needs a compiled model")
    be = model.backend
    tensors, layers = {}, []
    for i, layer in enumerate(model.layers):
        kind = type(layer).__name__
        if LAYERS.get(kind) is not type(layer):
            raise ModelFileError(f"{layer.describe()}: unregistered layer type; decorate it with xdl.register_layer")
        for p in layer.parameters():
            tensors[f"layers.{i}.{p.name}"] = be.to_numpy(p.value)
        layers.append({"class": kind, "config": layer.get_config()})
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "xdl_version": __version__,
        "backend": be.name,
        "dtype": model.layers[-1].dtype_name or "",
        "model": json.dumps({"input_shape": list(model.input_shape), "layers": layers}),
    }
    if model.loss is not None and model.optimizer is not None:
        metadata["training"] = json.dumps(_training_spec(model, include_optimizer))
    if include_optimizer:
        for j, p in enumerate(model.parameters()):
            for slot, value in model.optimizer.state.get(p, {}).items():
                tensors[f"optimizer.{j}.{slot}"] = be.to_numpy(value)
    tensors = {k: numpy.ascontiguousarray(v) for k, v in tensors.items()}
    atomic_write(path, _serialize(tensors, metadata=metadata))


class _File:
    """An open model file: metadata and each tensor's shape and dtype from the header alone;
    ``read(key)`` loads one tensor's data."""

    def __init__(self, path):
        self.path = path
        try:
            self._f = safe_open(os.fspath(path), framework="numpy")
            self.metadata = self._f.metadata() or {}
            slices = {k: self._f.get_slice(k) for k in self._f.keys()}  # noqa: SIM118 (not a mapping)
            self.header = {k: (tuple(s.get_shape()), s.get_dtype()) for k, s in slices.items()}
        except FileNotFoundError:
            raise
        except Exception as e:  # the library's errors for malformed headers, offsets, sizes
            raise ModelFileError(f"{path}: not a safetensors model file ({type(e).__name__}: {e})") from None

    def read(self, key):
        try:
            return self._f.get_tensor(key)
        except Exception as e:
            raise ModelFileError(f"{self.path}: tensor {key!r} cannot be read ({type(e).__name__}: {e})") from None

    def elements(self) -> int:
        return sum(math.prod(shape) for shape, _ in self.header.values())

    def fail(self, message):
        raise ModelFileError(f"{self.path}: {message}")


def _json(file, key, label, required=True):
    if key not in file.metadata:
        if required:
            file.fail(f"malformed metadata: no {key!r} entry")
        return None
    try:
        return json.loads(file.metadata[key])
    except ValueError as e:
        file.fail(f"malformed {label} metadata (not JSON: {e})")


def _architecture(file):
    meta = file.metadata
    if meta.get("format") != FORMAT:
        file.fail("a safetensors file, but not an xdl model (no xdl metadata)")
    if meta.get("format_version") != str(FORMAT_VERSION):
        file.fail(f"format version {meta.get('format_version')!r}; this xdl reads version {FORMAT_VERSION}")
    arch = _json(file, "model", "architecture")
    try:
        specs, input_shape = arch["layers"], tuple(int(d) for d in arch["input_shape"])
        if not isinstance(specs, list) or not 0 < len(specs) <= MAX_LAYERS:
            raise TypeError(f"between 1 and {MAX_LAYERS} layers expected")
        if any(d < 1 or d > 2**31 for d in input_shape):
            raise ValueError(f"input shape {input_shape} out of range")
        for spec in specs:
            _check_spec(file, spec, LAYERS, "layer type", "register custom layers with xdl.register_layer "
                                                           "before loading")
    except (KeyError, TypeError, ValueError) as e:
        file.fail(f"malformed architecture metadata ({type(e).__name__}: {e})")
    return specs, input_shape


def _check_spec(file, spec, registry, kind, hint=""):
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        file.fail(f"malformed {kind} entry {spec!r}")
    if spec.get("class") not in registry:
        file.fail(f"unknown {kind} {spec.get('class')!r}" + (f"; {hint}" if hint else ""))


def _build(file, spec, registry, kind):
    """An instance of a registered class from a checked spec (config values are plain JSON)."""
    _check_spec(file, spec, registry, kind)
    try:
        return registry[spec["class"]](**spec["config"])
    except ModelFileError:
        raise
    except (TypeError, ValueError, OverflowError) as e:
        file.fail(f"the {kind} {spec['class']}'s config does not fit it ({type(e).__name__}: {e})")


def _schedule(file, config):
    lr = config.get("learning_rate")
    if isinstance(lr, dict):
        config = {**config, "learning_rate": _build(file, lr, schedules.SCHEDULES, "learning-rate schedule")}
    return config


def load_model(path, backend=None, model_class=None):
    from .network import NeuralNetwork

    file = _File(path)
    specs, input_shape = _architecture(file)
    training = _json(file, "training", "training", required=False)
    with use_backend(backend or get_backend()), random.preserved_state(), \
            initializers.limit(file.elements() + SLACK, lambda message: ModelFileError(f"{path}: {message}")):
        layers = [_build(file, spec, LAYERS, "layer type") for spec in specs]
        model = (model_class or NeuralNetwork)(layers)
        try:
            model.build(input_shape)
        except (TypeError, ValueError, MemoryError) as e:
            file.fail(f"the architecture cannot be built for input shape {input_shape} ({type(e).__name__}: {e})")
    params = _named_parameters(model)
    state_keys = _check_tensors(file, model, params)
    for key, p in params.items():
        p.value = model.backend.asarray(file.read(key), dtype=p.dtype)
    if training is not None:
        _restore_training(file, model, training, state_keys)
    return model


def _check_tensors(file, model, params):
    """Every tensor in the header matches a parameter (or optimizer state) in shape and dtype."""
    names, parameters = {p: key for key, p in params.items()}, model.parameters()
    for key, p in params.items():
        if key not in file.header:
            file.fail(f"missing tensor {key!r} for {_owner(model, key).describe()}")
    state_keys = {}
    for key, (shape, dtype) in file.header.items():
        if key in params:
            p, owner = params[key], _owner(model, key).describe()
        elif key.startswith("optimizer."):
            j, _, slot = key[len("optimizer."):].partition(".")
            if not j.isdigit() or int(j) >= len(parameters) or not slot:
                file.fail(f"optimizer state {key!r} names no parameter of the model")
            p, owner = parameters[int(j)], f"optimizer state for {names[parameters[int(j)]]}"
            state_keys[key] = (p, slot)
        else:
            file.fail(f"tensors that no layer uses: {sorted(k for k in file.header if k not in params)}")
        if shape != p.shape:
            file.fail(f"tensor {key!r} has shape {shape}, {owner} expects {p.shape}")
        if _DTYPES.get(dtype) != str(p.dtype).rpartition(".")[2]:
            file.fail(f"tensor {key!r} has dtype {dtype}, {owner} expects {p.dtype}")
    return state_keys


def _owner(model, key):
    return model.layers[int(key.split(".")[1])]


def _restore_training(file, model, training, state_keys):
    """Compile the loaded model as it was saved; in a checkpoint, restore the optimizer's state."""
    if not isinstance(training, dict):
        file.fail("malformed training metadata")
    try:
        loss = _build(file, training["loss"], LOSSES, "loss")
        opt_spec = training["optimizer"]
        _check_spec(file, opt_spec, OPTIMIZERS, "optimizer")
        opt_spec = {**opt_spec, "config": _schedule(file, opt_spec["config"])}
        optimizer = _build(file, opt_spec, OPTIMIZERS, "optimizer")
        metric_specs = training.get("metrics", [])
        if not isinstance(metric_specs, list):
            file.fail(f"malformed training metadata (metrics is not a list: {metric_specs!r})")
        found = [_build(file, m, METRICS, "metric") for m in metric_specs]
    except KeyError as e:
        file.fail(f"malformed training metadata (no {e})")
    model.compile(loss=loss, optimizer=optimizer, metrics=found)
    if "iterations" in training:
        counters = [training.get(k) for k in ("iterations", "epoch")]
        if not all(isinstance(c, int) and c >= 0 for c in counters):
            file.fail(f"malformed checkpoint counters {counters}")
        optimizer.iterations, model.epoch = counters
        seed = training.get("data_seed")
        model.data_seed = seed if isinstance(seed, int) else None
    for key, (p, slot) in state_keys.items():
        if slot not in optimizer.slots:
            file.fail(f"optimizer state {key!r}: {type(optimizer).__name__} keeps no {slot!r}")
        optimizer.state.setdefault(p, {})[slot] = model.backend.asarray(file.read(key), dtype=p.dtype)
    for p, state in optimizer.state.items():
        if set(state) != set(optimizer.slots):
            file.fail(f"optimizer state for {p.name} is incomplete: {sorted(state)} of {sorted(optimizer.slots)}")


def _named_parameters(model):
    if not model.built:
        raise NotBuiltError(f"{model.name}: no weights yet; fit or build the model first")
    return {f"layers.{i}.{p.name}": p for i, layer in enumerate(model.layers) for p in layer.parameters()}


def export_weights(model, to_numpy=True) -> dict:
    """The model's weights (and non-trainable state) as a dict ``{"layers.0.weights": array}``:
    NumPy copies by default, or the backend's own arrays (copies too) with ``to_numpy=False``."""
    be = model.backend
    return {key: be.to_numpy(p.value, copy=True) if to_numpy else be.xp.asarray(p.value, copy=True)
            for key, p in _named_parameters(model).items()}


def import_weights(model, weights: dict) -> None:
    """Set the model's weights from a dict as ``export_weights`` gives (any array-likes,
    any backend's arrays, DLPack-capable tensors); every name and shape is checked first."""
    params = _named_parameters(model)
    if not isinstance(weights, dict):
        raise TypeError(f"import_weights: expected a dict of arrays, got {type(weights).__name__}")
    missing, extra = sorted(set(params) - set(weights)), sorted(set(weights) - set(params))
    if missing or extra:
        raise KeyError(f"import_weights: names differ from the model's: missing {missing}, unexpected {extra}")
    be = model.backend
    values = {key: convert(be, weights[key], params[key].dtype, f"import_weights: {key!r}") for key in params}
    for key, value in values.items():
        if tuple(value.shape) != params[key].shape:
            raise ValueError(f"import_weights: {key!r} has shape {tuple(value.shape)}, "
                             f"the model expects {params[key].shape}")
    for key, value in values.items():
        params[key].value = be.xp.asarray(value, copy=True)  # updated in place later: never the caller's
