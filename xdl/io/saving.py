"""Keras's serialization registry and a model's architecture as JSON.

``register_keras_serializable`` enters a class or function under ``"package>name"`` (Keras's
key) and under its own ``__name__``, the name xdl's files write: a layer class is also
registered as ``xdl.register_layer`` does, and a loss or metric class or function is found by
``xdl.models.load_model`` / ``model_from_json`` without ``custom_objects``. ``to_json`` and
``model_from_json`` go through the model-file loader's own checks and builder
(``spec.check_spec``, ``model_files._build``), so a JSON string is held to what a file is.
"""

from __future__ import annotations

import json

from ..core import initializers
from ..errors import ArgumentTypeError, ModelFileError
from ..layers.base import LAYERS, Layer, register_layer
from . import model_files
from .bounded_json import parse_json
from ..core.registry import BY_NAME, REGISTERED, get_registered_name, get_registered_object  # noqa: F401 (re-exported)
from .spec import MAX_ELEMENTS, check_spec, short

def register_keras_serializable(package="Custom", name=None):
    """Keras's decorator: ``@register_keras_serializable()`` over a layer, loss or metric class
    or a function, so that files and JSON naming it load without ``custom_objects``."""
    if not isinstance(package, str) or not package:
        raise ArgumentTypeError(f"register_keras_serializable: package must be a non-empty string, got {package!r:.80}")
    if name is not None and (not isinstance(name, str) or not name):
        raise ArgumentTypeError(f"register_keras_serializable: name must be a non-empty string or None, "
                                f"got {name!r:.80}")

    def decorate(obj):
        if not callable(obj) or not isinstance(getattr(obj, "__name__", None), str):
            raise ArgumentTypeError(f"register_keras_serializable: decorates a class or a function, got {obj!r:.80}")
        key = f"{package}>{name or obj.__name__}"  # registered again (a notebook cell run twice): the latest, as Keras
        if isinstance(obj, type) and issubclass(obj, Layer):
            register_layer(obj)
        REGISTERED[key] = BY_NAME[obj.__name__] = obj
        return obj

    return decorate


def with_registered(given=None) -> dict:
    """The registered objects by name, with the user's ``custom_objects`` over them."""
    if given is not None and not isinstance(given, dict):
        raise ArgumentTypeError(f"custom_objects must be a dict of names to classes or functions, got {short(given)}")
    return {**BY_NAME, **(given or {})}


def to_json(model, **kwargs) -> str:
    """``model``'s class and config as JSON (``json.dumps``'s ``kwargs``, e.g. ``indent``),
    refused, as ``save`` refuses it, when ``model_from_json`` could not read it back."""
    def refuse(message):
        raise ModelFileError(f"{model.name}: cannot be written as JSON: {message}")

    return json.dumps(model_files.architecture(model, refuse), **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A new model (fresh weights) from what ``model.to_json()`` wrote; Keras's
    ``custom_objects`` add to the registered classes."""
    if isinstance(json_string, (bytes, bytearray)):
        json_string = json_string.decode("utf-8", errors="replace")
    if not isinstance(json_string, str):
        raise ArgumentTypeError(f"model_from_json: expected the JSON text model.to_json() wrote, got "
                                f"{short(json_string)}")
    source = model_files.Source("model_from_json")
    arch = parse_json(json_string, "model", lambda message: source.fail(f"the JSON {message}"))
    if not isinstance(arch, dict) or "class" not in arch:
        source.fail(f"expected {{'class': ..., 'config': ...}} as model.to_json() writes, got {short(arch)}")
    check_spec(arch, lambda message: source.fail(f"malformed architecture: {message}"))
    with initializers.limit(MAX_ELEMENTS, lambda message: ModelFileError(f"model_from_json: {message}")), \
            source.refusing("the architecture cannot be built"):
        return LAYERS[arch["class"]].from_config(arch["config"], layer_builder(source, custom_objects))


def layer_builder(source, custom_objects):
    """What builds each layer of an architecture: registered classes and Keras's
    ``custom_objects`` (checked as a file's are), its errors naming ``source``."""
    custom = with_registered(custom_objects)
    return lambda spec: model_files._build(source, spec, LAYERS, "layer type", custom)


def from_config_builder(where, custom_objects):
    """``layer_builder`` for ``Model.from_config(config, custom_objects=...)``."""
    return layer_builder(model_files.Source(where), custom_objects)
