"""``xdl.saving`` (and the functions of ``xdl.models``): Keras's ``load_model``,
``model_from_json``, ``clone_model`` and the registry of one's own classes (io/saving.py)."""

from __future__ import annotations

from ..errors import ArgumentError, ArgumentTypeError
from ..io.saving import (get_registered_name, get_registered_object, model_from_json, register_keras_serializable,
                         to_json, with_registered)
from .model import Model


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Keras's: the model ``model.save(filepath)`` (xdl's or Keras 3's: a ``.keras`` file)
    wrote, compiled as it was saved; ``compile=False`` leaves the compile settings out. Classes
    and functions registered with ``register_keras_serializable`` are found without
    ``custom_objects``. ``safe_mode`` is accepted and changes nothing: xdl never runs code from a
    file (a Keras ``Lambda`` layer is refused either way)."""
    return Model.load(filepath, custom_objects=with_registered(custom_objects), compile=compile)


def clone_model(model, input_tensors=None, clone_function=None, **kwargs):
    """Keras's: a new model of the same architecture (layer names kept) with fresh weights,
    built from ``model``'s config as ``model_from_json`` builds it."""
    if not isinstance(model, Model):
        raise ArgumentTypeError(f"clone_model: expected an xdl model, got {type(model).__name__}")
    if input_tensors is not None or clone_function is not None or kwargs:
        given = ["input_tensors"] * (input_tensors is not None) + ["clone_function"] * (clone_function is not None)
        raise ArgumentError(f"clone_model: {given + sorted(kwargs)} are not supported by xdl; clone_model(model) "
                            "makes the same architecture with new weights")
    return model_from_json(to_json(model))


__all__ = ["load_model", "model_from_json", "clone_model", "register_keras_serializable", "get_registered_object",
           "get_registered_name"]
