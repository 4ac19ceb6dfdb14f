"""Losses written as a Keras user writes them: a plain function ``fn(y_true, y_pred)`` given to
``compile``, and ``xdl.losses.Loss`` subclasses that define only ``call``. Their values are
weighed and reduced as Keras does, their gradients come from the tape, and they train a model
exactly as the built-in loss they re-implement."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close, host, loss_input_gradients, step_gradients
from xdl import ops
from xdl.losses import Loss, LossFunctionWrapper

RNG = np.random.default_rng(0)
N, D, C = 24, 3, 4
X = RNG.standard_normal((N, 5))
Y = X @ RNG.standard_normal((5, D)) + 0.1 * RNG.standard_normal((N, D))
W = RNG.uniform(0.1, 2.0, N)
LABELS = RNG.integers(0, C, N)


def my_mse(y_true, y_pred):
    """Keras's mean_squared_error: the mean over the last axis, one value per sample."""
    return ops.mean(ops.square(y_pred - y_true), axis=-1)


def scalar_mse(y_true, y_pred):
    """The same loss already reduced to one number."""
    return ops.mean((y_pred - y_true) ** 2)


def my_sparse_ce(y_true, y_pred):
    """Sparse cross-entropy from logits: the targets arrive as floats (Keras casts them)."""
    labels = ops.one_hot(ops.astype(y_true, "int64"), y_pred.shape[-1])  # floatx (float64 in the test)
    # the Tensor on the left: array_api_strict's arrays refuse a Tensor as their operator's operand
    return -ops.sum(ops.log_softmax(y_pred, axis=-1) * labels, axis=-1)


class MyHuber(Loss):
    """Keras's way: only ``call``; a parameter of its own, name and reduction to the base. Its
    graph has values used on two paths (``a`` and ``q``): both gradients must arrive."""

    def __init__(self, delta=1.0, name=None, reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        self.delta = delta

    def call(self, y_true, y_pred):
        a = ops.abs(y_pred - y_true)
        q = ops.minimum(a, self.delta)
        return ops.mean(0.5 * q * q + self.delta * (a - q), axis=-1)


def model(loss, metrics=None, lr=0.05, optimizer=None):
    xdl.seed(3)
    m = xdl.Sequential([xdl.Dense(8, input_size=5), xdl.Tanh(), xdl.Dense(D, input_size=8)])
    m.compile(loss=loss, optimizer=optimizer or xdl.SGD(lr), metrics=metrics)
    return m


def test_a_function_loss_gives_the_built_in_mses_values_and_gradients(be):
    t, p, w = be.asarray(Y, dtype=be.xp.float32), be.asarray(X[:, :D], dtype=be.xp.float32), be.asarray(W)
    fn = xdl.losses.get(my_mse)
    assert isinstance(fn, LossFunctionWrapper) and fn.name == "my_mse"
    for weights in (None, be.xp.astype(w, be.xp.float32)):
        value, grad = fn.value_and_grad(t, p, weights)
        want_value, want_grad = xdl.MSE().value_and_grad(t, p, weights)
        assert float(value) == pytest.approx(float(want_value), rel=1e-6)
        assert_close(grad, want_grad, rtol=1e-5, atol=1e-8)
    # called directly on host data, as a Keras user calls a loss
    assert float(fn(Y, X[:, :D])) == pytest.approx(np.mean((X[:, :D] - Y) ** 2), rel=1e-5)
    assert float(fn(Y, X[:, :D], sample_weight=W)) == pytest.approx(
        np.sum(W * np.mean((X[:, :D] - Y) ** 2, axis=1)) / N, rel=1e-5)


def test_a_function_loss_trains_as_the_built_in_mse(be):
    a, b = model(my_mse), model("mse")
    ha = a.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    hb = b.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    assert list(ha) == ["loss"]  # one output: the figure is "loss", whatever the function's name
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-5)
    for pa, pb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(pa, pb, rtol=1e-5, atol=1e-6)
    assert a.evaluate(X, Y) == pytest.approx(b.evaluate(X, Y), rel=1e-5)


def test_function_losses_give_the_built_in_gradients_in_float64(f64):
    be = f64
    x, y, w = be.asarray(X), be.asarray(Y), be.asarray(W)
    for fn in (my_mse, scalar_mse):
        for weights in (None, [w]) if fn is my_mse else (None,):
            got, want = model(fn), model("mse")
            step_gradients(got, [x], [y], weights)
            step_gradients(want, [x], [y], weights)
            for p, q in zip(got.trainable_weights, want.trainable_weights):
                assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-13)
            mine, theirs = (loss_input_gradients(m, [x], [y], weights) for m in (got, want))
            for g, h in zip(mine, theirs):
                assert_close(g, h, rtol=1e-10, atol=1e-13)
    # a sparse cross-entropy written with ops against the built-in one, weighted
    labels, nets = be.asarray(LABELS), []
    for loss in (my_sparse_ce, xdl.CrossEntropy()):
        xdl.seed(5)
        net = xdl.Sequential([xdl.Dense(6, input_size=5), xdl.ReLU(), xdl.Dense(C, input_size=6)])
        net.compile(loss=loss, optimizer="sgd")
        step_gradients(net, [x], [labels], [w])
        nets.append(net)
    for p, q in zip(nets[0].trainable_weights, nets[1].trainable_weights):
        assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-13)


def test_per_sample_and_scalar_functions_are_reduced_as_keras_does(be):
    t, p = be.asarray(Y, dtype=be.xp.float32), be.asarray(X[:, :D], dtype=be.xp.float32)
    w = be.asarray(W, dtype=be.xp.float32)
    sq = (X[:, :D] - Y) ** 2
    per_sample, scalar = LossFunctionWrapper(my_mse), LossFunctionWrapper(scalar_mse)
    assert float(per_sample.value(t, p)) == pytest.approx(float(scalar.value(t, p)), rel=1e-6)
    # per sample: sum(w * value) / N; one number: Keras broadcasts it over the weights
    assert float(per_sample.value(t, p, w)) == pytest.approx(np.sum(W * sq.mean(1)) / N, rel=1e-5)
    assert float(scalar.value(t, p, w)) == pytest.approx(sq.mean() * W.mean(), rel=1e-5)
    # per position (N, D) weights
    per_position = LossFunctionWrapper(lambda a, b: ops.square(b - a))
    wd = RNG.uniform(0.0, 1.0, (N, D))
    assert float(per_position.value(t, p, be.asarray(wd, dtype=be.xp.float32))) == pytest.approx(
        np.mean(wd * sq), rel=1e-5)
    # Keras's other reductions, and the values themselves for direct calls
    assert float(LossFunctionWrapper(my_mse, reduction="sum")(Y, X[:, :D], W)) == pytest.approx(
        np.sum(W * sq.mean(1)), rel=1e-5)
    assert float(LossFunctionWrapper(my_mse, reduction="mean_with_sample_weight")(Y, X[:, :D], W)) == pytest.approx(
        np.sum(W * sq.mean(1)) / W.sum(), rel=1e-5)
    values = LossFunctionWrapper(my_mse, reduction=None)(Y, X[:, :D], W)
    np.testing.assert_allclose(host(values), W * sq.mean(1), rtol=1e-5)
    # a gradient of a sum is N times that of the mean
    _, g_mean = per_sample.value_and_grad(t, p)
    _, g_sum = LossFunctionWrapper(my_mse, reduction="sum").value_and_grad(t, p)
    assert_close(g_sum, host(g_mean) * N, rtol=1e-5, atol=1e-7)


def test_sample_weight_in_fit_matches_the_built_in_mse(be):
    a, b = model(my_mse), model("mse")
    ha = a.fit(X, Y, sample_weight=W, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    hb = b.fit(X, Y, sample_weight=W, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-5)
    for pa, pb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(pa, pb, rtol=1e-5, atol=1e-6)
    assert a.evaluate(X, Y, sample_weight=W) == pytest.approx(b.evaluate(X, Y, sample_weight=W), rel=1e-5)


def test_a_loss_subclass_with_only_call_trains_as_the_built_in(be):
    mine = MyHuber(0.5)
    assert mine.name == "my_huber" and mine.reduction == "sum_over_batch_size"
    assert repr(mine) == "MyHuber(name='my_huber', reduction='sum_over_batch_size')"
    assert MyHuber(name="robust").name == "robust"
    # built-in losses keep their hand-written value_and_grad
    assert not xdl.MSE.keras_style() and MyHuber.keras_style() and LossFunctionWrapper.keras_style()
    # direct calls with Keras's reductions
    a_ = np.abs(2 * X[:, :D] - Y)
    q = np.minimum(a_, 0.5)
    per_sample = (0.5 * q * q + 0.5 * (a_ - q)).mean(1)
    assert float(MyHuber(0.5)(Y, 2 * X[:, :D])) == pytest.approx(per_sample.mean(), rel=1e-5)
    assert float(MyHuber(0.5, reduction="sum")(Y, 2 * X[:, :D])) == pytest.approx(per_sample.sum(), rel=1e-5)
    np.testing.assert_allclose(host(MyHuber(0.5, reduction="none")(Y, 2 * X[:, :D])), per_sample, rtol=1e-5)
    t, p = be.asarray(Y, dtype=be.xp.float32), be.asarray(2 * X[:, :D], dtype=be.xp.float32)
    w = be.asarray(W, dtype=be.xp.float32)
    for weights in (None, w):
        value, grad = mine.value_and_grad(t, p, weights)
        want_value, want_grad = xdl.Huber(0.5).value_and_grad(t, p, weights)
        assert float(value) == pytest.approx(float(want_value), rel=1e-6)
        assert_close(grad, want_grad, rtol=1e-5, atol=1e-8)
    a, b = model(MyHuber(0.5)), model(xdl.Huber(0.5))
    ha = a.fit(X, 3 * Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    hb = b.fit(X, 3 * Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-5)
    for pa, pb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(pa, pb, rtol=1e-5, atol=1e-6)


def test_call_under_a_built_in_loss_is_what_computes(be):
    class SquaredScores(xdl.CrossEntropy):  # Keras's way on top of a built-in: its call, not the parent's
        def call(self, y_true, y_pred):
            return ops.mean(ops.square(y_pred), axis=-1)

    assert SquaredScores.keras_style() and not xdl.CrossEntropy.keras_style()
    xdl.seed(4)
    net = xdl.Sequential([xdl.Dense(C, input_size=5), xdl.Softmax()])
    net.compile(loss=SquaredScores(), optimizer="sgd")  # not fused with the Softmax: it sees probabilities
    probabilities = host(net.predict(X))
    assert net.evaluate(X, LABELS) == pytest.approx(np.mean(probabilities ** 2), rel=1e-5)


def test_losses_on_tensors_are_recorded_by_the_tape(be):
    with xdl.use_floatx("float64"):
        w = xdl.Variable(RNG.standard_normal((5, D)))
    x, y = be.asarray(X), be.asarray(Y)
    want = 2.0 / (N * D) * (X.T @ (X @ w.numpy() - Y))  # d mean((xw - y)^2) / dw
    for loss in (xdl.MSE(), LossFunctionWrapper(my_mse), MyHuber(100.0)):
        with xdl.GradientTape() as tape:
            value = loss(y, ops.matmul(x, w))
        grad = tape.gradient(value, w)
        scale = 0.5 if isinstance(loss, MyHuber) else 1.0  # Huber far from its corner: half the square
        assert_close(grad, scale * want, rtol=1e-9, atol=1e-12)


def test_a_loss_of_several_outputs_is_named_by_output(be):
    x = xdl.Input(shape=(5,))
    h = xdl.Tanh()(xdl.Dense(output_size=6)(x))
    net = xdl.Model(x, [xdl.Dense(output_size=D, name="a")(h), xdl.Dense(output_size=1, name="b")(h)])
    net.compile(loss={"a": my_mse, "b": MyHuber()}, optimizer="sgd")
    logs = net.evaluate(X, {"a": Y, "b": Y[:, :1]}, return_dict=True)
    assert set(logs) == {"loss", "a_loss", "b_loss"}
    assert logs["loss"] == pytest.approx(logs["a_loss"] + logs["b_loss"], rel=1e-6)
    assert [loss.name for loss in net.loss] == ["my_mse", "my_huber"]


def test_mistakes_are_xdl_errors(be):
    class Nothing(Loss):
        pass

    with pytest.raises(xdl.ArgumentError, match="unknown loss"):
        model("no_such_loss")
    with pytest.raises(xdl.MissingMethodError, match="Nothing must define call"):
        model(Nothing())
    with pytest.raises(xdl.MissingMethodError, match="Nothing must define call"):
        model(Nothing)
    with pytest.raises(xdl.MissingMethodError, match="Nothing must define call"):
        Nothing()(Y, Y)
    with pytest.raises(xdl.ArgumentError, match="reduction"):
        model(LossFunctionWrapper(my_mse, reduction=None))
    with pytest.raises(xdl.ArgumentError, match="reduction"):
        MyHuber(reduction="average")
    with pytest.raises(xdl.ArgumentTypeError, match="fn must be a function"):
        LossFunctionWrapper(3)
    with pytest.raises(xdl.ArgumentTypeError, match="must return its values"):
        model(lambda y_true, y_pred: None).fit(X, Y, verbose=0)
    with pytest.raises(xdl.XdlError):
        LossFunctionWrapper(my_mse, reduction=None).value_and_grad(be.asarray(Y), be.asarray(Y))
