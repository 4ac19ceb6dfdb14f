"""The loops behind fit, evaluate and predict: validation, the device read once per epoch,
Keras's keywords and conventions, labels checked before training, a NaN in the data stopping fit
within a bounded number of steps, inference keeping nothing afterwards."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close, small_classifier, three_classes

X, Y = three_classes()


def test_validation_split_and_data_give_val_figures(be):
    history = small_classifier().fit(X, Y, epochs=3, batch_size=16, verbose=0, validation_split=0.25)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    model = small_classifier()
    history = model.fit(X[:64], Y[:64], epochs=30, verbose=0, validation_data=(X[64:], Y[64:]))
    assert history["val_accuracy"][-1] >= 0.8 and history["loss"][-1] < history["loss"][0]
    assert model.evaluate(X[64:], Y[64:], return_dict=True)["accuracy"] == pytest.approx(history["val_accuracy"][-1])


def test_fit_reads_the_device_once_per_epoch_and_per_validation(be, monkeypatch):
    reads = []
    original = be.to_numpy
    monkeypatch.setattr(be, "to_numpy", lambda x, copy=False: reads.append(1) or original(x, copy))
    small_classifier().fit(X, Y, epochs=4, batch_size=8, verbose=0, validation_split=0.25)
    # once per fit call the labels' range (one read for the whole check); then per epoch the
    # training totals and the validation totals, nothing per batch
    assert len(reads) == 1 + 4 * 2


def test_evaluate_follows_keras_conventions(be):
    model = small_classifier(metrics=())
    assert isinstance(model.evaluate(X, Y), float)
    model.compile(loss="cross_entropy", optimizer="adam", metrics=["accuracy", "top_k_accuracy"])
    loss, accuracy, top5 = model.evaluate(X, Y)
    assert 0 <= accuracy <= 1 and top5 == 1.0  # three classes: always in the top 5


def test_labels_out_of_range_are_caught_before_training(be):
    with pytest.raises(ValueError, match=r"fit: class labels must lie in \[0, 2\] .* got labels from 0 to 3"):
        small_classifier().fit(X, np.where(Y == 2, 3, Y), verbose=0)


def test_keras_keywords_of_fit_predict_evaluate(be):
    y = np.eye(3, dtype=np.float32)[Y]  # one-hot targets
    model = xdl.Sequential([xdl.Dense(units=8, activation="relu"), xdl.Dense(units=3)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer="adam", metrics="accuracy")
    history = model.fit(x=X, y=y, epochs=2, batch_size=8, verbose=0)
    assert "accuracy" in history.history
    assert_close(model.predict(X, verbose=0), model(X), rtol=1e-5, atol=1e-6)
    assert_close(model.predict(x=X, batch_size=8, verbose=1), model.predict(X))
    loss, accuracy = model.evaluate(x=X, y=y, verbose=0)
    assert 0 <= accuracy <= 1 and loss == pytest.approx(model.evaluate(X, y)[0], rel=1e-5)
    with pytest.raises(ValueError, match="verbose"):
        model.predict(X, verbose=5)


# issue 17, item 14
def test_inference_keeps_nothing_afterwards():
    """predict keeps no backward caches: after it returns (and its output is dropped) the
    layers hold no more memory than before; evaluate likewise."""
    xdl.seed(0)
    model = xdl.NeuralNetwork([xdl.Embedding(50, 8), xdl.LSTM(16, return_sequences=True), xdl.GRU(8),
                               xdl.Dense(output_size=3)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer="sgd")
    X = np.random.default_rng(0).integers(0, 50, (4000, 5))
    y = np.zeros(4000, dtype=np.int64)
    model.predict(X[:2])
    model.evaluate(X[:2], y[:2])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out = model.predict(X)
        assert tuple(out.shape) == (4000, 3)
        del out
        model.evaluate(X, y)
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < 2**20, f"{retained / 2**20:.1f} MB kept after predict and evaluate"


# issue 17, item 15
def test_a_nan_in_the_data_stops_fit_within_a_bounded_number_of_steps(be):
    from xdl.train.loop import CHECK_STEPS

    xdl.seed(0)
    X = np.random.default_rng(0).standard_normal((1000, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    X[45 * 8 + 3, 2] = np.nan  # in batch 46 of 125 (batch_size 8, no shuffling)
    model = xdl.NeuralNetwork([xdl.Dense(input_size=4, output_size=6), xdl.Tanh(), xdl.Dense(output_size=2)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.Adam(0.01))
    steps = []

    class Count(xdl.Callback):
        def on_train_begin(self, logs=None):
            original = self.model.train_step
            self.model.train_step = lambda batch: steps.append(1) or original(batch)

    with pytest.warns(RuntimeWarning, match=r"not finite \(NaN or inf\) at batch 46 of epoch 1; training stopped, "
                                            r"the weights and optimizer state put back to those after batch 32"):
        history = model.fit(X, y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[Count()])
    assert len(steps) <= 46 + CHECK_STEPS and len(history.epoch) == 1
    assert all(np.isfinite(xdl.to_numpy(p.value)).all() for p in model.parameters())
    assert model.optimizer.iterations == 32
    assert np.isfinite(xdl.to_numpy(model.predict(X[:8]))).all()
