"""fit's toolkit: validation, metrics, callbacks, progress output, History, summary."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import host

import xdl

RNG = np.random.default_rng(11)
X = RNG.standard_normal((96, 4)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)  # three classes


def classifier(lr=0.05, metrics=("accuracy",)):
    model = xdl.NeuralNetwork([xdl.Dense(input_size=4, output_size=16), xdl.ReLU(), xdl.Dense(output_size=3)])
    model.compile(loss=xdl.CrossEntropy(), optimizer=xdl.Adam(lr), metrics=list(metrics))
    return model


class Scripted(xdl.Callback):
    """Overwrites a logged figure with a script, and keeps a copy of the weights each epoch."""

    def __init__(self, key, values):
        self.key, self.values, self.weights = key, values, []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append([host(p.value).copy() for p in self.model.parameters()])


def test_validation_split_and_data_give_val_figures(be):
    history = classifier().fit(X, Y, epochs=3, batch_size=16, verbose=0, validation_split=0.25)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    model = classifier()
    history = model.fit(X[:64], Y[:64], epochs=30, verbose=0, validation_data=(X[64:], Y[64:]))
    assert history["val_accuracy"][-1] >= 0.8 and history["loss"][-1] < history["loss"][0]
    assert model.evaluate(X[64:], Y[64:], return_dict=True)["accuracy"] == pytest.approx(history["val_accuracy"][-1])


def test_fit_reads_the_device_once_per_epoch_and_per_validation(be, monkeypatch):
    reads = []
    original = be.to_numpy
    monkeypatch.setattr(be, "to_numpy", lambda x, copy=False: reads.append(1) or original(x, copy))
    classifier().fit(X, Y, epochs=4, batch_size=8, verbose=0, validation_split=0.25)
    # once per fit call the labels' range (one read for the whole check); then per epoch the
    # training totals and the validation totals, nothing per batch
    assert len(reads) == 1 + 4 * 2


def test_metrics_for_labels_one_hot_binary_and_top_k(be):
    scores = be.asarray([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    labels = be.asarray([1, 1, 0, 1])
    accuracy = xdl.metrics.get("accuracy")
    assert float(host(accuracy(labels, scores))) == 0.25
    assert float(host(accuracy(be.asarray(np.eye(3)[[1, 1, 0, 1]]), scores))) == 0.25
    assert float(host(xdl.TopKAccuracy(2)(labels, scores))) == 0.75
    assert float(host(xdl.TopKAccuracy(3)(labels, scores))) == 1.0
    binary = xdl.metrics.get("accuracy", xdl.BinaryCrossEntropy(from_logits=True))
    logits, truth = be.asarray([[2.0, -1.0], [-0.5, 0.3]]), be.asarray([[1.0, 0.0], [1.0, 1.0]])
    assert float(host(binary(truth, logits))) == 0.75  # threshold 0 for logits
    assert float(host(xdl.metrics.get("mae")(be.asarray([1.0, 2.0]), be.asarray([2.0, 4.0])))) == 1.5


def test_evaluate_follows_keras_conventions(be):
    model = classifier(metrics=())
    assert isinstance(model.evaluate(X, Y), float)
    model.compile(loss="cross_entropy", optimizer="adam", metrics=["accuracy", "top_k_accuracy"])
    loss, accuracy, top5 = model.evaluate(X, Y)
    assert 0 <= accuracy <= 1 and top5 == 1.0  # three classes: always in the top 5


def test_labels_out_of_range_are_caught_before_training(be):
    with pytest.raises(ValueError, match=r"fit: class labels must lie in \[0, 2\] .* got labels from 0 to 3"):
        classifier().fit(X, np.where(Y == 2, 3, Y), verbose=0)


def test_early_stopping_restores_the_best_weights(be):
    script = Scripted("val_loss", [3.0, 2.0, 1.0, 1.5, 2.5, 4.0, 5.0, 6.0])
    stopper = xdl.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model = classifier()
    history = model.fit(X, Y, epochs=8, verbose=0, callbacks=[script, stopper])
    assert len(history.epoch) == 5 and stopper.best_epoch == 2 and stopper.stopped_epoch == 4
    for value, best in zip(model.parameters(), script.weights[2]):
        np.testing.assert_array_equal(host(value.value), best)


def test_early_stopping_names_a_missing_figure(be):
    with pytest.raises(KeyError, match="monitor 'val_loss' is not logged.*pass validation data"):
        classifier().fit(X, Y, epochs=1, verbose=0, callbacks=[xdl.EarlyStopping()])


def test_model_checkpoint_saves_only_improvements(be, tmp_path):
    script = Scripted("val_accuracy", [0.5, 0.7, 0.6, 0.8])
    pattern = str(tmp_path / "model-{epoch:02d}.xdl")
    checkpoint = xdl.ModelCheckpoint(pattern, monitor="val_accuracy", save_best_only=True)
    model = classifier()
    model.fit(X, Y, epochs=4, verbose=0, callbacks=[script, checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-01.xdl", "model-02.xdl", "model-04.xdl"]
    loaded = xdl.NeuralNetwork.load(tmp_path / "model-04.xdl")
    np.testing.assert_array_equal(host(loaded.predict(X)), host(model.predict(X)))


def test_learning_rate_scheduler_sets_each_epochs_rate(be):
    model = classifier(lr=0.08)
    history = model.fit(X, Y, epochs=3, verbose=0,
                        callbacks=[xdl.LearningRateScheduler(lambda epoch, lr: lr / 2)])
    assert history["learning_rate"] == pytest.approx([0.04, 0.02, 0.01])
    assert model.optimizer.learning_rate == pytest.approx(0.01)


def test_terminate_on_nan(be, capsys):
    bad = X.copy()
    bad[5, 0] = np.nan
    history = classifier().fit(bad, Y, epochs=5, verbose=0, callbacks=[xdl.TerminateOnNaN()])
    assert len(history.epoch) == 1 and np.isnan(history["loss"][0])
    assert "TerminateOnNaN: loss is nan at epoch 1" in capsys.readouterr().out


def test_progress_output_by_verbosity(be, capsys, monkeypatch):
    classifier().fit(X, Y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    classifier().fit(X, Y, epochs=2, verbose=2, validation_split=0.25)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2 - loss: ") and "val_accuracy: " in lines[1]
    assert "samples/s" in lines[1]
    monkeypatch.setattr("xdl.train.progress._is_terminal", lambda: True)
    monkeypatch.setattr("xdl.train.progress.REFRESH_S", 0.0)  # redraw after every batch
    classifier().fit(X, Y, epochs=1, batch_size=16, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 1/1" in err and "6/6" in err and "loss: " in err and "samples/s" in err


def test_history_plot_saves_a_figure(tmp_path):
    pytest.importorskip("matplotlib", reason="History.plot needs matplotlib (the plot extra)")
    history = xdl.History()
    for epoch, (loss, acc) in enumerate([(1.0, 0.5), (0.5, 0.8)]):
        history.record(epoch, loss=loss, accuracy=acc, val_loss=loss + 0.1, val_accuracy=acc - 0.1)
    figure = history.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert [ax.get_title() for ax in figure.axes] == ["loss", "accuracy"]
    assert len(figure.axes[0].get_lines()) == 2


def test_summary_lists_layers_shapes_and_parameters(be):
    model = xdl.NeuralNetwork([xdl.Dense(input_size=64, output_size=32), xdl.BatchNorm(), xdl.ReLU(),
                               xdl.Dense(output_size=10)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert re.search(r"dense(_\d+)? \(Dense\) +\(N, 32\) +2,080", text)
    assert re.search(r"batch_norm(_\d+)? \(BatchNorm\) +\(N, 32\) +128", text)
    assert "Total params: 2,538" in text and "Non-trainable params: 64" in text
    with pytest.raises(xdl.NotBuiltError, match="summary needs the input shape"):
        xdl.NeuralNetwork([xdl.Dense(output_size=3)]).summary()
