"""Hostile and damaged model files: one clear ``ModelFileError``, nothing executed, nothing
huge allocated; a fuzzer mutating valid files finds no other outcome."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xdl

pytestmark = pytest.mark.filterwarnings("ignore")
FUZZ_EXAMPLES = int(os.environ.get("XDL_FUZZ_EXAMPLES", "150"))  # 3,000 pass too; CI keeps it short


def valid_file(path):
    xdl.seed(0)
    model = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=4), xdl.BatchNorm(), xdl.LeakyReLU(0.1),
                               xdl.Dropout(0.2), xdl.Dense(output_size=2)])
    model.compile(loss="cross_entropy", optimizer=xdl.Adam(), metrics=["accuracy"])
    model.fit(np.ones((8, 3)), np.array([0, 1] * 4), epochs=1, verbose=0)
    model.save(path, include_optimizer=True)
    return path.read_bytes()


def split(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(header, body):
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def load_bytes(tmp_path, data):
    path = tmp_path / "hostile.xdl"
    path.write_bytes(data)
    return xdl.NeuralNetwork.load(path)


def with_meta(header, key, mutate):
    value = json.loads(header["__metadata__"][key])
    mutate(value)
    header["__metadata__"][key] = json.dumps(value)
    return header


def _set(d, path, value):
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


HOSTILE = {
    "huge-tensor": (lambda h: h.update({"layers.0.weights": {"dtype": "F32", "shape": [10**6, 10**6],
                                                             "data_offsets": [0, 4 * 10**12]}}),
                    "not a safetensors model file"),
    "overlapping": (lambda h: h["layers.0.bias"].update(data_offsets=h["layers.0.weights"]["data_offsets"]),
                    "not a safetensors model file"),
    "huge-config": (lambda h: with_meta(h, "model", lambda m: _set(m, ["layers", 0, "config", "output_size"],
                                                                   10**9)),
                    "more than the file's"),
    "config-injection": (lambda h: with_meta(h, "model", lambda m: _set(m, ["layers", 0, "config", "__init__"],
                                                                        "os.system")),
                         "config does not fit it"),
    "unknown-optimizer": (lambda h: with_meta(h, "training", lambda t: _set(t, ["optimizer", "class"],
                                                                            "subprocess.Popen")),
                          "unknown optimizer 'subprocess.Popen'"),
    "unknown-schedule": (lambda h: with_meta(h, "training", lambda t: _set(
        t, ["optimizer", "config", "learning_rate"], {"class": "eval", "config": {}})),
                         "unknown learning-rate schedule 'eval'"),
    "stray-state": (lambda h: h.update({"optimizer.99.m": h.pop("optimizer.0.m")}),
                    "optimizer state 'optimizer.99.m' names no parameter"),
    "wrong-dtype": (lambda h: h["layers.0.bias"].update(dtype="I32"), "has dtype I32"),
    "negative-epoch": (lambda h: with_meta(h, "training", lambda t: t.update(epoch=-3)),
                       "malformed checkpoint counters"),
    "metrics-not-a-list": (lambda h: with_meta(h, "training", lambda t: t.update(metrics=5)),
                           "metrics is not a list"),
    "no-layers": (lambda h: with_meta(h, "model", lambda m: m.update(layers=[])), "malformed architecture"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_headers_are_refused(tmp_path, case):
    mutate, match = HOSTILE[case]
    header, body = split(valid_file(tmp_path / "m.xdl"))
    mutate(header)
    with pytest.raises(xdl.ModelFileError, match=match):
        load_bytes(tmp_path, join(header, body))


def test_header_length_beyond_the_file(tmp_path):
    data = valid_file(tmp_path / "m.xdl")
    for n in (2**63, len(data)):
        with pytest.raises(xdl.ModelFileError, match="not a safetensors model file"):
            load_bytes(tmp_path, struct.pack("<Q", n) + data[8:])


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_files_load_cleanly_or_raise_model_file_error(tmp_path, data):
    original = VALID.get("bytes") or VALID.setdefault("bytes", valid_file(tmp_path / "m.xdl"))
    kind = data.draw(st.sampled_from(["flip", "truncate", "splice", "header-value"]))
    blob = bytearray(original)
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    elif kind == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "splice":
        at = data.draw(st.integers(0, len(blob)))
        blob[at:at] = data.draw(st.binary(min_size=1, max_size=64))
    else:  # a JSON value in the metadata replaced by another JSON value
        header, body = split(bytes(blob))
        key = data.draw(st.sampled_from(["model", "training"]))
        text = header["__metadata__"][key]
        numbers = [i for i, c in enumerate(text) if c.isdigit()]
        at = data.draw(st.sampled_from(numbers))
        junk = data.draw(st.sampled_from(["-1", "1e308", "null", "true", '"x"', "[]", "{}", "0", "99999999"]))
        header["__metadata__"][key] = text[:at] + junk + text[at + 1:]
        blob = bytearray(join(header, body))
    try:
        model = load_bytes(tmp_path, bytes(blob))
    except xdl.ModelFileError:
        return
    model.predict(np.ones((2, 3)))  # a clean load gives a working model


VALID = {}
