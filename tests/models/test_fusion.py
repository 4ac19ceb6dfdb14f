"""The rewrites a graph makes of its steps (models/fusion.py): a ReLU after max pooling runs as
pooling then ReLU, or in the pooling's pass, with the values and gradients of the layers as
declared, bit for bit; it stays where its output is read elsewhere. A Conv2D that only a
MaxPool2D reads (a Conv1D, a MaxPool1D) runs with it as one step (``apply_pooled``); where its
backward is a kernel (numba's, backends/_numba/windows.py), tests/backends/test_fast_paths.py
holds it to the portable form."""

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
              ["Conv2D"]),  # the ReLU in the pooling's pass (Backend.relu_max_pool), in the convolution's step
    "max2d-overlapping-same": ((3, 6, 6, 2), lambda: [xdl.Conv2D(output_channels=2, kernel_size=1), xdl.ReLU(),
                                                      xdl.MaxPool2D(3, 2, "same")], ["Conv2D"]),
    "max1d": ((3, 8, 2), lambda: [xdl.Conv1D(filters=2, kernel_size=1), xdl.ReLU(), xdl.MaxPool1D(2)],
              ["Conv1D"]),
    "global2d-activation-layer": ((3, 6, 6, 2), lambda: [xdl.Conv2D(output_channels=2, kernel_size=1),
                                                         xdl.Activation("relu"), xdl.GlobalMaxPooling2D()],
                                  ["Conv2D", "GlobalMaxPooling2D", "Activation"]),
    "conv2d-activation-argument": ((3, 6, 6, 2), lambda: [xdl.Conv2D(output_channels=2, kernel_size=1,
                                                                     activation="relu"), xdl.MaxPool2D(2)],
                                   ["Conv2D"]),
    "conv1d-activation-argument": ((3, 8, 2), lambda: [xdl.Conv1D(filters=2, kernel_size=1, activation="relu"),
                                                       xdl.MaxPool1D(2)], ["Conv1D"]),
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
    r = xdl.ReLU(name="relu")(xdl.Conv2D(output_channels=2, kernel_size=1, name="conv")(x))
    p = xdl.MaxPool2D(2, name="pool")(r)
    fan_out = xdl.Model(inputs=x, outputs=[xdl.Flatten()(p), xdl.GlobalAveragePooling2D()(r)])
    as_output = xdl.Model(inputs=x, outputs=[p, r])
    for model in (fan_out, as_output):
        names = [s.layer.name for s in model.graph.steps]
        assert names.index("relu") < names.index("pool")
    moved = xdl.Model(inputs=x, outputs=p)
    (step,) = moved.graph.steps  # the ReLU in the pooling's pass, and that in the convolution's step
    assert step.layer.name == "conv" and step.apply.keywords == {"pool": p.node.layer, "relu": True}
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
    assert [type(s.layer).__name__ for s in model.graph.steps] == ["Conv2D", "Flatten", "Dense"]
    check_gradients(model, [data((2, 6, 6, 1))], f64, y=[data((2, 2), 3)])
    keras = xdl.Sequential([xdl.Conv2D(filters=3, kernel_size=3, activation="relu"), xdl.MaxPooling2D(2),
                            xdl.Flatten(), xdl.Dense(output_size=2)])
    keras.compile(loss="mse")
    keras.build((6, 6, 1))
    first = keras.graph.steps[0]  # the convolution without its ReLU, the pooling with it, one step
    assert [type(s.layer).__name__ for s in keras.graph.steps] == ["Conv2D", "Flatten", "Dense"]
    assert first.apply.func == first.layer.apply_pooled and first.apply.keywords["relu"]
    check_gradients(keras, [data((2, 6, 6, 1))], f64, y=[data((2, 2), 3)])


CONV_POOLS = {  # id: (input shape, the convolution's arguments, the pooling's, a ReLU between)
    "crop": ((2, 9, 8, 8), dict(kernel_size=3), dict(pool_size=2), True),  # 7 x 6 outputs, 6 x 6 read
    "no-relu": ((2, 8, 8, 8), dict(kernel_size=3, padding="same"), dict(pool_size=2), False),
    "overlap-strided": ((2, 11, 10, 6), dict(kernel_size=(3, 2), strides=(1, 2)), dict(pool_size=3, strides=2), True),
    "pool-same": ((1, 7, 9, 8), dict(kernel_size=3, use_bias=False), dict(pool_size=2, padding="same"), True),
    "pool-pad": ((1, 8, 8, 8), dict(kernel_size=3), dict(pool_size=3, strides=2, padding=1), False),
    "dilated": ((2, 10, 10, 8), dict(kernel_size=3, dilation_rate=(2, 1)), dict(pool_size=2), True),
    "dilated-width": ((2, 10, 10, 8), dict(kernel_size=3, dilation_rate=2), dict(pool_size=2), True),
    "gaps": ((2, 11, 11, 8), dict(kernel_size=3), dict(pool_size=2, strides=3), True),  # rows no window reads
    "narrow": ((2, 9, 9, 1), dict(kernel_size=3), dict(pool_size=2), True),
    # sequences: Conv1D and MaxPool1D
    "1d-windows-of-3": ((2, 14, 8), dict(kernel_size=3), dict(pool_size=3), True),  # 12 outputs, 4 windows
    "1d-odd": ((2, 13, 8), dict(kernel_size=3, strides=1), dict(pool_size=2), False),  # 11 outputs, 10 read
    "1d-causal-same": ((2, 12, 6), dict(kernel_size=4, padding="causal"), dict(pool_size=3, strides=2, padding="same"),
                       True),
    "1d-strided-gaps": ((2, 21, 8), dict(kernel_size=3, strides=2), dict(pool_size=2, strides=3), True),
}


def _conv_pool_layers(shape, conv, pool, relu, filters, **named):
    """The case's convolution, its ReLU where it has one, and its max pooling: 2-D or 1-D by the
    input's rank."""
    conv_type, pool_type = (xdl.Conv2D, xdl.MaxPool2D) if len(shape) == 4 else (xdl.Conv1D, xdl.MaxPool1D)
    return [conv_type(filters=filters, **conv, **named)] + [xdl.ReLU()] * relu + [pool_type(**pool)]


@pytest.mark.parametrize("case", list(CONV_POOLS))
def test_conv_into_max_pooling_gradients(f64, case):
    """Finite differences through the fused step, its input's gradient included (a layer before it)."""
    shape, conv, pool, relu = CONV_POOLS[case]
    shape = shape[:-1] + (2,)  # widened to the case's channels by the layer before: fewer inputs to vary
    before = xdl.Conv2D if len(shape) == 4 else xdl.Conv1D
    layers = [before(filters=CONV_POOLS[case][0][-1], kernel_size=1, name="before")]
    layers += _conv_pool_layers(shape, conv, pool, relu, 3, name="conv") + [xdl.Flatten(), xdl.Dense(output_size=2)]
    model = xdl.Sequential(layers)
    model.compile(loss="mse")
    model.build(shape[1:])
    assert [s.layer.name for s in model.graph.steps][:2] == ["before", "conv"]
    assert model.graph.steps[1].apply.func == layers[1].apply_pooled
    check_gradients(model, [data(shape)], f64, y=[data((shape[0], 2), 3)])


@pytest.mark.parametrize("case", list(CONV_POOLS))
def test_conv_into_max_pooling_values_and_gradients_as_declared(be, case):
    """The fused step against the layers applied one after another: the same outputs, and the
    same gradients up to the order of their sums (numba's kernel adds the pooled values' own)."""
    shape, conv, pool, relu = CONV_POOLS[case]
    with xdl.use_floatx("float64"):
        layers = _conv_pool_layers(shape, conv, pool, relu, 4)
        model = xdl.Sequential(layers)
        model.build(shape[1:])
        assert len(model.graph.steps) == 1
        xb = be.asarray(data(shape), dtype=be.xp.float64)
        y, _, backprop = model.graph.run([xb], True)
        dy = be.asarray(data(tuple(y[0].shape), 1), dtype=be.xp.float64)
        model.zero_grad()
        dx = backprop([dy], True)[0]
        grads = [host(p.grad) for p in layers[0].parameters()]
        want_y, want_dx, want_grads = _declared_order(layers, xb, dy)
        np.testing.assert_array_equal(host(model.graph.infer([xb])[0]), want_y)
    np.testing.assert_array_equal(host(y[0]), want_y)
    np.testing.assert_allclose(host(dx), want_dx, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, want_grads):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_conv_stays_apart_where_its_output_is_read_elsewhere_or_activated(be):
    x = xdl.Input(shape=(6, 6, 2))
    c = xdl.Conv2D(filters=2, kernel_size=3, name="conv")(x)
    p = xdl.MaxPool2D(2, name="pool")(c)
    fan_out = xdl.Model(inputs=x, outputs=[xdl.Flatten()(p), xdl.GlobalAveragePooling2D()(c)])
    as_output = xdl.Model(inputs=x, outputs=[p, c])
    tanh = xdl.Model(inputs=x, outputs=xdl.MaxPool2D(2, name="pool")(
        xdl.Conv2D(filters=2, kernel_size=3, activation="tanh", name="conv")(x)))
    average = xdl.Model(inputs=x, outputs=xdl.AveragePooling2D(2, name="pool")(
        xdl.Conv2D(filters=2, kernel_size=3, name="conv")(x)))
    for model in (fan_out, as_output, tanh, average):
        names = [s.layer.name for s in model.graph.steps]
        assert names.index("conv") < names.index("pool")
    fused = xdl.Model(inputs=x, outputs=p)
    assert [s.layer.name for s in fused.graph.steps] == ["conv"]
    assert [layer.name for layer in fused.layers] == ["conv", "pool"]  # as declared, for users
    assert fused.graph.propagate([(6, 6, 2)]) == [(2, 2, 2)]
