"""Fuzzing model files: mutate valid files, load each, and sort the outcomes.

The promise (README): a model file either loads into a working model or raises
``ModelFileError``; nothing in it runs, and nothing makes xdl allocate without bound.

    python tests/fuzz_files.py --files 12000 [--seed 0] [--out report.json] [--keras]

Seven valid files (an MLP checkpoint with Adam, a CNN with BatchNorm and SGD, Embedding+LSTM+GRU
with RMSprop, an AdamW checkpoint with a schedule, a functional model using the merge layers,
a functional sequence model (attention, Bidirectional LSTM with states, the cells, 1-D
convolution and pooling, masking) and an image model (transposed, depthwise and separable
convolutions, resizing, the other activations): every registered layer type is in one) are
mutated in turn: byte flips, truncations, splices, structure-aware JSON mutations of the
metadata (types, nesting, huge and non-finite numbers, duplicate and missing keys, subtrees
moved), config mutations (one to three values of layers' configs, or sizes of input shapes,
replaced by values of another JSON type: null, bools, numbers, strings, lists, dicts; the
mutation that found issue 35, item 6) and rewrites of the tensor entries (dtype, shape,
offsets, names). Each file is loaded, and a file that loads must predict. Reported: files
that passed (a ``ModelFileError``, or a load and a predict), files that raised anything else
(with the first examples), the exceptions by type ("ModelFileError(TypeError)": refused, but
from an error no check named: a check is missing), and the largest memory (tracemalloc peak)
a file cost. A model whose tensors are too large for the fuzzer's own inputs (RUN_LIMIT)
loads but is not run ("large"). Not collected by pytest; tests/io/test_hostile_files.py runs
the same mutations on a few hundred files in CI.

``--keras`` does the same to the models saved as Keras 3 files (``.keras``; needs h5py): byte
flips, truncations and splices of the zip, and structure-aware mutations of its members:
config.json and metadata.json as JSON ("kjson"), values of the layers' and other objects'
configs, input shapes and tensor references ("kconfig"), datasets of model.weights.h5 ("kweights":
shapes, dtypes, links, huge or external or virtual storage) and the zip's entries ("kmember":
missing, cut, twice, sizes that lie, a bomb, a thousand more); tests/io/test_keras_files.py
runs a few hundred in CI.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import math
import os
import pathlib
import random
import re
import struct
import sys
import tempfile
import time
import tracemalloc
import traceback
import warnings
import zipfile

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import xdl  # noqa: E402
from xdl.layers.base import LAYERS  # noqa: E402

KINDS = ("flip", "truncate", "splice", "json", "json", "json", "config", "config", "tensor")  # JSON weighs most
#: the elements the fuzzer's predict may make (two rows of every tensor of the model): 128 MB
#: of float64. A file may describe a larger model (up to xdl.io.spec.MAX_ELEMENTS per tensor):
#: it is loaded, and counted "large", not run.
RUN_LIMIT = 2**24


# -- the valid files ------------------------------------------------------------------------------

def _mlp():
    model = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=4, name="dense_in"), xdl.BatchNorm(name="norm"),
                               xdl.LeakyReLU(0.1), xdl.Dropout(0.2), xdl.Dense(output_size=2, name="dense_out")])
    model.compile(loss="cross_entropy", optimizer=xdl.Adam(), metrics=["accuracy"])
    return model, np.ones((8, 3)), np.array([0, 1] * 4)


def _cnn():
    model = xdl.NeuralNetwork([xdl.Conv2D(3, 3, input_channels=1), xdl.BatchNorm(), xdl.ReLU(), xdl.MaxPool2D(2),
                               xdl.Conv2D(2, 2, input_channels=3, padding="same", dilation=2), xdl.AvgPool2D(1),
                               xdl.Flatten(), xdl.Dense(output_size=2)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.SGD(0.1, momentum=0.9), metrics=["acc"])
    return model, np.random.default_rng(0).standard_normal((4, 8, 8, 1)), np.array([0, 1, 1, 0])


def _rnn():
    model = xdl.NeuralNetwork([xdl.Embedding(20, 4), xdl.LSTM(5, return_sequences=True), xdl.GRU(3),
                               xdl.Dense(output_size=2)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.RMSprop(0.01))
    return model, np.random.default_rng(0).integers(0, 20, (4, 6)), np.array([0, 1, 1, 0])


def _adamw():
    model = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=5), xdl.Tanh(), xdl.Dense(output_size=1)])
    model.compile(loss="mse", optimizer=xdl.AdamW(xdl.CosineDecay(0.01, 10), weight_decay=0.01), metrics=["mae"])
    return model, np.ones((8, 3)), np.ones((8, 1))


def _graph():
    a, b = xdl.Input((4,), name="a"), xdl.Input((3, 2), name="b")
    h = xdl.Dense(output_size=4)(a)
    branches = [xdl.Sigmoid()(h), xdl.Tanh()(h), xdl.Softmax()(h), xdl.Activation("relu")(h), xdl.LayerNorm()(h)]
    merged = [xdl.Add()(branches[:2]), xdl.Subtract()(branches[1:3]), xdl.Multiply()(branches[2:4]),
              xdl.Average()(branches[3:5]), xdl.Maximum()(branches[:2]), xdl.Minimum()(branches[2:4])]
    r = xdl.SimpleRNN(4)(b)
    inner = xdl.NeuralNetwork([xdl.Dense(input_size=4, output_size=4), xdl.ReLU()], name="inner")
    c = xdl.Concatenate()(merged + [inner(r)])
    img = xdl.Reshape((7, 4, 1))(c)
    out = xdl.Dense(output_size=2)(xdl.GlobalAveragePooling2D()(img))
    model = xdl.Model([a, b], xdl.Flatten()(out))
    model.compile(loss="mse", optimizer=xdl.Adam(0.01))
    rng = np.random.default_rng(0)
    return model, [rng.standard_normal((4, 4)), rng.standard_normal((4, 3, 2))], np.ones((4, 2))


def _seq():
    tokens, feats = xdl.Input((6,), name="tokens", dtype="int64"), xdl.Input((6, 3), name="feats")
    e = xdl.PositionEmbedding(6, 4)(xdl.Embedding(20, 4)(tokens))
    t = xdl.TransformerBlock(4, 2, 8)(e)
    a = xdl.MultiHeadAttention(2, 2)(t, t, use_causal_mask=True)
    out, h_f, _, _, c_b = xdl.Bidirectional(xdl.LSTM(3, return_sequences=True, return_state=True),
                                            merge_mode="sum")(xdl.Embedding(20, 4, mask_zero=True)(tokens))
    m = xdl.LSTM(3, return_sequences=True)(xdl.Masking(0.0)(feats))  # an LSTM on an input: item 6's place
    c = xdl.Conv1D(4, 3, padding="same")(t)
    q = xdl.AvgPool1D(1)(xdl.MaxPool1D(2)(c))
    h, cs = xdl.LSTMCell(4)(xdl.GlobalMaxPooling1D()(q))
    r = xdl.GRUCell(3)(xdl.GlobalAveragePooling1D()(out))
    s = xdl.SimpleRNNCell(3, activation="relu")(h_f)
    merged = xdl.Concatenate()([h, cs, r, s, c_b, xdl.GlobalAveragePooling1D()(a), xdl.GRU(2)(m)])
    model = xdl.Model([tokens, feats], xdl.Dense(output_size=2)(merged))
    model.compile(loss="mse", optimizer=xdl.SGD(0.01, momentum=0.5), metrics=["mae"])
    rng = np.random.default_rng(0)
    return model, [rng.integers(0, 20, (4, 6)), rng.standard_normal((4, 6, 3))], np.ones((4, 2))


def _img():
    model = xdl.NeuralNetwork([
        xdl.ZeroPadding2D((1, 1)), xdl.Conv2DTranspose(2, 3, stride=2, padding="same"), xdl.ELU(),
        xdl.DepthwiseConv2D(3, depth_multiplier=2), xdl.GELU(approximate="tanh"),
        xdl.SeparableConv2D(3, 3, padding="same"), xdl.Mish(), xdl.Cropping2D(((1, 1), (1, 0))),
        xdl.UpSampling2D((2, 1), interpolation="bilinear"), xdl.SiLU(), xdl.Softplus(), xdl.Softsign(),
        xdl.GlobalMaxPooling2D(), xdl.Dropout(0.1, seed=3),
        xdl.Dense(output_size=2, activation="relu", kernel_regularizer="l2")])
    model.compile(loss="mse", optimizer=xdl.Adam(0.01))
    return model, np.random.default_rng(0).standard_normal((4, 6, 5, 1)), np.ones((4, 2))


MODELS = {"mlp": _mlp, "cnn": _cnn, "rnn": _rnn, "adamw": _adamw, "graph": _graph, "seq": _seq, "img": _img}


def trained_models():
    """``(name, model)`` for each of ``MODELS``, built from seed 0 and trained one epoch."""
    for name, make in MODELS.items():
        xdl.seed(0)
        model, X, y = make()
        model.fit(X, y, epochs=1, batch_size=4, verbose=0)
        yield name, model


def valid_files(folder) -> dict:
    """``{name: bytes}``: each model trained one epoch and saved with its optimizer state."""
    files = {}
    for name, model in trained_models():
        path = pathlib.Path(folder) / f"{name}.xdl"
        model.save(path, include_optimizer=True)
        files[name] = path.read_bytes()
    return files


# -- mutations --------------------------------------------------------------------------------------

def split(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(header, body, raw=None):
    text = raw if raw is not None else json.dumps(header)
    encoded = text.encode("utf-8", "surrogatepass")
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + body


def _paths(value, path=()):
    """Every position in a JSON value, as a path of keys and indices."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


def _get(value, path):
    for k in path:
        value = value[k]
    return value


RAW = "\x00RAW{}\x00"  # placeholders for text json.dumps cannot write (NaN, 1e999, deep nests)
_RAW_TEXT = re.compile(r'"\\u0000RAW([^"\\]*)\\u0000"')


def _junk(rng, here, root):
    """A value to put at a position: another type, an extreme number, a deep nest, a copy of
    some other subtree."""
    choice = rng.randrange(16)
    if choice == 0:
        return rng.choice([-1, 0, 1, 2, 2**31, 2**31 + 1, 2**53 + 1, 2**63, 2**64, -2**63, 10**30, 10**400])
    if choice == 1:
        return rng.choice([0.5, -0.0, 1e-320, 1e308, -1e308, 3.5])
    if choice == 2:
        return RAW.format(rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * rng.choice([30, 5000])]))
    if choice == 3:
        return rng.choice([None, True, False, "", "x", "Dense", "NeuralNetwork", "a/b", "\u0663", "\udcff"])
    if choice == 4:
        depth = rng.choice([10, 100, 500, 990, 5000])
        return RAW.format("[" * depth + "]" * depth)
    if choice == 5:
        return [here] * rng.choice([2, 100, 10_000])
    if choice == 6:
        return {"class": here, "config": {}} if rng.random() < 0.5 else [here]
    if choice == 7:
        return rng.choice([[], {}, [None], [1e308], [[1, 2]], {"a": 1}])
    if choice == 8 and isinstance(here, (int, float)) and not isinstance(here, bool):
        return here * rng.choice([-1, 2, 10, 1000, 10**6, 10**12])
    if choice == 9 and isinstance(here, list):
        return here[::-1] if rng.random() < 0.5 else here + here
    if choice == 10 and isinstance(here, list) and here:
        return here[:rng.randrange(len(here))]
    if choice == 11:
        return "x" * rng.choice([1000, 300_000])
    paths = list(_paths(root))
    return copy.deepcopy(_get(root, rng.choice(paths)))  # a subtree from elsewhere (maybe an ancestor)


def _document(rng, header, choices):
    """``(metadata, key, parsed JSON)`` of one metadata entry drawn from ``choices`` (weights by
    repetition); the JSON is None when there is none to mutate."""
    meta = header.setdefault("__metadata__", {})
    keys = [k for k in choices if k in meta]
    if not keys:
        return meta, None, None
    key = rng.choice(keys)
    try:
        return meta, key, json.loads(meta[key])
    except ValueError:
        return meta, key, None


def mutate_json(rng, header, body):
    """One structure-aware mutation of the "model" or "training" metadata."""
    meta, key, root = _document(rng, header, ("model", "training"))
    if root is None:
        return join(header, body)
    meta[key] = _mutate_tree(rng, root)
    return join(header, body)


def _mutate_tree(rng, root) -> str:
    """The JSON text of ``root`` after one structure-aware mutation (a value of another type,
    an extreme or non-finite number, a deep nest; a key removed, added or written twice)."""
    paths = list(_paths(root))
    action = rng.randrange(10)
    path = rng.choice(paths)
    text = None
    if action == 0 and path and isinstance(_get(root, path[:-1]), dict):  # a key removed
        del _get(root, path[:-1])[path[-1]]
    elif action == 1:  # a key written twice (the JSON text, not the dict)
        text = json.dumps(root)
        dicts = [p for p in paths if isinstance(_get(root, p), dict) and _get(root, p)]
        if dicts:
            target = _get(root, rng.choice(dicts))
            k = rng.choice(list(target))
            needle = json.dumps(k) + ": "
            at = text.find(needle)
            if at >= 0:
                text = text[:at] + needle + json.dumps(_junk(rng, target[k], root)) + ", " + text[at:]
    elif action == 2 and path and isinstance(_get(root, path[:-1]), dict):  # a key added
        _get(root, path[:-1])[rng.choice(["__init__", "name", "input_shape", "units", "axis", "dilation",
                                          "return_state", "layers", "class"])] = _junk(rng, None, root)
    elif not path:
        root = _junk(rng, root, root)
    else:
        parent = _get(root, path[:-1])
        parent[path[-1]] = _junk(rng, parent[path[-1]], root)
    if text is None:
        text = json.dumps(root)
    return _RAW_TEXT.sub(lambda m: m[1], text)


def mutate_tensors(rng, header, body):
    """One rewrite of a tensor entry in the safetensors header."""
    names = [k for k in header if k != "__metadata__"]
    name = rng.choice(names)
    entry = header[name]
    action = rng.randrange(7)
    if action == 0:
        entry["dtype"] = rng.choice(["F16", "F32", "F64", "I64", "I32", "BOOL", "U8", "BF16", "F8_E4M3", "XX"])
    elif action == 1 and entry["shape"]:
        i = rng.randrange(len(entry["shape"]))
        entry["shape"][i] = rng.choice([0, 1, entry["shape"][i] + 1, entry["shape"][i] * 2, 2**31, 2**40])
    elif action == 2:
        entry["shape"] = rng.choice([[], [1] * 60, entry["shape"] + [1], entry["shape"][::-1]])
    elif action == 3:
        a, b = entry["data_offsets"]
        entry["data_offsets"] = rng.choice([[b, a], [a, b + 4], [a, 2**62], [0, b - a], [a + 4, b + 4]])
    elif action == 4:
        header[rng.choice([name + "x", name.replace("/", "."), "optimizer/" + name + "/m", "layers.0.weights",
                           "optimizer.0.m", "optimizer." + "9" * 30 + ".m", "optimizer.\u0663.m"])] = header.pop(name)
    elif action == 5:
        del header[name]
    else:
        other = header[rng.choice(names)]
        header[name] = dict(other)
    return join(header, body)


#: what config mutations put in a value's place: every JSON type, with the sizes and edge values
#: constructors must check
CONFIG_VALUES = (None, True, False, 0, 1, -1, 2, 3, 2**31, 2**63, 10**30, 0.5, -1.5, 1e308, "", "x", "same",
                 "relu", "float64", [], [0], [1], [2, 2], [None, 3], [[1, 1], [1, 1]], {}, {"a": 1},
                 {"class": "L2", "config": {}}, {"class": "LSTM", "config": {}})


def _json_type(value):
    for name, types in (("null", type(None)), ("bool", bool), ("number", (int, float)), ("string", str),
                        ("array", list)):
        if isinstance(value, types):
            return name
    return "object"


def _config_targets(root):
    """(container, key) of every value a config mutation may replace: each key of each
    {"class", "config"} spec's config (layers, nested ones, losses, optimizers, metrics,
    schedules), each argument a layer's constructor takes that its config leaves out, and each
    size of an input shape."""
    targets = []
    for path in _paths(root):
        node = _get(root, path)
        if isinstance(node, dict) and isinstance(node.get("config"), dict) and isinstance(node.get("class"), str):
            config = node["config"]
            targets += [(config, key) for key in config if key != "layers"]
            keys = getattr(LAYERS.get(node["class"]), "config_keys", lambda: None)()
            targets += [(config, key) for key in sorted(keys or ()) if key not in config]
        if path and path[-1] in ("shape", "input_shape") and isinstance(node, list):
            targets += [(node, i) for i in range(len(node))]
    return targets


def mutate_config(rng, header, body):
    """One to three config values (or input sizes) replaced by values of another JSON type
    (sometimes of the same type: an extreme number, another string), null most often (what a
    missing value becomes); or, as in issue 35, item 6 (an LSTM whose input_size and features
    were both null), one input size made free and every layer's input_size and input_channels
    cleared."""
    meta, key, root = _document(rng, header, ("model", "model", "model", "training"))
    if root is None:
        return join(header, body)
    targets = _config_targets(root)
    if key == "model" and rng.random() < 0.15:  # item 6's kind: a size left free, and no layer saying it
        sizes = [(container, at) for container, at in targets if isinstance(container, list)]
        if sizes:
            container, at = rng.choice(sizes)
            container[at] = None
        for container, at in targets:
            if isinstance(container, dict) and at in ("input_size", "input_channels"):
                container[at] = None
        meta[key] = json.dumps(root)
        return join(header, body)
    for _ in range(min(len(targets), rng.choice([1, 1, 1, 2, 2, 3]))):
        container, at = targets.pop(rng.randrange(len(targets)))
        here = container[at] if isinstance(container, list) or at in container else None
        if rng.random() < 0.3:
            value = None
        else:
            others = [v for v in CONFIG_VALUES if _json_type(v) != _json_type(here)]
            value = copy.deepcopy(rng.choice(others if rng.random() < 0.75 else CONFIG_VALUES))
        container[at] = value
    meta[key] = json.dumps(root)
    return join(header, body)


def mutate(rng, data, kind=None):
    """``data`` (a valid file's bytes) after one mutation of ``kind`` (default: drawn)."""
    kind = kind or rng.choice(KINDS)
    blob = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        return bytes(blob)
    if kind == "truncate":
        return bytes(blob[:rng.randrange(len(blob))])
    if kind == "splice":
        at = rng.randrange(len(blob) + 1)
        blob[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        return bytes(blob)
    header, body = split(data)
    mutation = {"json": mutate_json, "config": mutate_config, "tensor": mutate_tensors}[kind]
    return mutation(rng, header, body)


# -- Keras files ------------------------------------------------------------------------------------

#: mutations of ``.keras`` files (a zip of config.json, metadata.json and model.weights.h5): the
#: byte-level ones above, and structure-aware ones of each member
KERAS_KINDS = ("flip", "truncate", "splice", "kjson", "kjson", "kconfig", "kconfig", "kweights", "kweights",
               "kmember")
CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"


def unzip(data) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezip(members, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a name written twice, on purpose
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in (members.items() if isinstance(members, dict) else members):
                archive.writestr(name, data)
    return buffer.getvalue()


def keras_valid_files(folder) -> dict:
    """``{name: bytes}``: the seven models as ``.keras`` files (Keras's form where Keras has the
    layer, xdl's classes as custom objects elsewhere; compile settings, xdl's training metadata
    and the optimizer's variables), and each again without xdl's metadata ("{name}+keras"), as
    Keras writes its files, so that its compile_config is what is read."""
    files = {}
    for name, model in trained_models():
        path = pathlib.Path(folder) / f"{name}.keras"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # layers Keras lacks, written as xdl's classes
            model.save(path, include_optimizer=True)
        files[name] = path.read_bytes()
        members = unzip(files[name])
        metadata = json.loads(members[METADATA])
        metadata.pop("xdl_training", None)
        members[METADATA] = json.dumps(metadata).encode()
        files[f"{name}+keras"] = rezip(members)
    return files


def _keras_targets(root):
    """(container, key) of every value a Keras config mutation may replace: each key of each
    serialized object's config (layers, nested models, initializers, the optimizer...), each
    size of an input's batch_shape, each part of a tensor reference."""
    targets = []
    for path in _paths(root):
        node = _get(root, path)
        if isinstance(node, dict) and isinstance(node.get("config"), dict) and "class_name" in node:
            targets += [(node["config"], key) for key in node["config"] if key != "layers"]
            targets += [(node, key) for key in ("class_name", "module", "registered_name")]
        if path and path[-1] in ("batch_shape", "keras_history", "input_layers", "output_layers") \
                and isinstance(node, list):
            targets += [(node, i) for i in range(len(node))]
    return targets


def _mutate_keras_config(rng, root) -> str:
    targets = _keras_targets(root)
    for _ in range(min(len(targets), rng.choice([1, 1, 1, 2, 3]))):
        container, at = targets.pop(rng.randrange(len(targets)))
        here = container[at] if isinstance(container, list) or at in container else None
        values = CONFIG_VALUES + ("Lambda", "InputLayer", "Functional", "keras.src.ops.numpy", "xdl>Dense",
                                  "leaky_relu", "channels_first", "__keras_tensor__")
        others = [v for v in values if _json_type(v) != _json_type(here)]
        container[at] = None if rng.random() < 0.3 else copy.deepcopy(rng.choice(others or values))
    return json.dumps(root)


def _mutate_h5(rng, data) -> bytes:
    """model.weights.h5 with one dataset rewritten: another shape or dtype, gone, made a soft or
    external link, a huge chunked dataset storing nothing, external or virtual storage, non-finite
    values; or a group moved, or a variable added."""
    import h5py

    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as f:
        datasets = []
        f.visititems(lambda n, o: datasets.append(n) if isinstance(o, h5py.Dataset) else None)
        if not datasets:
            return data
        name = rng.choice(datasets)
        value = f[name][()]
        action = rng.randrange(11)
        if action != 9:
            del f[name]
        if action == 0:
            f[name] = rng.choice([value.reshape(-1), value[..., :-1] if value.ndim else value[None],
                                  np.concatenate([value[None]] * 2), value.T[None]])
        elif action == 1:
            f[name] = value.astype(rng.choice([np.int64, np.bool_, np.complex64, np.float16, "S3"]))
        elif action == 3:
            f[name] = h5py.SoftLink("/" + rng.choice(datasets + ["vars", "layers", name]))
        elif action == 4:
            f[name] = h5py.ExternalLink(rng.choice(["/etc/passwd", "other.h5"]), "/x")
        elif action == 5:
            f.create_dataset(name, shape=rng.choice([(2**30,), (2**16, 2**16), value.shape + (2**20,)]), dtype="f4",
                             chunks=True, compression="gzip")
        elif action == 6:
            f.create_dataset(name, shape=value.shape, dtype=value.dtype,
                             external=[("/etc/hostname" if rng.random() < 0.5 else "missing.bin", 0, 2**20)])
        elif action == 7:
            layout = h5py.VirtualLayout(shape=value.shape, dtype=value.dtype)
            layout[...] = h5py.VirtualSource("other.h5", "data", shape=value.shape)
            f.create_virtual_dataset(name, layout)
        elif action == 8:
            f[name] = np.full(value.shape, rng.choice([np.nan, np.inf, 1e38]), np.float32)
        elif action == 9:
            group = name.rpartition("/")[0].rpartition("/")[0] or name
            f.move(group, group + rng.choice(["_x", "/../zz"]).replace("/../", "_"))
        elif action == 10:
            f[name] = value
            group = f[name.rpartition("/")[0]]
            f[f"{group.name}/{len(group) + rng.choice([0, 0, 5])}"] = value
    return buffer.getvalue()


def _mutate_members(rng, members) -> bytes:
    """The zip itself: a member gone, emptied or cut, written twice, compressed with sizes that lie,
    a member that expands a thousandfold, or more entries than a .keras file has."""
    action = rng.randrange(7)
    names = list(members)
    name = rng.choice(names)
    if action == 0:
        del members[name]
    elif action == 1:
        members[name] = members[name][:rng.randrange(len(members[name]) + 1)]
    elif action == 2:
        return rezip(list(members.items()) + [(name, members[rng.choice(names)])])
    elif action == 3:
        data = bytearray(rezip(members, zipfile.ZIP_DEFLATED))
        at = data.find(b"PK\x01\x02")  # the first central directory entry: its uncompressed size
        if at >= 0:
            data[at + 24:at + 28] = struct.pack("<I", rng.choice([0, 1, 2**31, 2**32 - 1]))
        return bytes(data)
    elif action == 4:
        members[name] = bytes(65 * 2**20)  # 65 MB of zeros: a few dozen KB compressed
        return rezip(members, zipfile.ZIP_DEFLATED)
    elif action == 5:
        return rezip(list(members.items()) + [(f"assets/{i}", b"") for i in range(1001)])
    else:
        members[name] = json.dumps([members[name][:100].decode("latin-1")]).encode()
    return rezip(members)


def mutate_keras(rng, data, kind=None):
    """``data`` (a valid .keras file's bytes) after one mutation of ``kind`` (default: drawn)."""
    kind = kind or rng.choice(KERAS_KINDS)
    if kind in ("flip", "truncate", "splice"):
        return mutate(rng, data, kind)
    members = unzip(data)
    if kind == "kjson":
        member = rng.choice([CONFIG, CONFIG, METADATA])
        members[member] = _mutate_tree(rng, json.loads(members[member])).encode("utf-8", "surrogatepass")
    elif kind == "kconfig":
        members[CONFIG] = _mutate_keras_config(rng, json.loads(members[CONFIG])).encode()
    elif kind == "kweights":
        members[WEIGHTS] = _mutate_h5(rng, members[WEIGHTS])
    else:
        return _mutate_members(rng, members)
    return rezip(members)


# -- one file -----------------------------------------------------------------------------------------

def sample_inputs(model):
    """Two rows for every input of ``model``: zeros of the dtype it takes."""
    shapes = [t.sample_shape for t in model.graph.inputs]  # per sample (``shape`` has the batch axis first)
    be = model.backend
    xs = []
    for k, shape in enumerate(shapes):
        dtype = model.input_dtype(be, k)
        integral = dtype is None or be.xp.isdtype(dtype, "integral")
        xs.append(np.zeros((2, *(1 if d is None else d for d in shape)), dtype=np.int64 if integral else np.float64))
    return xs[0] if len(xs) == 1 else xs


def run_size(model) -> int:
    """The elements of two rows of every tensor the model makes (nested models' too): what
    predicting on ``sample_inputs`` costs, roughly."""
    total, graphs = 0, [model.graph]
    while graphs:
        graph = graphs.pop()
        for t in list(graph.inputs) + [t for node in graph.nodes for t in node.outputs]:
            total += 2 * math.prod(1 if d is None else d for d in t.shape)
        graphs += [node.layer.graph for node in graph.nodes if isinstance(node.layer, xdl.Model)]
    return total


def classify(path):
    """``(outcome, exception, details)`` for the file at ``path``. Outcomes: "refused" (a
    ModelFileError), "loaded" (it loads, and predicts or raises a named XdlError), "large"
    (it loads, but its tensors exceed RUN_LIMIT: not run), "escaped" (anything else).
    ``exception`` names what was raised ("ModelFileError(TypeError)": a refusal made from an
    error no check raised on purpose, so a check is missing), None when nothing was."""
    try:
        model = xdl.Model.load(path)
    except xdl.ModelFileError as e:
        cause = e.__cause__
        if cause is None or isinstance(cause, xdl.XdlError):
            return "refused", "ModelFileError", None
        return "refused", f"ModelFileError({type(cause).__name__})", f"{str(e)[:300]}"
    except Exception as e:  # noqa: BLE001 (what the fuzzer is looking for)
        details = f"load: {type(e).__name__}: {str(e)[:300]}\n{traceback.format_exc(limit=-4)}"
        return "escaped", type(e).__name__, details
    if run_size(model) > RUN_LIMIT:
        return "large", None, None
    try:
        model.predict(sample_inputs(model))
    except xdl.XdlError as e:
        return "loaded", f"{type(e).__name__} (predict)", None  # e.g. an input size zeros cannot fill
    except Exception as e:  # noqa: BLE001
        details = f"predict: {type(e).__name__}: {str(e)[:300]}\n{traceback.format_exc(limit=-4)}"
        return "escaped", f"{type(e).__name__} (predict)", details
    return "loaded", None, None


def outcome(path):
    """"refused", "loaded" (or "large") or ("escaped", description) for the file at ``path``."""
    result, _, details = classify(path)
    return ("escaped", details) if result == "escaped" else result


def run(files, seed, folder, report_every=1000, measure=True, kinds=KINDS, keras=False):
    """``keras``: mutate the models' ``.keras`` files (``KERAS_KINDS``) instead of xdl's."""
    rng = random.Random(seed)
    originals = keras_valid_files(folder) if keras else valid_files(folder)
    names = list(originals)
    counts = {"refused": 0, "loaded": 0, "large": 0, "escaped": 0}
    by_type, unchecked = {}, []
    escapes, peak, peak_case, start = [], 0, None, time.monotonic()
    suffix = ".keras" if keras else ".xdl"
    path = pathlib.Path(folder) / f"fuzzed{suffix}"
    for i in range(files):
        name = names[i % len(names)]
        kind = rng.choice(kinds)
        path.write_bytes((mutate_keras if keras else mutate)(rng, originals[name], kind))
        if measure:
            tracemalloc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result, exception, details = classify(path)
        if measure:
            file_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            if file_peak > peak:
                peak, peak_case = file_peak, f"file {i} ({name}, {kind})"
        counts[result] += 1
        if exception is not None:
            by_type[exception] = by_type.get(exception, 0) + 1
        if result == "escaped" and len(escapes) < 20:
            escapes.append({"file": i, "model": name, "kind": kind, "error": details})
            (pathlib.Path(folder) / f"escape_{i}{suffix}").write_bytes(path.read_bytes())
        elif details is not None and len(unchecked) < 20:
            unchecked.append({"file": i, "model": name, "kind": kind, "error": details})
        if report_every and (i + 1) % report_every == 0:
            print(f"{i + 1} files, {counts}, {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    non_xdl = sum(n for k, n in by_type.items() if re.split(r"[ (]", k)[0] not in XDL_ERRORS)
    return {"files": files, "seed": seed, "passed": files - counts["escaped"], **counts,
            "non_xdl_exceptions": non_xdl, "unchecked_refusals": sum(n for k, n in by_type.items() if "(" in k
                                                                    and "(predict)" not in k),
            "exceptions": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
            "largest_memory_mb": round(peak / 2**20, 1), "largest_memory_file": peak_case,
            "seconds": round(time.monotonic() - start, 1), "escapes": escapes, "unchecked": unchecked}


XDL_ERRORS = {name for name in dir(xdl.errors) if isinstance(getattr(xdl.errors, name), type)
              and issubclass(getattr(xdl.errors, name), xdl.XdlError)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the report as JSON here")
    parser.add_argument("--keep", default=None, help="folder to keep the files that escaped in")
    parser.add_argument("--kinds", default=None,
                        help=f"comma-separated mutation kinds, repeats weigh more (default: {','.join(KINDS)}; "
                             f"with --keras: {','.join(KERAS_KINDS)})")
    parser.add_argument("--keras", action="store_true", help="mutate Keras 3 files (.keras) the models are saved as")
    args = parser.parse_args(argv)
    allowed = KERAS_KINDS if args.keras else KINDS
    kinds = tuple(k for k in (args.kinds or ",".join(allowed)).split(",") if k)
    if not kinds or set(kinds) - set(allowed):
        parser.error(f"--kinds: choose from {sorted(set(allowed))}")
    xdl.set_backend("numpy")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or tmp
        os.makedirs(folder, exist_ok=True)
        report = run(args.files, args.seed, folder, kinds=kinds, keras=args.keras)
    summary = {k: v for k, v in report.items() if k not in ("escapes", "unchecked")}
    print(json.dumps(summary, indent=1))
    for case in report["unchecked"]:
        print(f"\nunchecked: file {case['file']} ({case['model']}, {case['kind']}): {case['error']}")
    for escape in report["escapes"]:
        print(f"\nfile {escape['file']} ({escape['model']}, {escape['kind']}):\n{escape['error']}")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(report, indent=1))
    return 1 if report["escaped"] else 0


if __name__ == "__main__":
    sys.exit(main())
