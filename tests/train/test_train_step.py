"""The steps, Keras's way: ``train_step(data)``, ``test_step(data)`` and ``predict_step(data)``
run for every batch of fit, evaluate and predict, overridden or not, and what they return
reaches the progress bar, callbacks and History. The training step's shortcut (no dX for the
first trainable layer) leaves every gradient as it was, in float32."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close, host


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _layers():
    return [xdl.Dense(units=8, activation="relu"), xdl.Dense(units=2)]


class Counted(xdl.Sequential):
    """Each step overridden: counts its calls and adds a figure of its own to the logs."""

    def __init__(self, layers):
        super().__init__(layers)
        self.calls = {"train": 0, "test": 0, "predict": 0}

    def train_step(self, data):
        self.calls["train"] += 1
        logs = super().train_step(data)
        return {**logs.read(), "steps": float(self.calls["train"])}

    def test_step(self, data):
        self.calls["test"] += 1
        return {**super().test_step(data).read(), "tests": float(self.calls["test"])}

    def predict_step(self, data):
        self.calls["predict"] += 1
        return super().predict_step(data) * 0.0 + 1.0


def test_overridden_steps_run_on_every_batch_and_their_logs_reach_history_and_callbacks(be, capsys):
    X, y = _data()
    model = Counted(_layers())
    model.compile(loss="cross_entropy", optimizer="adam", metrics=["accuracy"])
    seen = []
    callback = xdl.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(dict(logs)))
    history = model.fit(X, y, epochs=2, batch_size=8, validation_data=(X, y), callbacks=[callback], verbose=2)
    assert model.calls["train"] == 6 and model.calls["test"] == 6  # 3 batches an epoch, validation too
    assert history["steps"] == [3.0, 6.0]  # the epoch's figures are its last batch's logs (Keras's)
    assert history["val_tests"] == [3.0, 6.0] and "val_accuracy" in history.history
    assert [logs["steps"] for logs in seen] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert "steps: 6" in capsys.readouterr().out  # the progress line shows them
    assert model.evaluate(X, y, batch_size=12, return_dict=True)["tests"] == 8.0
    assert np.all(host(model.predict(X, batch_size=10)) == 1.0) and model.calls["predict"] == 3


def test_a_custom_train_step_written_from_public_parts(be):
    """A step of one's own: logs of plain device scalars are read once per epoch."""

    class HalfSteps(xdl.Sequential):
        def train_step(self, data):
            x, y = data
            logs = super().train_step((x[: x.shape[0] // 2, ...], y[: y.shape[0] // 2, ...]))
            return {"loss": logs.batch_loss, "rows": x.shape[0] // 2}

    X, y = _data()
    model = HalfSteps(_layers())
    model.compile(loss="cross_entropy", optimizer="sgd")
    history = model.fit(X, y, epochs=1, batch_size=8, verbose=0)
    assert history["rows"] == [4.0] and np.isfinite(history["loss"][0])


def test_train_step_logs_run_from_reset_metrics_and_are_read_when_looked_up(be):
    X, y = _data()
    model = xdl.Sequential(_layers())
    model.compile(loss="cross_entropy", optimizer=xdl.SGD(1e-12), metrics=["accuracy"])
    x, t = be.asarray(X), be.asarray(y)
    first = model.train_step((x, t))
    second = model.train_step((x[:8, ...], t[:8, ...]))
    assert list(second) == ["loss", "accuracy"]
    one = model.evaluate(X, y, return_dict=True)  # resets the metrics, then counts its own batches
    model.reset_metrics()
    again = model.train_step((x, t))
    assert again["loss"] == pytest.approx(one["loss"], rel=1e-5)  # all 24 rows, weights as good as unchanged
    assert first["loss"] == pytest.approx(one["loss"], rel=1e-5)
    assert second["accuracy"] == pytest.approx(
        (24 * first["accuracy"] + 8 * float(np.mean(host(model.predict(X[:8])).argmax(1) == y[:8]))) / 32, rel=1e-5)


def test_the_old_two_argument_train_step_says_what_to_write(be):
    X, y = _data()
    model = xdl.Sequential(_layers())
    model.compile(loss="cross_entropy", optimizer="sgd")
    with pytest.raises(TypeError, match=r"train_step\(\(x, y\)\)"):
        model.train_step(be.asarray(X), be.asarray(y))
    with pytest.raises(ValueError, match=r"\(x, y\) or \(x, y, sample_weight\)"):
        model.train_step((be.asarray(X),))


def test_steps_accept_host_data_and_several_inputs_and_outputs(be):
    a, b = xdl.Input(shape=(3,), name="a"), xdl.Input(shape=(2,), name="b")
    h = xdl.Concatenate()([a, b])
    model = xdl.Model([a, b], [xdl.Dense(units=1, name="r")(h), xdl.Dense(units=3, name="c")(h)])
    model.compile(loss={"r": "mse", "c": "cross_entropy"}, optimizer="sgd", metrics={"c": ["accuracy"]})
    rng = np.random.default_rng(1)
    xa, xb = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    r, c = rng.standard_normal((6, 1)), rng.integers(0, 3, 6)
    logs = model.train_step(({"a": xa, "b": xb}, {"r": r, "c": c}, {"c": np.ones(6)}))
    assert sorted(logs) == ["c_accuracy", "c_loss", "loss", "r_loss"]
    assert logs["loss"] == pytest.approx(logs["r_loss"] + logs["c_loss"], rel=1e-5)
    out = model.predict_step([be.asarray(xa, dtype=be.xp.float32), be.asarray(xb, dtype=be.xp.float32)])
    assert len(out) == 2 and tuple(out[1].shape) == (6, 3)
    model.reset_metrics()
    scores = model.test_step(([xa, xb], [r, c]))
    assert scores["c_loss"] == pytest.approx(model.evaluate([xa, xb], [r, c], return_dict=True)["c_loss"], rel=1e-5)


def test_the_built_in_step_adds_no_kernel_for_its_figures():
    """The running figures are summed when read, not in the step: the step's kernels are the
    forward, the loss, the backward and the update's."""
    status = xdl.backends.probe("torch")
    if not status.usable:
        pytest.skip(f"torch: {status.reason}")
    from benchmarks.ops import count

    xdl.set_backend("torch", device="cpu", fallback=False)
    model = xdl.Sequential([xdl.Dense(units=1, use_bias=False)])
    model.compile(loss="mse", optimizer="sgd")
    be = xdl.get_backend()
    x, y = be.asarray(np.ones((2, 3), np.float32)), be.asarray(np.ones((2, 1), np.float32))
    total, ops = count(lambda: model.train_step((x, y)))
    # matmul (forward), sub, mul, mean (loss), mul (its gradient), mm (dW), sub and mul (SGD)
    assert total <= 8, ops
    model.get_metrics_result().read()  # a read sums the pending batches; the steps after it cost the same
    assert count(lambda: model.train_step((x, y)), warmup=0)[0] == total


def _stack():
    return xdl.NeuralNetwork([xdl.ReLU(), xdl.Dense(5, input_size=4), xdl.Tanh(), xdl.Dense(3, input_size=5)])


def test_train_step_gradients_equal_full_backward(be):
    x = np.random.default_rng(1).standard_normal((6, 4))
    y = np.random.default_rng(2).standard_normal((6, 3))
    xdl.seed(3)
    full = _stack()
    xdl.seed(3)
    fast = _stack()  # the same initial weights
    X, Y = be.asarray(x, dtype=be.xp.float32), be.asarray(y, dtype=be.xp.float32)
    for model in (full, fast):
        model.compile(loss="mse", optimizer=xdl.SGD(1e-9))
        model.forward(X)
    loss = full.loss.forward(Y, full.forward(X, training=True))
    full.backward(full.loss.backward())
    assert_close(fast.train_step((X, Y)).batch_loss, loss, rtol=1e-6)
    for p, q in zip(full.parameters(), fast.parameters()):
        assert q.grad.dtype == be.xp.float32
        assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-7, err_msg=p.name)


class Counting(xdl.ReLU):
    calls = 0

    def apply(self, x, training=False):
        y, backprop = super().apply(x, training)

        def counted(dy, need_dx=True):
            Counting.calls += 1
            return backprop(dy, need_dx)

        return y, counted


def test_train_step_stops_at_first_trainable_layer(be):
    model = xdl.NeuralNetwork([Counting(), xdl.Dense(2, input_size=3), Counting()])
    model.compile(loss="mse", optimizer="sgd")
    x, y = be.asarray(np.ones((2, 3)), dtype=be.xp.float32), be.asarray(np.ones((2, 2)), dtype=be.xp.float32)
    model.forward(x)
    Counting.calls = 0
    model.train_step((x, y))
    assert Counting.calls == 1  # the layer after Dense only: nothing reads the one before
    assert model.backward(np.ones((2, 2))).shape == (2, 3)  # the public backward still returns dX
    assert Counting.calls == 3


def test_training_step_stays_float32(be):
    model = xdl.NeuralNetwork([xdl.Dense(5, input_size=4), xdl.ReLU(), xdl.Dense(3, input_size=5)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.SGD(0.1))
    x = be.asarray(np.random.default_rng(6).standard_normal((6, 4)), dtype=be.xp.float32)
    labels = be.asarray(np.array([0, 1, 2, 0, 1, 2]))
    model.forward(x)
    for _ in range(2):  # the second step updates arrays the first one wrote
        loss = model.train_step((x, labels)).batch_loss
    assert loss.dtype == be.xp.float32 and model.call(x).dtype == be.xp.float32
    for p in model.parameters():
        assert p.value.dtype == be.xp.float32 and p.grad.dtype == be.xp.float32, p.name
