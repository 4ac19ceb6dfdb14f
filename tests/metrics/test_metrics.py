"""Metrics: accuracy (labels, one-hot, binary, top-k), Precision, Recall, F1Score, AUC,
MeanSquaredError and RootMeanSquaredError summed on the device over an epoch's batches, read once,
equal to the figures of all the data at once; computed on their arrays' backend; saved."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

import xdl
from tests.helpers import MIXED_BACKENDS, MIXED_IDS, arrays_backend, host
from xdl.metrics import AUC, F1Score, MeanSquaredError, Precision, Recall, RootMeanSquaredError

rng = np.random.default_rng(0)
N, C, T = 50, 3, 200
LEVELS = (np.arange(T - 1) + 0.5) / (T - 1)  # one level between each pair of AUC thresholds: exact curves


def quantized(p):
    return LEVELS[np.clip(np.floor(p * (T - 1)).astype(int), 0, T - 2)]


def figures(be, metric, y_true, y_pred, w=None, batch=7):
    """The metric summed over batches of ``batch`` rows, as fit sums it."""
    sums = None
    for i in range(0, len(y_pred), batch):
        t, p = be.asarray(y_true[i:i + batch]), be.asarray(y_pred[i:i + batch], dtype=be.xp.float32)
        stats = metric.statistics(t, p, None if w is None else be.asarray(w[i:i + batch], dtype=be.xp.float32))
        flat = [float(v) for s in stats for v in np.reshape(xdl.to_numpy(be.xp.asarray(s)) if not
                                                              isinstance(s, float) else s, (-1,))]
        sums = flat if sums is None else [a + b for a, b in zip(sums, flat)]
    return metric.result(sums)


def test_binary_precision_recall_f1_auc_match_sklearn(be):
    y = (rng.random((N, 1)) > 0.4).astype(np.float64)
    p = quantized(np.clip(0.35 * y + 0.65 * rng.random((N, 1)), 0, 1))
    w = rng.uniform(0, 2, N)
    for weights in (None, w):
        kw = {} if weights is None else {"sample_weight": weights}
        hard = (p[:, 0] > 0.5).astype(int)
        assert figures(be, Precision(), y, p, weights) == pytest.approx(sk.precision_score(y[:, 0], hard, **kw),
                                                                          rel=1e-5)
        assert figures(be, Recall(), y, p, weights) == pytest.approx(sk.recall_score(y[:, 0], hard, **kw), rel=1e-5)
        assert figures(be, F1Score(threshold=0.5), y, p, weights) == pytest.approx(
            sk.f1_score(y[:, 0], hard, **kw), rel=1e-4)
        assert figures(be, AUC(), y, p, weights) == pytest.approx(sk.roc_auc_score(y[:, 0], p[:, 0], **kw), rel=1e-5)


def test_one_vs_rest_auc_and_averaged_f1_match_sklearn(be):
    labels = rng.integers(0, C, N)
    z = rng.standard_normal((N, C)) + 1.5 * np.eye(C)[labels]
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    q = quantized(probs)
    auc = figures(be, AUC(multi_label=True), labels, q)
    assert auc == pytest.approx(sk.roc_auc_score(np.eye(C)[labels], q, average="macro"), rel=1e-5)
    for average in ("macro", "micro", "weighted"):
        got = figures(be, F1Score(average=average), labels, probs)  # each row's top class
        assert got == pytest.approx(sk.f1_score(labels, probs.argmax(1), average=average), rel=1e-4)
    # Keras's class_id: one class against the rest
    got = figures(be, Precision(class_id=1), labels, probs)
    assert got == pytest.approx(sk.precision_score(labels == 1, probs[:, 1] > 0.5), rel=1e-5)


def test_auc_counts_scores_against_keras_thresholds(be):
    """Keras's rule: thresholds 0 - eps, i / (T - 1), 1 + eps; a score counts above t when > t."""
    y = (rng.random(N) > 0.5).astype(np.float64)[:, None]
    p = rng.random((N, 1))
    t = np.r_[-1e-7, np.arange(1, 9) / 9.0, 1 + 1e-7]
    tp = np.array([((p[:, 0] > a) & (y[:, 0] == 1)).sum() for a in t], dtype=float)
    fp = np.array([((p[:, 0] > a) & (y[:, 0] == 0)).sum() for a in t], dtype=float)
    tpr, fpr = tp / tp[0], fp / fp[0]
    expected = np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)
    assert figures(be, AUC(num_thresholds=10), y, p) == pytest.approx(expected, rel=1e-6)
    minoring = np.sum((fpr[:-1] - fpr[1:]) * np.minimum(tpr[:-1], tpr[1:]))
    assert figures(be, AUC(num_thresholds=10, summation_method="minoring"), y, p) == pytest.approx(minoring, rel=1e-6)


def test_mse_and_rmse_metrics_are_the_epoch_figures_not_batch_means(be):
    t, p = rng.standard_normal((N, 2)), rng.standard_normal((N, 2))
    w = rng.uniform(0, 2, N)
    mse = ((p - t) ** 2 * w[:, None]).sum() / (w.sum() * 2)
    assert figures(be, MeanSquaredError(), t, p, w) == pytest.approx(mse, rel=1e-5)
    assert figures(be, RootMeanSquaredError(), t, p, w) == pytest.approx(np.sqrt(mse), rel=1e-5)


def test_fit_reads_the_device_once_per_epoch_with_every_metric(be, monkeypatch):
    X = rng.standard_normal((64, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    net = xdl.NeuralNetwork([xdl.Dense(input_size=4, output_size=8), xdl.ReLU(), xdl.Dense(output_size=2)])
    net.compile(loss="cross_entropy", optimizer="adam",
                metrics=["accuracy", "precision", "recall", "f1_score", "auc", AUC(multi_label=True, name="ovr_auc")])
    net.fit(X, y, epochs=1, verbose=0)
    reads = []
    original = type(be).to_numpy
    monkeypatch.setattr(type(be), "to_numpy", lambda self, x, copy=False: reads.append(1) or original(self, x, copy))
    history = net.fit(X, y, epochs=3, batch_size=8, verbose=0)
    labels_checked = 1  # fit's one check of the labels' range, before any step
    assert len(reads) == 3 + labels_checked
    assert set(history.history) == {"loss", "accuracy", "precision", "recall", "f1_score", "auc", "ovr_auc"}
    # the logits are scored as probabilities (softmax): the same as scoring predict's softmax
    z = xdl.to_numpy(net.predict(X)).astype(np.float64)
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    got = net.evaluate(X, y, return_dict=True)
    assert got["ovr_auc"] == pytest.approx(figures(be, AUC(multi_label=True), y, probs), rel=1e-4)
    assert got["precision"] == pytest.approx(figures(be, Precision(), y, probs), rel=1e-5)


def test_new_metrics_are_saved_with_the_model(tmp_path):
    net = xdl.NeuralNetwork([xdl.Dense(input_size=4, output_size=2)])
    net.compile(loss="mse", optimizer="sgd",
                metrics=["mse", "rmse", Precision(thresholds=0.3), F1Score(average="micro"), AUC(num_thresholds=50)])
    net.predict(np.zeros((1, 4)))  # builds it
    net.save(tmp_path / "m.xdl")
    loaded = xdl.NeuralNetwork.load(tmp_path / "m.xdl")
    assert [repr(m) for m in loaded.metrics] == [repr(m) for m in net.metrics]
    assert loaded.objectives.names == ["loss", "mse", "rmse", "precision", "f1_score", "auc"]


def test_bad_metric_arguments_are_named():
    with pytest.raises(ValueError, match="average must be"):
        F1Score(average="samples")
    with pytest.raises(ValueError, match="num_thresholds"):
        AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="threshold must be a number in"):
        Precision(thresholds=1.5)


@pytest.mark.parametrize("source, active", MIXED_BACKENDS, ids=MIXED_IDS)
def test_metrics_use_their_arrays_backend_not_the_active_one(source, active):
    src = arrays_backend(source, active)
    r = np.random.default_rng(1)
    scores = src.asarray(r.standard_normal((6, 4)) * 3, dtype=src.xp.float32)
    labels = src.asarray(r.integers(0, 4, 6))
    binary_true = src.asarray(r.integers(0, 2, (5, 3)), dtype=src.xp.float32)
    binary_pred = src.asarray(1 / (1 + np.exp(-2 * r.standard_normal((5, 3)))), dtype=src.xp.float32)
    cases = [(xdl.Accuracy(), labels, scores), (xdl.TopKAccuracy(k=2), labels, scores),
             (xdl.Accuracy(binary=True), binary_true, binary_pred),
             (xdl.metrics.MeanAbsoluteError(), binary_true, binary_pred)]
    with xdl.use_backend(source, fallback=False):
        expected = [host(metric(y, out)) for metric, y, out in cases]
    with xdl.use_backend(active, fallback=False):
        for (metric, y, out), want in zip(cases, expected):
            value = metric(y, out)
            assert src.owns(value), repr(metric)
            np.testing.assert_array_equal(host(value), want, err_msg=repr(metric))


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
