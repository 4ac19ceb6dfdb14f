"""Model files: safetensors round trips across backends, atomic writes, clear refusals."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import xdl
from tests.helpers import host
from xdl.io import files


def trained_model(seed=0):
    xdl.seed(seed)
    model = xdl.NeuralNetwork([xdl.Dense(input_size=4, output_size=6, name="hidden"), xdl.LeakyReLU(alpha=0.1),
                               xdl.Dense(output_size=3, use_bias=False, name="out"), xdl.Softmax()])
    model.compile(loss="mse", optimizer="sgd")
    X = np.random.default_rng(seed).standard_normal((32, 4))
    model.fit(X, np.random.default_rng(1).random((32, 3)), epochs=2, verbose=0)
    return model, X


def test_round_trip_on_every_backend(be, tmp_path):
    model, X = trained_model()
    path = tmp_path / "my_model.pkl"  # the tutorial's file name; the content is safetensors
    model.save(path)
    loaded = xdl.NeuralNetwork.load(path)
    assert loaded.backend is be
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    assert loaded.layers[1].alpha == 0.1 and loaded.layers[2].use_bias is False
    np.testing.assert_array_equal(host(loaded.predict(X)), host(model.predict(X)))


def test_cross_backend_load(be, tmp_path):
    model, X = trained_model()
    model.save(tmp_path / "m.xdl")
    with xdl.use_backend("numpy"):
        on_numpy = xdl.NeuralNetwork.load(tmp_path / "m.xdl")
        on_numpy.save(tmp_path / "back.xdl")
    assert on_numpy.backend.name == "numpy"
    np.testing.assert_allclose(host(on_numpy.predict(X)), host(model.predict(X)), rtol=1e-5, atol=1e-6)
    again = xdl.NeuralNetwork.load(tmp_path / "back.xdl", backend=be.name)
    assert again.backend is be


def test_file_is_plain_safetensors_with_json_architecture(tmp_path):
    model, _ = trained_model()
    model.save(tmp_path / "m.xdl")
    tensors = load_file(tmp_path / "m.xdl")
    assert set(tensors) == {"hidden/weights", "hidden/bias", "out/weights"}  # paths: "{layer}/{parameter}"
    assert tensors["hidden/weights"].dtype == np.float32
    np.testing.assert_array_equal(tensors["hidden/weights"], host(model.layers[0].weights))
    from safetensors import safe_open

    with safe_open(tmp_path / "m.xdl", framework="numpy") as f:
        meta = f.metadata()
    arch = json.loads(meta["model"])
    assert meta["format"] == "xdl.model" and meta["format_version"] == "2" and meta["backend"] == "numpy"
    assert arch["class"] == "NeuralNetwork" and arch["config"]["input_shape"] == [4]
    assert [layer["class"] for layer in arch["config"]["layers"]] == ["Dense", "LeakyReLU", "Dense", "Softmax"]


def test_failed_save_leaves_previous_file_intact(tmp_path, monkeypatch):
    model, _ = trained_model()
    path = tmp_path / "m.xdl"
    model.save(path)
    before = path.read_bytes()
    real_fsync = os.fsync

    def crash(fd):  # the new bytes are written, then the machine "fails" before the rename
        real_fsync(fd)
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", crash)
    other, _ = trained_model(seed=5)
    with pytest.raises(OSError, match="disk on fire"):
        other.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.xdl"]  # no temporary file left behind


def test_unbuilt_model_cannot_be_saved(tmp_path):
    with pytest.raises(xdl.NotBuiltError, match="nothing to save"):
        xdl.NeuralNetwork([xdl.Dense(output_size=2)]).save(tmp_path / "m.xdl")


def test_pickle_is_refused_and_never_run(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo hacked > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(xdl.ModelFileError, match="not a safetensors model file"):
        xdl.NeuralNetwork.load(path)
    assert not (tmp_path / "pwned").exists()


def _rewrite(path, out, mutate_meta=None, mutate_tensors=None):
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if mutate_meta:
        mutate_meta(meta)
    if mutate_tensors:
        mutate_tensors(tensors)
    save_file(tensors, out, metadata=meta)


def _unknown_layer(meta):
    arch = json.loads(meta["model"])
    arch["config"]["layers"][1]["class"] = "os.system"
    meta["model"] = json.dumps(arch)


@pytest.mark.parametrize("mutate_meta,mutate_tensors,match", [
    (lambda m: m.pop("format"), None, "not an xdl model"),
    (lambda m: m.update(format_version="99"), None, "format version '99'"),
    (_unknown_layer, None, "unknown layer type 'os.system'"),
    (lambda m: m.update(model="{not json"), None, "malformed architecture"),
    (None, lambda t: t.pop("hidden/bias"), "missing tensor 'hidden/bias' for hidden"),
    (None, lambda t: t.update({"hidden/weights": np.zeros((5, 6), np.float32)}),
     r"'hidden/weights' has shape \(5, 6\), hidden expects \(4, 6\)"),
    (None, lambda t: t.update(extra=np.zeros(1, np.float32)), "tensors that no layer uses"),
    (None, lambda t: t.update({"layers.0.bias": t["hidden/bias"]}), r"no layer uses: \['layers.0.bias'\]"),  # v1 name
    (lambda m: m.update(format_version="1"), None, "version 1 file needs input_shape and a list of layers"),
], ids=["no-format", "version", "unknown-layer", "bad-json", "missing", "wrong-shape", "extra", "v1-name",
        "v2-as-v1"])
def test_invalid_files_raise_model_file_error(tmp_path, mutate_meta, mutate_tensors, match):
    model, _ = trained_model()
    model.save(tmp_path / "m.xdl")
    _rewrite(tmp_path / "m.xdl", tmp_path / "bad.xdl", mutate_meta, mutate_tensors)
    with pytest.raises(xdl.ModelFileError, match=match):
        xdl.NeuralNetwork.load(tmp_path / "bad.xdl")


def test_truncated_file(tmp_path):
    model, _ = trained_model()
    model.save(tmp_path / "m.xdl")
    data = (tmp_path / "m.xdl").read_bytes()
    (tmp_path / "cut.xdl").write_bytes(data[: len(data) // 2])
    with pytest.raises(xdl.ModelFileError):
        xdl.NeuralNetwork.load(tmp_path / "cut.xdl")


def test_loading_does_not_advance_the_random_state(tmp_path):
    model, _ = trained_model()
    model.save(tmp_path / "m.xdl")
    xdl.seed(1)
    xdl.NeuralNetwork.load(tmp_path / "m.xdl")
    after_load = host(xdl.Dense(input_size=2, output_size=2).weights)
    xdl.seed(1)
    np.testing.assert_array_equal(after_load, host(xdl.Dense(input_size=2, output_size=2).weights))


def test_custom_layers_need_registration(tmp_path):
    class Double(xdl.Layer):
        def call(self, x, training=False):
            return 2 * x

        def backprop(self, dy):
            return 2 * dy

    model = xdl.NeuralNetwork([xdl.Dense(input_size=2, output_size=2), Double()])
    model.predict(np.ones((1, 2)))
    with pytest.raises(xdl.ModelFileError, match="register_layer"):
        model.save(tmp_path / "m.xdl")
    xdl.register_layer(Double)
    try:
        model.save(tmp_path / "m.xdl")
        assert isinstance(xdl.NeuralNetwork.load(tmp_path / "m.xdl").layers[1], Double)
    finally:
        xdl.layers.LAYERS.pop("Double")


def test_atomic_write_creates_and_replaces(tmp_path):
    files.atomic_write(tmp_path / "f", b"one")
    files.atomic_write(tmp_path / "f", b"two")
    assert (tmp_path / "f").read_bytes() == b"two" and os.listdir(tmp_path) == ["f"]
