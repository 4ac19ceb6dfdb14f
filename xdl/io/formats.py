"""Which format a model file is: Keras 3's (a ``.keras`` zip; ``.weights.h5``, HDF5) chosen by
the name when writing and by the file's first bytes when reading (keras_files.py), else xdl's
safetensors (model_files.py). The models' ``save``/``load`` come here; neither format's module
knows the other's."""

from __future__ import annotations

import os

from ..errors import ModelFileError
from . import keras_files, model_files


def save_model(model, path, include_optimizer=False) -> None:
    model_files.check_savable(model, include_optimizer)
    if keras_files.is_keras_name(path):  # Keras's own format under Keras's name
        return keras_files.save_model(model, path, include_optimizer)
    return model_files.save_model(model, path, include_optimizer)


def save_weights(model, path) -> None:
    if keras_files.is_keras_weights_name(path) and model.built and not model.keras_call:
        return keras_files.save_weights(model, path)  # Keras's HDF5; a subclassed model's: xdl's (README)
    return model_files.save_weights(model, path)


def load_weights(model, path) -> None:
    if keras_files.magic(path).startswith((keras_files.HDF5_MAGIC, keras_files.ZIP_MAGIC)):
        return keras_files.load_weights(model, path)
    return model_files.load_weights(model, path)


def load_model(path, backend, model_class, custom_objects=None, compile=True):
    """The model in ``path`` (model_files.load_model's arguments; ``custom_objects`` a dict, as
    ``saving.with_registered`` checked it); a Keras zip, whatever its name, is read as Keras's."""
    head = keras_files.magic(path)
    if head.startswith(keras_files.ZIP_MAGIC):
        return keras_files.load_model(path, backend, model_class, custom_objects, compile)
    if head.startswith(keras_files.HDF5_MAGIC):
        raise ModelFileError(f"{os.fspath(path)}: an HDF5 file: Keras's weights alone (model.load_weights(path) reads "
                             "them) or a Keras 2 .h5 model, which xdl does not read (save it as .keras with Keras 3)")
    return model_files.load_model(path, backend, model_class, custom_objects, compile)
