"""Model files: one safetensors file, weights as named tensors, architecture as JSON metadata.

This is a host boundary: arrays pass through NumPy on their way to and from disk. Files
are written atomically (temporary file, fsync, rename), so a failed save never damages
the previous file. Loading never executes anything from the file: layer types come from
the registry of known layers.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy
from safetensors import safe_open
from safetensors.numpy import save as _serialize

from . import __version__, random
from ._backend import get_backend, use_backend
from .errors import ModelFileError, NotBuiltError
from .layers.base import LAYERS

FORMAT = "xdl.model"
FORMAT_VERSION = 1


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


def save_model(model, path) -> None:
    if not model.built:
        raise NotBuiltError(f"{model.name}: nothing to save yet; fit or build the model first")
    be = model.backend
    tensors, layers = {}, []
    for i, layer in enumerate(model.layers):
        kind = type(layer).__name__
        if LAYERS.get(kind) is not type(layer):
            raise ModelFileError(f"{layer.describe()}: unregistered layer type; decorate it with xdl.register_layer")
        for p in layer.parameters():
            tensors[f"layers.{i}.{p.name}"] = numpy.ascontiguousarray(be.to_numpy(p.value))
        layers.append({"class": kind, "config": layer.get_config()})
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "xdl_version": __version__,
        "backend": be.name,
        "model": json.dumps({"input_shape": list(model.input_shape), "layers": layers}),
    }
    atomic_write(path, _serialize(tensors, metadata=metadata))


def _read(path):
    try:
        with safe_open(os.fspath(path), framework="numpy") as f:
            return f.metadata() or {}, {key: f.get_tensor(key) for key in f.keys()}
    except FileNotFoundError:
        raise
    except Exception as e:
        raise ModelFileError(f"{path}: not a safetensors model file ({type(e).__name__}: {e})") from None


def _architecture(path, metadata):
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path}: a safetensors file, but not an xdl model (no xdl metadata)")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(f"{path}: format version {metadata.get('format_version')!r}; "
                             f"this xdl reads version {FORMAT_VERSION}")
    try:
        arch = json.loads(metadata["model"])
        specs, input_shape = arch["layers"], tuple(int(d) for d in arch["input_shape"])
        for spec in specs:
            if spec["class"] not in LAYERS:
                raise ModelFileError(f"{path}: unknown layer type {spec['class']!r}; "
                                     "register custom layers with xdl.register_layer before loading")
            if not isinstance(spec["config"], dict):
                raise TypeError("layer config is not a JSON object")
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"{path}: malformed architecture metadata ({type(e).__name__}: {e})") from None
    return specs, input_shape


def load_model(path, backend=None, model_class=None):
    from .network import NeuralNetwork

    metadata, tensors = _read(path)
    specs, input_shape = _architecture(path, metadata)
    with use_backend(backend or get_backend()), random.preserved_state():
        try:
            layers = [LAYERS[spec["class"]](**spec["config"]) for spec in specs]
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{path}: a layer's config does not fit its type ({e})") from None
        model = (model_class or NeuralNetwork)(layers)
        model.build(input_shape)
    for i, layer in enumerate(model.layers):
        for p in layer.parameters():
            key = f"layers.{i}.{p.name}"
            if key not in tensors:
                raise ModelFileError(f"{path}: missing tensor {key!r} for {layer.describe()}")
            value = tensors.pop(key)
            if tuple(value.shape) != p.shape:
                raise ModelFileError(f"{path}: tensor {key!r} has shape {tuple(value.shape)}, "
                                     f"{layer.describe()} expects {p.shape}")
            p.value = model.backend.asarray(value, dtype=p.dtype)
    if tensors:
        raise ModelFileError(f"{path}: tensors that no layer uses: {sorted(tensors)}")
    return model
