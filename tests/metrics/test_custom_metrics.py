"""Metrics written as a Keras user writes them: ``xdl.metrics.Metric`` subclasses with
``add_variable``, ``update_state``, ``result`` and ``reset_state``, used alone and in
``compile(metrics=[...])``, where they accumulate on the device and are read once per epoch;
Keras's ``Mean`` and ``Sum``; function metrics; the built-ins' stateful interface."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import xdl
from tests.helpers import Frozen, host
from xdl import ops
from xdl.metrics import Mean, MeanMetricWrapper, Metric, Sum

RNG = np.random.default_rng(1)
N, D = 40, 2
X = RNG.standard_normal((N, 4)).astype(np.float32)
Y = (X @ RNG.standard_normal((4, D)) + 0.3).astype(np.float32)
W = RNG.uniform(0.0, 2.0, N).astype(np.float32)


class WeightedCount(Metric):
    """The sum of the sample weights seen (the number of samples without weights)."""

    def __init__(self, name="weighted_count", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None:
            self.count.assign_add(float(y_pred.shape[0]))
        else:
            self.count.assign_add(ops.sum(sample_weight))

    def result(self):
        return self.count.value


class MyMAE(Metric):
    """Keras's way to write a weighted mean absolute error."""

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")
        self.weight = self.add_variable((), name="weight")

    def update_state(self, y_true, y_pred, sample_weight=None):
        err = ops.mean(ops.abs(y_pred - y_true), axis=-1)
        if sample_weight is None:
            self.total.assign_add(ops.sum(err))
            self.weight.assign_add(float(err.shape[0]))
        else:
            self.total.assign_add(ops.sum(err * sample_weight))
            self.weight.assign_add(ops.sum(sample_weight))

    def result(self):
        return self.total / ops.maximum(self.weight, 1e-12)


def mae_of(model, w=None):
    pred = host(model.predict(X))
    err = np.abs(pred - Y).mean(1)
    return float(err.mean() if w is None else (w * err).sum() / w.sum())


def regression(metrics, optimizer=None):
    xdl.seed(2)
    model = xdl.Sequential([xdl.Dense(6, input_size=4), xdl.Tanh(), xdl.Dense(D, input_size=6)])
    model.compile(loss="mse", optimizer=optimizer or xdl.SGD(0.05), metrics=metrics)
    return model


def test_a_custom_metric_matches_numpy_over_an_epoch_and_in_evaluate(be):
    frozen = regression([MyMAE(), WeightedCount(), "mae"], optimizer=Frozen())  # weights stay: numpy can follow
    history = frozen.fit(X, Y, sample_weight=W, epochs=2, batch_size=7, verbose=0).history
    assert list(history) == ["loss", "my_mae", "weighted_count", "mae"]
    np.testing.assert_allclose(history["my_mae"], [mae_of(frozen, W)] * 2, rtol=1e-5)
    np.testing.assert_allclose(history["weighted_count"], [W.sum()] * 2, rtol=1e-5)  # reset each epoch
    np.testing.assert_allclose(history["my_mae"], history["mae"], rtol=1e-5)
    # trained: evaluate over all the data at the final weights, with and without weights
    model = regression([MyMAE(), WeightedCount()])
    model.fit(X, Y, epochs=3, batch_size=8, verbose=0)
    logs = model.evaluate(X, Y, batch_size=9, return_dict=True)
    assert logs["my_mae"] == pytest.approx(mae_of(model), rel=1e-5)
    assert logs["weighted_count"] == pytest.approx(N)
    logs = model.evaluate(X, Y, sample_weight=W, batch_size=9, return_dict=True)
    assert logs["my_mae"] == pytest.approx(mae_of(model, W), rel=1e-5)
    assert logs["weighted_count"] == pytest.approx(W.sum(), rel=1e-5)
    # model.metrics hold what evaluate read, Keras's way
    tracker, mine, count = model.metrics  # Keras's loss tracker first
    assert tracker.name == "loss"
    assert float(host(mine.result())) == pytest.approx(logs["my_mae"], rel=1e-6)
    assert float(host(count.result())) == pytest.approx(W.sum(), rel=1e-5)


def test_validation_figures_come_from_the_same_metric_reset(be):
    model = regression([WeightedCount()], optimizer=Frozen())
    history = model.fit(X[:30], Y[:30], validation_data=(X[30:], Y[30:]), epochs=2, verbose=0).history
    assert history["weighted_count"] == [30.0, 30.0] and history["val_weighted_count"] == [10.0, 10.0]


def test_keras_style_results_are_read_once_per_epoch(be):
    class Counted(MyMAE):
        reads = 0

        def result(self):
            type(self).reads += 1
            return super().result()

    model = regression([Counted()])
    model.fit(X, Y, epochs=3, batch_size=4, verbose=0)  # 10 steps an epoch
    assert Counted.reads == 3
    assert model.metrics[1].name == "counted"


def test_mean_and_sum_alone(be):
    m = Mean()
    m.update_state([1, 3, 5, 7])
    assert float(host(m.result())) == pytest.approx(4.0)
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert float(host(m.result())) == pytest.approx((16 + 4) / 6)
    m.reset_state()
    assert float(host(m.result())) == 0.0
    m.update_state(np.array([[1.0, 3.0], [5.0, 7.0]]), sample_weight=[1.0, 3.0])  # each row's mean, weighted
    assert float(host(m.result())) == pytest.approx((2.0 + 3 * 6.0) / 4)
    s = Sum(name="total")
    s.update_state([1, 3, 5, 7])
    s.update_state([[1.0, 2.0]], sample_weight=[2.0])
    assert float(host(s.result())) == pytest.approx(22.0)
    assert s.name == "total" and [v.shape for v in s.variables] == [()]
    assert all(not v.trainable for v in m.variables)
    s.reset_state()
    assert float(host(s.result())) == 0.0
    # on device arrays of the backend under test, and as Keras's __call__ (update, then result)
    t = Mean()
    assert float(host(t(be.asarray(np.array([2.0, 4.0]))))) == pytest.approx(3.0)
    assert float(host(t(be.asarray(np.array([6.0]))))) == pytest.approx(4.0)


def test_a_custom_metric_alone_and_reset_state(be):
    class StartsAtOne(WeightedCount):
        def __init__(self):
            super().__init__(name="from_one")
            self.bias = self.add_variable((2,), initializer="ones", name="bias")

    m = StartsAtOne()
    y = be.asarray(Y[:5])
    m.update_state(y, y)
    m.update_state(y, y, sample_weight=be.asarray(W[:5]))
    assert float(host(m.result())) == pytest.approx(5 + W[:5].sum(), rel=1e-6)
    m.bias.assign_add(be.asarray(np.array([1.0, 2.0]), dtype=m.bias.dtype))
    m.reset_state()  # every variable back to its first value
    assert float(host(m.result())) == 0.0
    np.testing.assert_allclose(m.bias.numpy(), [1.0, 1.0])
    assert [v.name for v in m.variables] == ["count", "bias"]
    mae = MyMAE()
    assert mae.name == "my_mae" and float(host(mae(Y, Y + 0.5))) == pytest.approx(0.5)


def test_built_in_metrics_have_the_stateful_interface(be):
    acc = xdl.Accuracy()
    labels = RNG.integers(0, 3, N)
    scores = RNG.standard_normal((N, 3)).astype(np.float32)
    for i in range(0, N, 16):
        acc.update_state(be.asarray(labels[i:i + 16]), be.asarray(scores[i:i + 16]))
    assert acc.result() == pytest.approx(np.mean(scores.argmax(1) == labels))
    acc.reset_state()
    assert acc.result() == 0.0
    rmse = xdl.metrics.RootMeanSquaredError()
    rmse.update_state(Y, Y + 0.25, sample_weight=W)
    assert rmse.result() == pytest.approx(0.25, rel=1e-5)
    assert rmse.result([9.0, 1.0]) == pytest.approx(3.0)  # xdl's stateless contract holds
    assert not acc.keras_style() and MyMAE.keras_style() and Mean.keras_style()
    model = regression(["mae", xdl.metrics.MeanSquaredError()])
    logs = model.evaluate(X, Y, return_dict=True)
    assert [m.result() for m in model.metrics[1:]] == pytest.approx([logs["mae"], logs["mean_squared_error"]])


def test_a_keras_style_subclass_of_a_built_in_metric(be):
    class FlippedAccuracy(xdl.Accuracy):  # transforms, then the built-in's update_state
        name = "flipped_accuracy"

        def update_state(self, y_true, y_pred, sample_weight=None):
            super().update_state(y_true, -y_pred, sample_weight)

    labels = RNG.integers(0, 3, N)
    xdl.seed(6)
    net = xdl.Sequential([xdl.Dense(3, input_size=4)])
    net.compile(loss="cross_entropy", optimizer=Frozen(), metrics=[FlippedAccuracy(), "accuracy"])
    history = net.fit(X, labels, epochs=1, batch_size=7, verbose=0).history
    scores = host(net.predict(X))
    assert history["flipped_accuracy"][0] == pytest.approx(np.mean((-scores).argmax(1) == labels))
    assert history["accuracy"][0] == pytest.approx(np.mean(scores.argmax(1) == labels))
    assert isinstance(net.metrics[1], FlippedAccuracy) and FlippedAccuracy.keras_style()


def test_function_metrics_are_weighted_means(be):
    def abs_error(y_true, y_pred):
        return ops.mean(ops.abs(y_pred - y_true), axis=-1)

    model = regression([abs_error], optimizer=Frozen())
    history = model.fit(X, Y, sample_weight=W, epochs=1, batch_size=7, verbose=0).history
    assert history["abs_error"][0] == pytest.approx(mae_of(model, W), rel=1e-5)
    assert isinstance(model.metrics[1], MeanMetricWrapper)


def test_each_output_gets_its_own_copy_of_a_keras_style_metric(be):
    x = xdl.Input(shape=(4,))
    h = xdl.Tanh()(xdl.Dense(output_size=5)(x))
    net = xdl.Model(x, [xdl.Dense(output_size=D, name="a")(h), xdl.Dense(output_size=D, name="b")(h)])
    shared = MyMAE()
    net.compile(loss="mse", optimizer="sgd", metrics=[shared])
    logs = net.evaluate(X, [Y, 2 * Y], return_dict=True)
    pa, pb = (host(p) for p in net.predict(X))
    assert logs["a_my_mae"] == pytest.approx(np.abs(pa - Y).mean(), rel=1e-5)
    assert logs["b_my_mae"] == pytest.approx(np.abs(pb - 2 * Y).mean(), rel=1e-5)
    assert net.metrics[1] is shared and net.metrics[2] is not shared


def test_figures_summed_over_processes(be):
    """A data-parallel read combines Keras-style metrics' variables (summed, as Keras's
    aggregation="sum"), then computes the result: two processes that saw the same data give
    the same mean and twice the count. The live variables are left as they were."""
    from xdl.train.epoch_sums import Tally

    class TwoProcesses:
        size = 2

        def reduce_totals(self, values, n, count):
            assert len(values) == count
            return [2 * v for v in values], 2 * n

    model = regression([MyMAE(), WeightedCount()], optimizer=Frozen())
    model.fit(X, Y, epochs=1, verbose=0)
    tally = Tally(model.backend, model.objectives, [(D,)])
    for i in range(0, N, 10):
        xb, yb = be.asarray(X[i:i + 10]), be.asarray(Y[i:i + 10])
        pred = model.predict(xb)
        tally.add([be.xp.asarray(0.0)], model.objectives.metric_statistics([yb], [pred]), 10)
    logs = tally.read(strategy=TwoProcesses())
    assert logs["my_mae"] == pytest.approx(mae_of(model), rel=1e-5)
    assert logs["weighted_count"] == pytest.approx(2 * N)
    assert float(host(model.metrics[2].result())) == pytest.approx(N)


def test_mistakes_are_xdl_errors(be):
    class Nothing(Metric):
        pass

    class NoResult(Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            pass

    class Several(WeightedCount):
        def result(self):
            return ops.stack([self.count.value, self.count.value])

    with pytest.raises(xdl.MissingMethodError, match="Nothing must define update_state"):
        regression([Nothing()])
    with pytest.raises(xdl.MissingMethodError, match="NoResult must define"):
        regression([NoResult])
    with pytest.raises(xdl.MissingMethodError):
        Nothing().update_state(Y, Y)
    with pytest.raises(xdl.ArgumentError, match="update_state\\(values\\)"):
        regression([Mean()])
    with pytest.raises(xdl.ArgumentError, match="unknown metric"):
        regression(["no_such_metric"])
    with pytest.raises(xdl.ArgumentError, match="one number per metric"):
        regression([Several()]).evaluate(X, Y)
    with pytest.raises(xdl.XdlError):
        Mean(name=3)
    with pytest.raises(xdl.XdlError):
        Sum(dtype="int8")
    with pytest.raises(xdl.XdlError):
        WeightedCount().add_variable((2, -1))
    with pytest.raises(xdl.XdlError):
        WeightedCount().add_variable((), aggregation="max")
    with pytest.raises(xdl.ArgumentTypeError, match="fn must be a function"):
        MeanMetricWrapper("mae")
    assert copy.deepcopy(MyMAE()).name == "my_mae"
