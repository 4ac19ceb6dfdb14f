"""Checkpoints: optimizer state and counters saved with the weights; a resumed run equals an
uninterrupted one; compile settings survive; weights open in any safetensors reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open

import xdl
from tests.helpers import assert_close, host

RNG = np.random.default_rng(21)
X = RNG.standard_normal((80, 6)).astype(np.float32)
Y = RNG.integers(0, 4, 80)


def model_with_state():
    xdl.seed(3)
    model = xdl.NeuralNetwork([xdl.Dense(output_size=16, name="hidden"), xdl.BatchNorm(name="norm"), xdl.ReLU(),
                               xdl.Dropout(0.3), xdl.Dense(output_size=4, name="logits")])
    model.compile(loss=xdl.CrossEntropy(), metrics=["accuracy", xdl.TopKAccuracy(2)],
                  optimizer=xdl.Adam(learning_rate=xdl.CosineDecay(0.01, decay_steps=40, warmup_steps=5),
                                     clipnorm=1.0))
    return model


@pytest.mark.parametrize("optimizer", ["adam", "sgd-momentum"])
def test_two_plus_two_epochs_equal_four(be, tmp_path, optimizer):
    def make():
        model = model_with_state()
        if optimizer == "sgd-momentum":
            model.compile(loss="cross_entropy", optimizer=xdl.SGD(0.05, momentum=0.9, nesterov=True))
        return model

    straight = make()
    straight.fit(X, Y, epochs=4, batch_size=16, verbose=0)

    first = make()
    first.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    first.save(tmp_path / "ckpt.xdl", include_optimizer=True)
    xdl.seed(99)  # the global generator moves on; the checkpoint carries what the run needs
    resumed = xdl.NeuralNetwork.load(tmp_path / "ckpt.xdl")
    assert resumed.epoch == 2 and resumed.optimizer.iterations == first.optimizer.iterations
    history = resumed.fit(X, Y, epochs=4, batch_size=16, verbose=0, initial_epoch=resumed.epoch)
    assert history.epoch == [2, 3]

    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert_close(b.value, a.value, rtol=1e-6, atol=1e-7, err_msg=a.name)
    assert history["loss"][-1] == pytest.approx(straight.history["loss"][-1], rel=1e-5)


def test_checkpoint_restores_compile_settings_and_state(be, tmp_path):
    model = model_with_state()
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "ckpt.xdl", include_optimizer=True)
    loaded = xdl.NeuralNetwork.load(tmp_path / "ckpt.xdl")
    opt = loaded.optimizer
    assert isinstance(opt, xdl.Adam) and opt.clipnorm == 1.0 and isinstance(opt._learning_rate, xdl.CosineDecay)
    assert opt.learning_rate == pytest.approx(model.optimizer.learning_rate)
    assert isinstance(loaded.loss, xdl.CrossEntropy) and [m.name for m in loaded.metrics[1:]] == [
        "accuracy", "top_2_accuracy"]
    for p, q in zip(model.parameters(), loaded.parameters()):
        for slot, value in model.optimizer.state.get(p, {}).items():
            assert_close(opt.state[q][slot], value, rtol=0, atol=0)
            assert be.owns(opt.state[q][slot])
    assert loaded.layers[3].seed == model.layers[3].seed


def test_plain_save_keeps_compile_settings_but_no_state(tmp_path):
    model = model_with_state()
    model.fit(X, Y, epochs=1, verbose=0)
    model.save(tmp_path / "m.xdl", include_optimizer=False)
    with safe_open(tmp_path / "m.xdl", framework="numpy") as f:
        assert not [k for k in f.keys() if k.startswith("optimizer")]  # noqa: SIM118
        meta = f.metadata()
    assert json.loads(meta["training"])["optimizer"]["class"] == "Adam" and meta["dtype"] == "float32"
    loaded = xdl.NeuralNetwork.load(tmp_path / "m.xdl")
    assert loaded.optimizer.iterations == 0 and not loaded.optimizer.state
    assert loaded.evaluate(X, Y, return_dict=True)["accuracy"] == pytest.approx(
        model.evaluate(X, Y, return_dict=True)["accuracy"])


def test_weights_open_in_pytorch(tmp_path):
    torch_safetensors = pytest.importorskip("safetensors.torch", reason="PyTorch not installed")
    model = model_with_state()
    model.fit(X, Y, epochs=1, verbose=0)
    model.save(tmp_path / "m.xdl", include_optimizer=True)
    tensors = torch_safetensors.load_file(str(tmp_path / "m.xdl"))
    np.testing.assert_array_equal(tensors["hidden/weights"].numpy(), host(model.layers[0].W.value))
    assert tuple(tensors["norm/moving_mean"].shape) == (16,)
    np.testing.assert_array_equal(tensors["optimizer/hidden/weights/m"].numpy(),
                                  host(model.optimizer.state[model.layers[0].W]["m"]))
    assert "optimizer/norm/moving_mean/m" not in tensors  # state only for what the optimizer updates


def test_export_and_import_weights(be):
    model = model_with_state()
    model.fit(X, Y, epochs=1, verbose=0)
    weights = xdl.export_weights(model)
    assert set(weights) == {"hidden/weights", "hidden/bias", "norm/gamma", "norm/beta", "norm/moving_mean",
                            "norm/moving_variance", "logits/weights", "logits/bias"}
    assert all(isinstance(w, np.ndarray) for w in weights.values())
    other = model_with_state()
    other.build((6,))
    xdl.import_weights(other, weights)
    np.testing.assert_array_equal(host(other.predict(X)), host(model.predict(X)))
    weights["hidden/weights"][...] = 0  # exported copies: the model is untouched
    assert np.abs(host(model.layers[0].W.value)).sum() > 0
    with pytest.raises(ValueError, match=r"'logits/bias' has shape \(3,\), the model expects \(4,\)"):
        xdl.import_weights(other, {**weights, "logits/bias": np.zeros(3)})
    with pytest.raises(KeyError, match=r"missing \['logits/bias'\], unexpected \['head/bias'\]"):
        xdl.import_weights(other, {**{k: v for k, v in weights.items() if k != "logits/bias"},
                                   "head/bias": np.zeros(4)})


def test_resume_from_a_model_checkpoint_callback(be, tmp_path):
    straight = model_with_state()
    straight.fit(X, Y, epochs=3, batch_size=16, verbose=0)
    interrupted = model_with_state()
    saver = xdl.ModelCheckpoint(tmp_path / "last.xdl", include_optimizer=True)
    interrupted.fit(X, Y, epochs=2, batch_size=16, verbose=0, callbacks=[saver])  # "crashes" after epoch 2
    resumed = xdl.NeuralNetwork.load(tmp_path / "last.xdl")
    resumed.fit(X, Y, epochs=3, batch_size=16, verbose=0, initial_epoch=resumed.epoch)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert_close(b.value, a.value, rtol=1e-6, atol=1e-7, err_msg=a.name)
