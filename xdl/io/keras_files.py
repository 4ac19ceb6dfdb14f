"""Keras 3's files: ``.keras`` (a zip of ``config.json``, ``metadata.json`` and
``model.weights.h5``) and ``.weights.h5`` (that HDF5 file alone), read and written by xdl.

Reading follows xdl's file rules (model_files.py): sizes are bounded before anything is
decompressed or parsed (the zip's directory, each member, the JSON, each HDF5 dataset); the
architecture becomes xdl's spec (keras_graph.py), checked whole by io/spec.py and built only
from registered classes; no code runs (a ``Lambda`` is refused); every weight's shape is checked
before any is set; and whatever is wrong is one ``ModelFileError`` naming the file and the fault.

Writing makes the file Keras 3 writes: layers both libraries have in Keras's form, the others
(a class of one's own, or an xdl layer Keras lacks) as custom objects under their registered
names, as Keras writes its users' classes (Keras then needs that class to load the file; xdl
warns when the class is xdl's own). Compile settings and the optimizer's state: keras_training.py.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import warnings
import zipfile

from .. import __version__
from ..core import initializers, random
from ..core.backend import get_backend, use_backend
from ..errors import ModelFileError, NotBuiltError, XdlError
from . import keras_weights
from .bounded_json import parse_json
from .model_files import Source
from .files import atomic_write, load_error
from .keras_graph import Reader
from .keras_nodes import check_masks
from .keras_writer import Writer
from .keras_zip import (  # noqa: F401 (HDF5_MAGIC: model_files')
    CONFIG,
    EXPANSION,
    HDF5_MAGIC,
    MAX_WEIGHTS,
    METADATA,
    WEIGHTS,
    ZIP_MAGIC,
    magic,
    read_json,
    read_zip,
)
from .spec import check_sizes, check_spec, is_model_class, short

#: the Keras release whose files these follow (tests/io/test_keras_files.py loads them with it)
KERAS_VERSION = "3.15.1"


def _name(path):
    return os.fsdecode(os.fspath(path)).lower()


def is_keras_name(path) -> bool:
    return _name(path).endswith(".keras")


def is_keras_weights_name(path) -> bool:
    return _name(path).endswith(".weights.h5")


# -- loading ----------------------------------------------------------------------------------------


def load_model(path, backend, model_class, custom_objects=None, compile=True):
    """The model in the Keras file ``path``, built on ``backend``; compiled from its compile
    settings (and optimizer state) unless ``compile`` is False."""
    from ..layers.base import LAYERS
    from . import keras_training
    from .model_files import SLACK, _build

    source = Source(path)
    fail = source.fail
    members = read_zip(path, fail)
    config = read_json(members[CONFIG], CONFIG, fail)
    metadata = read_json(members[METADATA], METADATA, fail)
    if not isinstance(metadata, dict):
        fail(f"{METADATA!r} must be a JSON object, got {short(metadata)}")
    if not isinstance(config, dict):
        fail(f"{CONFIG!r} must be a JSON object, got {short(config)}")
    reader = Reader(lambda message: fail(f"{CONFIG}: {message}"), custom_objects)
    arch = reader.model(config, "the model", "")
    check_spec(arch, lambda message: fail(f"{CONFIG}: {message}"))
    cls = LAYERS[arch["class"]]
    if not issubclass(cls, model_class):
        fail(f"holds a {arch['class']}, not a {model_class.__name__}; xdl.Model.load(path) loads any model file")
    budget = len(members[WEIGHTS]) * EXPANSION // 4 + SLACK  # parameters the architecture may ask for
    with use_backend(backend or get_backend()), random.preserved_state(), \
            initializers.limit(budget, lambda message: ModelFileError(f"{os.fspath(path)}: {message}")), \
            source.refusing("the architecture cannot be built"):
        model = cls.from_config(arch["config"], lambda spec: _build(source, spec, LAYERS, "layer type", custom_objects))
        if not model.built:
            fail("the architecture has no input shape")
    check_sizes(model, lambda message: fail(f"{CONFIG}: {message}"))
    check_masks(model, reader.masks, _layer_at, lambda message: fail(f"{CONFIG}: {message}"))
    training = None
    weights = keras_weights.Reader(members[WEIGHTS], lambda message: fail(f"{WEIGHTS}: {message}"))
    try:
        values = read_weights(model, weights, reader.weights)
        if compile:
            places = [(_layer_at(model, names, fail), mapped) for names, _, mapped in reader.weights]
            training = keras_training.read(model, config, metadata, weights, source, custom_objects, places)
    finally:
        weights.close()
    with source.refusing("the weights do not fit the model"):
        _set(model, values)
    if training is not None:
        training()
    return model


def _layer_at(model, names, fail):
    layer = model
    for name in names:
        layer = next((inner for inner in layer.layers if inner.name == name), None)
        if layer is None:
            fail(f"no layer {'/'.join(map(str, names))!r} in the model built")
    return layer


def read_weights(model, reader, places):
    """``{parameter path: array}`` for every parameter of ``model``, read at ``places`` (the
    graph reader's list); a parameter no place covers is the file's fault."""
    values = {}
    for names, group, mapped in places:
        layer = _layer_at(model, names, reader.fail)
        prefix = "/".join(names) + "/"
        values.update({prefix + k: v for k, v in keras_weights.read_layer(reader, group, layer, mapped).items()})
        if mapped and not keras_weights.layout(layer):  # its parameters came from its config (a given mean)
            values.update({prefix + k: layer.backend.to_numpy(p.value) for k, p in layer.named_parameters().items()})
    missing = sorted(set(model.named_parameters()) - set(values))
    if missing:
        reader.fail(f"no weights for {short(missing, 300)}")
    return values


def _set(model, values):
    params = model.named_parameters()
    for key, value in values.items():
        params[key].value = model.backend.asarray(value, dtype=params[key].dtype)


# -- saving -----------------------------------------------------------------------------------------


def keras_config(model, fail):
    """``(config.json's dict, Writer)`` for ``model``: Keras's form, and where its weights go."""
    writer = Writer(fail)
    return writer.model(model, ""), writer


def weight_groups(model, writer):
    groups, names = {}, {}
    for group, layer, mapped in writer.groups:
        for path, arrays in keras_weights.layer_groups(group, layer, mapped).items():
            groups[path] = arrays
            names[path] = layer.name if path == group else path.rpartition("/")[2]
    return groups, names


def save_model(model, path, include_optimizer=True):
    from . import keras_training
    from .model_files import architecture

    def fail(message):
        raise ModelFileError(f"{model.name}: cannot be saved as a Keras file: {message}")

    if not model.built:
        raise NotBuiltError(f"{model.name}: nothing to save yet; fit or build the model first")
    architecture(model, fail)  # what xdl's files refuse (a subclassed model, unregistered layers) Keras's do too
    config, writer = keras_config(model, fail)
    groups, names = weight_groups(model, writer)
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "xdl_version": __version__}
    places = [(layer, mapped) for _, layer, mapped in writer.groups]
    keras_training.write(model, places, config, metadata, groups, names, include_optimizer)
    if writer.foreign:
        listed = ", ".join(writer.foreign[:5]) + (f" and {len(writer.foreign) - 5} more" if len(writer.foreign) > 5 else "")
        warnings.warn(f"{os.fspath(path)}: layers without a Keras form ({listed}) are written as xdl's classes: xdl "
                      "reads this file whole, Keras cannot load it (name it .xdl for xdl's own format)", UserWarning,
                      stacklevel=4)
    texts = {}
    for member, value in ((CONFIG, config), (METADATA, metadata)):
        try:
            texts[member] = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:  # a layer's get_config holding what JSON cannot
            fail(f"its {member} cannot be written as JSON ({e})")
        parse_json(texts[member], "model", lambda message, m=member: fail(f"its {m} {message}"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # stored, as Keras writes it
        archive.writestr(METADATA, texts[METADATA])
        archive.writestr(CONFIG, texts[CONFIG])
        archive.writestr(WEIGHTS, keras_weights.write(groups, names, model.name))
    atomic_write(path, buffer.getvalue())


def save_weights(model, path):
    """The weights alone as Keras's ``save_weights`` writes them (``*.weights.h5``)."""
    def fail(message):
        raise ModelFileError(f"{model.name}: cannot save Keras weights: {message}")

    if getattr(model, "keras_call", False):
        fail("a subclassed model (its own call) has no layer order Keras's weights file could follow; "
             "save_weights to a .xdl name")
    _, writer = keras_config(model, fail)
    groups, names = weight_groups(model, writer)
    atomic_write(path, keras_weights.write(groups, names, model.name))


def load_weights(model, path):
    """Weights a ``*.weights.h5`` file (or a ``.keras`` file) holds into ``model``:
    placed as Keras places them for this model's layers; every shape checked before any is set."""
    source = Source(path)
    if getattr(model, "keras_call", False):
        source.fail("a subclassed model (its own call) has no layer order to read Keras weights by")
    if magic(path).startswith(ZIP_MAGIC):  # a whole .keras file: its weights, as Keras's load_weights reads them
        data = read_zip(path, source.fail)[WEIGHTS]
    else:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_WEIGHTS + 1)
        except OSError as e:
            raise load_error(path, e) from None
        if len(data) > MAX_WEIGHTS:
            source.fail(f"more than {MAX_WEIGHTS:,} bytes")
    _, writer = keras_config(model, source.fail)
    reader = keras_weights.Reader(data, source.fail)
    try:
        places = [(_names(model, layer), group, mapped) for group, layer, mapped in writer.groups]
        values = read_weights(model, reader, places)
    finally:
        reader.close()
    with source.refusing("the weights do not fit the model"):
        _set(model, values)


def _names(model, target):
    """The names leading from ``model`` to ``target`` (a layer maybe inside nested models)."""
    stack = [(model, ())]
    while stack:
        host, names = stack.pop()
        for layer in host.layers:
            if layer is target:
                return names + (layer.name,)
            if is_model_class(type(layer)):
                stack.append((layer, names + (layer.name,)))
    raise XdlError(f"{target.name} is not in {model.name}")
