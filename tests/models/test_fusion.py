"""The rewrites a graph makes of its steps (models/fusion.py): a ReLU after max pooling runs as
pooling then ReLU, or in the pooling's pass, with the values and gradients of the layers as
declared, bit for bit; it stays where its output is read elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import away_from_zero, host


def data(shape, seed=0):
    return away_from_zero(np.random.default_rng(seed), shape)


def _declared_order(layers, x, dy):
    """Output, input gradient and parameter gradients of ``layers`` applied one after
    another as declared: the reference for the graph's reordering."""
    backprops = []
    for layer in layers:
        x, back = layer.apply(x, True)
        backprops.append(back)
    for p in (p for layer in layers for p in layer.parameters()):
        p.grad = None
    dx = dy
    for back in reversed(backprops):
        dx = back(dx, True)
    return host(x), host(dx), [host(p.grad) for layer in layers for p in layer.parameters()]


MAX_AFTER_RELU = {  # id: (input shape, layers as declared, the last steps' types as they run)
    "max2d": ((3, 6, 6, 2), lambda: [xdl.Conv2D(output_channels=2, kernel_size=1), xdl.ReLU(), xdl.MaxPool2D(2)],
              ["Conv2D", "MaxPool2D"]),  # the ReLU in the pooling's pass (Backend.relu_max_pool)
    "max2d-overlapping-same": ((3, 6, 6, 2), lambda: [xdl.Conv2D(output_channels=2, kernel_size=1), xdl.ReLU(),
                                                      xdl.MaxPool2D(3, 2, "same")], ["Conv2D", "MaxPool2D"]),
    "max1d": ((3, 8, 2), lambda: [xdl.Conv1D(filters=2, kernel_size=1), xdl.ReLU(), xdl.MaxPool1D(2)],
              ["Conv1D", "MaxPool1D"]),
    "global2d-activation-layer": ((3, 6, 6, 2), lambda: [xdl.Conv2D(output_channels=2, kernel_size=1),
                                                         xdl.Activation("relu"), xdl.GlobalMaxPooling2D()],
                                  ["Conv2D", "GlobalMaxPooling2D", "Activation"]),
    "conv2d-activation-argument": ((3, 6, 6, 2), lambda: [xdl.Conv2D(output_channels=2, kernel_size=1,
                                                                     activation="relu"), xdl.MaxPool2D(2)],
                                   ["Conv2D", "MaxPool2D"]),
    "conv1d-activation-argument": ((3, 8, 2), lambda: [xdl.Conv1D(filters=2, kernel_size=1, activation="relu"),
                                                       xdl.MaxPool1D(2)], ["Conv1D", "MaxPool1D"]),
    "dense-activation-argument": ((3, 8, 2), lambda: [xdl.Dense(output_size=2, activation="relu"),
                                                      xdl.GlobalMaxPooling1D()], ["Dense", "GlobalMaxPooling1D", "ReLU"]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(MAX_AFTER_RELU))
def test_relu_moves_after_max_pooling_with_identical_values_and_gradients(be, dtype, case):
    """A ReLU (a layer, or a layer's ``activation="relu"``) then max pooling runs as pooling
    then ReLU (models/fusion.py), on a quarter of the values, or in the pooling's
    pass; outputs and gradients stay bit for bit those of the declared order, on inputs full
    of ties (small integers: equal maxima, all-negative windows) and a NaN."""
    shape, make, runs = MAX_AFTER_RELU[case]
    with xdl.use_floatx(dtype):
        layers = make()
        model = xdl.Sequential(layers)
        model.compile(loss="mse")
        model.build(shape[1:])
        assert [type(s.layer).__name__ for s in model.graph.steps] == runs
        first = layers[0]
        eye = np.eye(shape[-1]).reshape(first.W.value.shape)
        first.W.value = be.asarray(eye, dtype=getattr(be.xp, dtype))  # keeps the inputs' ties
        x = np.random.default_rng(0).integers(-2, 3, shape).astype(dtype)
        x[0, 1, 1] = np.nan
        xb = be.asarray(x, dtype=getattr(be.xp, dtype))
        y, _, backprop = model.graph.run([xb], True)
        dy = be.asarray(np.random.default_rng(1).integers(1, 4, tuple(y[0].shape)).astype(dtype))
        model.zero_grad()
        dx = backprop([dy], True)[0]
        grads = [host(p.grad) for p in first.parameters()]
        want_y, want_dx, want_grads = _declared_order(layers, xb, dy)
        np.testing.assert_array_equal(host(model.graph.infer([xb])[0]), want_y)
    np.testing.assert_array_equal(host(y[0]), want_y)
    np.testing.assert_array_equal(host(dx), want_dx)
    for got, want in zip(grads, want_grads):
        np.testing.assert_array_equal(got, want)


def test_relu_stays_before_pooling_where_its_output_is_read_elsewhere(be):
    x = xdl.Input(shape=(4, 4, 1))
    r = xdl.ReLU(name="relu")(xdl.Conv2D(output_channels=2, kernel_size=1)(x))
    p = xdl.MaxPool2D(2, name="pool")(r)
    fan_out = xdl.Model(inputs=x, outputs=[xdl.Flatten()(p), xdl.GlobalAveragePooling2D()(r)])
    as_output = xdl.Model(inputs=x, outputs=[p, r])
    for model in (fan_out, as_output):
        names = [s.layer.name for s in model.graph.steps]
        assert names.index("relu") < names.index("pool")
    moved = xdl.Model(inputs=x, outputs=p)
    assert [s.layer.name for s in moved.graph.steps][-1] == "pool"  # the ReLU in its pass
    assert [layer.name for layer in moved.layers][-2:] == ["relu", "pool"]  # as declared, for users
    unfused = xdl.Model(inputs=x, outputs=xdl.GlobalMaxPooling2D(name="pool")(r))
    names = [s.layer.name for s in unfused.graph.steps]
    assert names.index("pool") < names.index("relu")


def test_gradients_through_relu_and_max_pooling(f64):
    x = xdl.Input(shape=(6, 6, 1))
    h = xdl.MaxPool2D(2)(xdl.ReLU()(xdl.Conv2D(output_channels=3, kernel_size=3, padding="same")(x)))
    out = xdl.Dense(output_size=2)(xdl.Flatten()(h))
    model = xdl.Model(inputs=x, outputs=out)
    model.compile(loss="mse")
    assert [s.layer.name for s in model.graph.steps] == [l.name for l in model.layers if not isinstance(l, xdl.ReLU)]
    check_gradients(model, [data((2, 6, 6, 1))], f64, y=[data((2, 2), 3)])
    keras = xdl.Sequential([xdl.Conv2D(filters=3, kernel_size=3, activation="relu"), xdl.MaxPooling2D(2),
                            xdl.Flatten(), xdl.Dense(output_size=2)])
    keras.compile(loss="mse")
    keras.build((6, 6, 1))
    first, pool = keras.graph.steps[:2]  # the convolution without its ReLU; the pooling with it
    assert [type(s.layer).__name__ for s in keras.graph.steps] == ["Conv2D", "MaxPool2D", "Flatten", "Dense"]
    assert first.apply == first.layer.apply_linear and pool.apply != pool.layer.apply
    check_gradients(keras, [data((2, 6, 6, 1))], f64, y=[data((2, 2), 3)])
