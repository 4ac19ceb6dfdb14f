"""Callbacks: EarlyStopping, ModelCheckpoint, LearningRateScheduler, TerminateOnNaN,
ReduceLROnPlateau, CSVLogger, LambdaCallback and the batch hooks (whose logs are read from the
device only when a callback looks)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import xdl
from tests.helpers import host, small_classifier, three_classes


def data(n=48):
    r = np.random.default_rng(0)
    X = r.standard_normal((n, 4))
    return X, (X[:, 0] > 0).astype(np.int64)


def model():
    xdl.seed(0)
    net = xdl.NeuralNetwork([xdl.Dense(input_size=4, output_size=8), xdl.ReLU(), xdl.Dense(output_size=2)])
    net.compile(loss="cross_entropy", optimizer=xdl.SGD(0.1), metrics=["accuracy"])
    return net


def drive(callback, losses, lr=1.0):
    """Run ``callback`` over epochs whose monitored figure is ``losses``; the rates after each."""
    net = model()
    net.optimizer.learning_rate = lr
    callback.set_model(net)
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate(losses):
        logs = {"val_loss": value}
        callback.on_epoch_end(epoch, logs)
        rates.append(logs["learning_rate"])
    return rates


def test_reduce_lr_on_plateau_follows_keras():
    # patience 2: the third epoch without improvement (by more than min_delta) cuts the rate
    rates = drive(xdl.ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0.01), [1.0, 0.995, 0.99, 0.5, 0.6, 0.7])
    assert rates == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.5, 0.25])
    # cooldown 2: the epoch after a cut does not count, the counter ends on the second (as in Keras);
    # min_lr: a floor
    rates = drive(xdl.ReduceLROnPlateau(factor=0.1, patience=1, cooldown=2, min_lr=0.005), [1, 1, 1, 1, 1, 1, 1])
    assert rates == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01, 0.005, 0.005])
    rates = drive(xdl.ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.005), [1, 1, 1, 1])
    assert rates == pytest.approx([1.0, 0.1, 0.01, 0.005])
    with pytest.raises(ValueError, match=r"factor \(it multiplies the rate\) must be a number in \(0, 1\)"):
        xdl.ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_on_plateau_in_fit():
    X, y = data()
    net = model()
    history = net.fit(X, y, epochs=4, validation_data=(X, y), verbose=0,
                      callbacks=[xdl.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)])
    assert history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert net.optimizer.learning_rate == pytest.approx(0.0125)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csv_logger_writes_appends_and_resumes(tmp_path):
    X, y = data()
    path = tmp_path / "log.csv"
    net = model()
    net.fit(X, y, epochs=2, validation_data=(X, y), verbose=0, callbacks=[xdl.CSVLogger(path)])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    assert float(rows[2][1]) == pytest.approx(net.history["loss"][1])
    # a later run overwrites without append
    net.fit(X, y, epochs=1, validation_data=(X, y), verbose=0, callbacks=[xdl.CSVLogger(path)])
    assert len(read_csv(path)) == 2
    # resumed from a checkpoint after epoch 3 of a run that had logged 5: rows 3 and 4 are replaced
    net.fit(X, y, epochs=5, validation_data=(X, y), verbose=0, callbacks=[xdl.CSVLogger(path)])
    net.fit(X, y, epochs=6, initial_epoch=3, validation_data=(X, y), verbose=0,
            callbacks=[xdl.CSVLogger(path, append=True)])
    rows = read_csv(path)
    assert rows[0][0] == "epoch" and [r[0] for r in rows[1:]] == ["0", "1", "2", "3", "4", "5"]
    with pytest.raises(ValueError, match="also logs"):
        net.fit(X, y, epochs=7, initial_epoch=6, verbose=0, callbacks=[xdl.ReduceLROnPlateau(monitor="loss"),
                                                                       xdl.CSVLogger(path, append=True)])


def test_lambda_callback_and_batch_hooks_in_fit_evaluate_predict():
    X, y = data()
    seen = []
    cb = xdl.LambdaCallback(
        on_train_begin=lambda logs: seen.append("train"),
        on_epoch_end=lambda epoch, logs: seen.append(("epoch", epoch, round(logs["loss"], 6))),
        on_train_batch_begin=lambda batch, logs: seen.append(("begin", batch)),
        on_train_batch_end=lambda batch, logs: seen.append(("end", batch)),
        on_test_batch_end=lambda batch, logs: seen.append(("test", batch, sorted(logs))),
        on_predict_batch_end=lambda batch, logs: seen.append(("predict", batch, logs["outputs"].shape)))
    net = model()
    net.fit(X, y, epochs=1, batch_size=16, validation_data=(X[:20], y[:20]), verbose=0, callbacks=[cb])
    assert seen[0] == "train"
    assert seen[1:7] == [("begin", 0), ("end", 0), ("begin", 1), ("end", 1), ("begin", 2), ("end", 2)]
    assert seen[7:9] == [("test", 0, ["accuracy", "loss"]), ("test", 1, ["accuracy", "loss"])]
    assert seen[9] == ("epoch", 0, round(net.history["loss"][0], 6))
    seen.clear()
    net.evaluate(X, y, batch_size=30, callbacks=[cb])
    net.predict(X, batch_size=30, callbacks=[cb])
    assert seen == [("test", 0, ["accuracy", "loss"]), ("test", 1, ["accuracy", "loss"]),
                    ("predict", 0, (30, 2)), ("predict", 1, (18, 2))]
    with pytest.raises(TypeError, match="unknown hooks"):
        xdl.LambdaCallback(on_batch_done=print)


def test_batch_logs_read_the_device_only_when_looked_at(be, monkeypatch):
    X, y = data()
    net = model()
    net.fit(X, y, epochs=1, verbose=0)

    class Counts(xdl.Callback):
        def __init__(self):
            self.batches, self.keys = 0, None

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            self.keys = list(logs)  # the names need no read

    class Reads(xdl.Callback):
        def __init__(self):
            self.losses = []

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(logs["loss"])

    reads, original = [], type(be).to_numpy
    monkeypatch.setattr(type(be), "to_numpy", lambda self, x, copy=False: reads.append(1) or original(self, x, copy))
    counts = Counts()
    net.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=[counts])
    assert counts.batches == 12 and counts.keys == ["loss", "accuracy"]
    assert len(reads) == 2 + 1  # once per epoch, and the labels' check
    reads.clear()
    reader = Reads()
    history = net.fit(X, y, epochs=1, batch_size=8, shuffle=False, verbose=0, callbacks=[reader])
    assert len(reads) == 6 + 1 + 1  # asking for the loss: one read per batch
    assert reader.losses[-1] == pytest.approx(history["loss"][0])  # the epoch's running mean


class Scripted(xdl.Callback):
    """Overwrites a logged figure with a script, and keeps a copy of the weights each epoch."""

    def __init__(self, key, values):
        self.key, self.values, self.weights = key, values, []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append([host(p.value).copy() for p in self.model.parameters()])


def test_early_stopping_restores_the_best_weights(be):
    X, Y = three_classes()
    script = Scripted("val_loss", [3.0, 2.0, 1.0, 1.5, 2.5, 4.0, 5.0, 6.0])
    stopper = xdl.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model = small_classifier()
    history = model.fit(X, Y, epochs=8, verbose=0, callbacks=[script, stopper])
    assert len(history.epoch) == 5 and stopper.best_epoch == 2 and stopper.stopped_epoch == 4
    for value, best in zip(model.parameters(), script.weights[2]):
        np.testing.assert_array_equal(host(value.value), best)


def test_early_stopping_names_a_missing_figure(be):
    X, Y = three_classes()
    with pytest.raises(KeyError, match="monitor 'val_loss' is not logged.*pass validation data"):
        small_classifier().fit(X, Y, epochs=1, verbose=0, callbacks=[xdl.EarlyStopping()])


def test_model_checkpoint_saves_only_improvements(be, tmp_path):
    X, Y = three_classes()
    script = Scripted("val_accuracy", [0.5, 0.7, 0.6, 0.8])
    pattern = str(tmp_path / "model-{epoch:02d}.xdl")
    checkpoint = xdl.ModelCheckpoint(pattern, monitor="val_accuracy", save_best_only=True)
    model = small_classifier()
    model.fit(X, Y, epochs=4, verbose=0, callbacks=[script, checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-01.xdl", "model-02.xdl", "model-04.xdl"]
    loaded = xdl.NeuralNetwork.load(tmp_path / "model-04.xdl")
    np.testing.assert_array_equal(host(loaded.predict(X)), host(model.predict(X)))


def test_learning_rate_scheduler_sets_each_epochs_rate(be):
    X, Y = three_classes()
    model = small_classifier(lr=0.08)
    history = model.fit(X, Y, epochs=3, verbose=0,
                        callbacks=[xdl.LearningRateScheduler(lambda epoch, lr: lr / 2)])
    assert history["learning_rate"] == pytest.approx([0.04, 0.02, 0.01])
    assert model.optimizer.learning_rate == pytest.approx(0.01)


def test_terminate_on_nan(be, capsys):
    X, Y = three_classes()
    bad = X.copy()
    bad[5, 0] = np.nan
    history = small_classifier().fit(bad, Y, epochs=5, verbose=0, callbacks=[xdl.TerminateOnNaN()])
    assert len(history.epoch) == 1 and np.isnan(history["loss"][0])
    assert "TerminateOnNaN: loss is nan at epoch 1" in capsys.readouterr().out
