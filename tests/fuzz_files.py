"""Fuzzing model files: mutate valid files, load each, and sort the outcomes.

The promise (README): a model file either loads into a working model or raises
``ModelFileError``; nothing in it runs, and nothing makes xdl allocate without bound.

    python tests/fuzz_files.py --files 12000 [--seed 0] [--out report.json]

Five valid files (an MLP checkpoint with Adam, a CNN with BatchNorm and SGD, Embedding+LSTM+GRU
with RMSprop, an AdamW checkpoint with a schedule, and a functional model using the other
layer types) are mutated in turn: byte flips, truncations, splices, structure-aware JSON
mutations of the metadata (types, nesting, huge and non-finite numbers, duplicate and missing
keys, subtrees moved) and rewrites of the tensor entries (dtype, shape, offsets, names).
Each file is loaded, and a file that loads must predict. Reported: files that passed (a
``ModelFileError``, or a load and a predict), files that raised anything else (with the
first examples), and the largest memory (tracemalloc peak) a file cost. Not collected by
pytest; tests/io/test_hostile_files.py runs the same mutations on a few hundred files in CI.
"""

from __future__ import annotations

import argparse
import copy
import json
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

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import xdl  # noqa: E402

KINDS = ("flip", "truncate", "splice", "json", "json", "json", "tensor")  # JSON mutations weigh most


# -- the valid files ------------------------------------------------------------------------------

def _mlp():
    model = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=4, name="dense_in"), xdl.BatchNorm(name="norm"),
                               xdl.LeakyReLU(0.1), xdl.Dropout(0.2), xdl.Dense(output_size=2, name="dense_out")])
    model.compile(loss="cross_entropy", optimizer=xdl.Adam(), metrics=["accuracy"])
    return model, np.ones((8, 3)), np.array([0, 1] * 4)


def _cnn():
    model = xdl.NeuralNetwork([xdl.Conv2D(1, 3, 3), xdl.BatchNorm(), xdl.ReLU(), xdl.MaxPool2D(2),
                               xdl.Conv2D(3, 2, 2, padding="same", dilation=2), xdl.AvgPool2D(1),
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


MODELS = {"mlp": _mlp, "cnn": _cnn, "rnn": _rnn, "adamw": _adamw, "graph": _graph}


def valid_files(folder) -> dict:
    """``{name: bytes}``: each model trained one epoch and saved with its optimizer state."""
    files = {}
    for name, make in MODELS.items():
        xdl.seed(0)
        model, X, y = make()
        model.fit(X, y, epochs=1, batch_size=4, verbose=0)
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


def mutate_json(rng, header, body):
    """One structure-aware mutation of the "model" or "training" metadata."""
    meta = header.setdefault("__metadata__", {})
    keys = [k for k in ("model", "training") if k in meta]
    if not keys:
        return join(header, body)
    key = rng.choice(keys)
    try:
        root = json.loads(meta[key])
    except ValueError:
        return join(header, body)
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
    meta[key] = _RAW_TEXT.sub(lambda m: m[1], text)
    return join(header, body)


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
    return mutate_json(rng, header, body) if kind == "json" else mutate_tensors(rng, header, body)


# -- one file -----------------------------------------------------------------------------------------

def sample_inputs(model):
    """Two rows for every input of ``model``: zeros of the dtype it takes."""
    shapes = [t.shape for t in model.graph.inputs]
    be = model.backend
    xs = []
    for k, shape in enumerate(shapes):
        dtype = model.input_dtype(be, k)
        integral = dtype is None or be.xp.isdtype(dtype, "integral")
        xs.append(np.zeros((2, *(1 if d is None else d for d in shape)), dtype=np.int64 if integral else np.float64))
    return xs[0] if len(xs) == 1 else xs


def outcome(path):
    """"refused", "loaded" or ("escaped", description) for the file at ``path``."""
    try:
        model = xdl.Model.load(path)
    except xdl.ModelFileError:
        return "refused"
    except Exception as e:  # noqa: BLE001 (what the fuzzer is looking for)
        return "escaped", f"load: {type(e).__name__}: {str(e)[:300]}\n{traceback.format_exc(limit=-4)}"
    try:
        model.predict(sample_inputs(model))
    except xdl.XdlError:
        return "loaded"  # a named error (e.g. an input size the file allows but zeros cannot fill)
    except Exception as e:  # noqa: BLE001
        return "escaped", f"predict: {type(e).__name__}: {str(e)[:300]}\n{traceback.format_exc(limit=-4)}"
    return "loaded"


def run(files, seed, folder, report_every=1000, measure=True):
    rng = random.Random(seed)
    originals = valid_files(folder)
    names = list(originals)
    counts = {"refused": 0, "loaded": 0, "escaped": 0}
    escapes, peak, peak_case, start = [], 0, None, time.monotonic()
    path = pathlib.Path(folder) / "fuzzed.xdl"
    for i in range(files):
        name = names[i % len(names)]
        kind = rng.choice(KINDS)
        path.write_bytes(mutate(rng, originals[name], kind))
        if measure:
            tracemalloc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = outcome(path)
        if measure:
            file_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            if file_peak > peak:
                peak, peak_case = file_peak, f"file {i} ({name}, {kind})"
        if isinstance(result, tuple):
            counts["escaped"] += 1
            if len(escapes) < 20:
                escapes.append({"file": i, "model": name, "kind": kind, "error": result[1]})
                (pathlib.Path(folder) / f"escape_{i}.xdl").write_bytes(path.read_bytes())
        else:
            counts[result] += 1
        if report_every and (i + 1) % report_every == 0:
            print(f"{i + 1} files, {counts}, {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    return {"files": files, "seed": seed, "passed": counts["refused"] + counts["loaded"], **counts,
            "largest_memory_mb": round(peak / 2**20, 1), "largest_memory_file": peak_case,
            "seconds": round(time.monotonic() - start, 1), "escapes": escapes}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the report as JSON here")
    parser.add_argument("--keep", default=None, help="folder to keep the files that escaped in")
    args = parser.parse_args(argv)
    xdl.set_backend("numpy")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or tmp
        os.makedirs(folder, exist_ok=True)
        report = run(args.files, args.seed, folder)
    summary = {k: v for k, v in report.items() if k != "escapes"}
    print(json.dumps(summary, indent=1))
    for escape in report["escapes"]:
        print(f"\nfile {escape['file']} ({escape['model']}, {escape['kind']}):\n{escape['error']}")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(report, indent=1))
    return 1 if report["escaped"] else 0


if __name__ == "__main__":
    sys.exit(main())
