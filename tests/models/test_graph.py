"""Graph models: gradients through fan-out, shared layers, merges, nesting, several inputs and
outputs (central differences of the compiled loss, float64, every backend, the inputs' gradients
too); errors when a graph is built."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, away_from_zero


def data(shape, seed=0):
    return away_from_zero(np.random.default_rng(seed), shape)


def labels(n, classes, seed=1):
    return np.random.default_rng(seed).integers(0, classes, n)


def test_fan_out_and_add(f64):
    x = xdl.Input(shape=(3,))
    h = xdl.Dense(output_size=4)(x)
    a, b = xdl.Tanh()(xdl.Dense(output_size=4)(h)), xdl.Sigmoid()(xdl.Dense(output_size=4)(h))
    out = xdl.Dense(output_size=2)(xdl.Add()([a, b, h]))  # h feeds three nodes
    model = xdl.Model(inputs=x, outputs=out)
    model.compile(loss="mse")
    check_gradients(model, [data((5, 3))], f64, y=[data((5, 2), 2)])


def test_shared_layer_applied_twice_adds_both_uses(f64):
    x = xdl.Input(shape=(4,))
    shared = xdl.Dense(output_size=4, name="shared")
    y = shared(xdl.Tanh()(shared(x)))  # the same weights twice in one path
    model = xdl.Model(inputs=x, outputs=y)
    model.compile(loss="mse")
    assert [layer.name for layer in model.layers].count("shared") == 1
    assert len(model.parameters()) == 2
    check_gradients(model, [data((6, 4))], f64, y=[data((6, 4), 3)])


def test_siamese_two_inputs_concatenate(f64):
    a, b = xdl.Input(shape=(3,), name="left"), xdl.Input(shape=(3,), name="right")
    encoder = xdl.Dense(output_size=2)
    joined = xdl.Concatenate()([xdl.Tanh()(encoder(a)), xdl.Tanh()(encoder(b)), a])
    model = xdl.Model(inputs=[a, b], outputs=xdl.Dense(output_size=3)(joined))
    model.compile(loss="cross_entropy")
    check_gradients(model, [data((5, 3)), data((5, 3), 4)], f64, y=[labels(5, 3)])


def test_every_merge_layer(f64):
    a, b = xdl.Input(shape=(4,)), xdl.Input(shape=(4,))
    p, q = xdl.Dense(output_size=3)(a), xdl.Dense(output_size=3)(b)
    merged = [xdl.Subtract()([p, q]), xdl.Multiply()([p, q, p]), xdl.Average()([p, q]), xdl.Maximum()([p, q]),
              xdl.Minimum()([p, q])]
    out = xdl.Dense(output_size=2)(xdl.Concatenate(axis=-1)(merged))
    model = xdl.Model(inputs=[a, b], outputs=out)
    model.compile(loss="mse")
    check_gradients(model, [data((4, 4)), data((4, 4), 5)], f64, y=[data((4, 2), 6)])


def test_nested_sequential_and_nested_model(f64):
    block = xdl.Sequential([xdl.Dense(output_size=4), xdl.Tanh()], name="block")
    inner_in = xdl.Input(shape=(4,))
    inner = xdl.Model(inner_in, xdl.Add()([inner_in, xdl.Dense(output_size=4)(inner_in)]), name="residual")
    x = xdl.Input(shape=(3,))
    y = inner(inner(block(x)))  # a nested functional model used twice: its weights shared
    model = xdl.Model(inputs=x, outputs=xdl.Dense(output_size=2)(y))
    model.compile(loss="mse")
    assert {"block/dense", "residual/dense"} <= {k.rpartition("/")[0].rpartition("/")[0] + "/" +
                                                 k.rpartition("/")[0].rpartition("/")[2].split("_")[0]
                                                 for k in model.named_parameters()}
    assert len(model.parameters()) == 2 + 2 + 2
    check_gradients(model, [data((4, 3))], f64, y=[data((4, 2), 7)])


def test_two_outputs_with_weighted_losses(f64):
    x = xdl.Input(shape=(3,))
    h = xdl.Tanh()(xdl.Dense(output_size=5)(x))
    cls, reg = xdl.Dense(output_size=3, name="cls")(h), xdl.Dense(output_size=1, name="reg")(h)
    model = xdl.Model(inputs=x, outputs=[cls, reg])
    model.compile(loss={"cls": "cross_entropy", "reg": "mse"}, loss_weights=[1.0, 0.3], metrics=[["accuracy"], []])
    check_gradients(model, [data((6, 3))], f64, y=[labels(6, 3), data((6, 1), 8)])
    history = model.fit(data((6, 3)), {"cls": labels(6, 3), "reg": data((6, 1), 8)}, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}
    total = [c + 0.3 * r for c, r in zip(history.history["cls_loss"], history.history["reg_loss"])]
    assert history.history["loss"] == pytest.approx(total, rel=1e-6)
    outputs = model.predict(data((6, 3)))
    assert isinstance(outputs, list) and [tuple(o.shape) for o in outputs] == [(6, 3), (6, 1)]


def test_residual_convolution(f64):
    x = xdl.Input(shape=(4, 4, 1))
    c = xdl.Conv2D(output_channels=2, kernel_size=3, padding="same")(x)
    y = xdl.Conv2D(output_channels=2, kernel_size=3, padding="same")(xdl.Tanh()(c))
    out = xdl.Dense(output_size=2)(xdl.Flatten()(xdl.Add()([c, y])))
    model = xdl.Model(inputs=x, outputs=out)
    model.compile(loss="mse")
    check_gradients(model, [data((2, 4, 4, 1))], f64, y=[data((2, 2), 9)])


def test_recurrent_states_as_outputs(f64):
    x = xdl.Input(shape=(3, 2))
    seq, h, c = xdl.LSTM(hidden_size=2, return_sequences=True, return_state=True)(x)
    assert seq.shape == (None, 3, 2) and h.shape == (None, 2) and c.shape == (None, 2)
    out = xdl.Dense(output_size=2)(xdl.Concatenate()([xdl.GRU(hidden_size=2)(seq), c]))
    model = xdl.Model(inputs=x, outputs=out)
    model.compile(loss="mse")
    check_gradients(model, [data((2, 3, 2))], f64, y=[data((2, 2), 10)])


def test_first_layer_skips_its_input_gradient(be):
    """The first trainable layer is told nobody reads dx; a later one is not."""
    told = []

    class Recording(xdl.Dense):
        def apply(self, x, training=False):
            y, backprop = super().apply(x, training)

            def recorded(dy, need_dx=True):
                told.append((self.name, need_dx))
                return backprop(dy, need_dx)

            return y, recorded

    x = xdl.Input(shape=(3,))
    first = Recording(output_size=3, name="first")
    out = Recording(output_size=2, name="second")(xdl.Add()([first(x), xdl.ReLU()(x)]))
    model = xdl.Model(x, out)
    model.compile(loss="mse", optimizer="sgd")
    model.train_step((be.asarray(np.ones((2, 3)), dtype=be.xp.float32), be.asarray(np.ones((2, 2)), dtype=be.xp.float32)))
    assert told == [("second", True), ("first", False)]  # ReLU(x) is not backpropagated: x is data


def test_sequential_and_functional_reach_identical_weights(be):
    X, y = data((40, 6)), labels(40, 3)

    def layers():
        return [xdl.Dense(output_size=8), xdl.ReLU(), xdl.Dropout(0.2), xdl.Dense(output_size=3)]

    xdl.seed(3)
    sequential = xdl.Sequential(layers())
    sequential.build((6,))
    xdl.seed(3)
    stack = layers()
    t = inputs = xdl.Input(shape=(6,))
    for layer in stack:
        t = layer(t)
    functional = xdl.Model(inputs, t)
    for model in (sequential, functional):
        model.compile(loss="cross_entropy", optimizer=xdl.Adam(1e-2), metrics=["accuracy"])
    h1 = sequential.fit(X, y, epochs=3, batch_size=8, verbose=0, seed=1)
    h2 = functional.fit(X, y, epochs=3, batch_size=8, verbose=0, seed=1)
    assert set(h1.history) == set(h2.history) == {"loss", "accuracy"}
    for key in h1.history:
        assert h1.history[key] == pytest.approx(h2.history[key], rel=1e-6)
    for p, q in zip(sequential.parameters(), functional.parameters()):
        assert_close(p.value, q.value, rtol=1e-6, atol=1e-7, err_msg=p.name)


def test_keras_example_trains(be):
    """The issue's example, as written."""
    inputs = xdl.Input(shape=(8, 8, 1))
    x = xdl.Conv2D(output_channels=4, kernel_size=3, padding="same")(inputs)
    y = xdl.ReLU()(xdl.Conv2D(output_channels=4, kernel_size=3, padding="same")(xdl.ReLU()(x)))
    x = xdl.Add()([x, y])
    outputs = xdl.Dense(output_size=10)(xdl.Flatten()(x))
    model = xdl.Model(inputs=inputs, outputs=outputs)
    model.compile(loss="cross_entropy", optimizer="adam", metrics=["accuracy"])
    X, labels_ = np.random.default_rng(0).random((32, 8, 8, 1)), labels(32, 10)
    history = model.fit(X, labels_, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert tuple(model.predict(X).shape) == (32, 10)


def test_model_called_on_data_and_dict_inputs(be):
    a, b = xdl.Input(shape=(2,), name="a"), xdl.Input(shape=(3,), name="b")
    model = xdl.Model([a, b], xdl.Dense(output_size=1)(xdl.Concatenate()([a, b])))
    left, right = np.ones((4, 2)), np.zeros((4, 3))
    assert_close(model.predict({"b": right, "a": left}), model.predict([left, right]))
    assert_close(model([left, right]), model.predict([left, right]))


def test_model_follows_its_own_backend(be):
    """Built on one backend, stepped while another is active: every part uses the model's."""
    model = xdl.Sequential([xdl.Dense(output_size=3)])
    model.compile(loss="cross_entropy", optimizer="adam", metrics=["accuracy"])
    x, y = data((4, 2)), labels(4, 3)
    model.fit(x, y, epochs=1, verbose=0)
    other = "array_api_strict" if be.name != "array_api_strict" else "numpy"
    with xdl.use_backend(other):
        loss = model.train_step((be.asarray(x, dtype=be.xp.float32), be.asarray(y)))["loss"]
        model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(loss)


# -- errors while the graph is built, before any data -----------------------------------------

def test_layer_on_the_wrong_shape_names_both():
    with pytest.raises(xdl.ShapeError, match=r"dense_in.*\(N, \.\.\., 3\).*\(N, 4\)"):
        xdl.Dense(input_size=3, output_size=2, name="dense_in")(xdl.Input(shape=(4,)))


def test_merging_incompatible_shapes_names_both():
    a, b = xdl.Input(shape=(4,)), xdl.Input(shape=(5,))
    with pytest.raises(xdl.ShapeError, match=r"add_bad.*\(N, 4\).*\(N, 5\)"):
        xdl.Add(name="add_bad")([a, b])
    with pytest.raises(xdl.ShapeError, match=r"\(N, 2, 3\).*\(N, 4, 4\)"):
        xdl.Concatenate()([xdl.Input(shape=(2, 3)), xdl.Input(shape=(4, 4))])


def test_unreachable_outputs_unused_inputs_and_mixed_data():
    a, b = xdl.Input(shape=(2,), name="a"), xdl.Input(shape=(2,), name="b")
    out = xdl.Dense(output_size=1)(b)
    with pytest.raises(xdl.XdlError, match="depend on input 'b'"):
        xdl.Model(inputs=a, outputs=out)
    with pytest.raises(xdl.XdlError, match=r"\['a'\] are not used"):
        xdl.Model(inputs=[a, b], outputs=out)
    with pytest.raises(xdl.XdlError, match="mixed with data"):
        xdl.Add()([a, np.ones((3, 2))])
    with pytest.raises(xdl.XdlError, match="list of tensors"):
        xdl.Add()(a)
    with pytest.raises(xdl.XdlError, match="holds no data"):
        bool(a)


def test_duplicate_layer_names_are_refused():
    x = xdl.Input(shape=(2,))
    y = xdl.Dense(output_size=2, name="twin")(xdl.Dense(output_size=2, name="twin")(x))
    with pytest.raises(xdl.XdlError, match="two layers are named 'twin'"):
        xdl.Model(x, y)


def test_sequential_refuses_a_layer_with_several_outputs():
    model = xdl.Sequential([xdl.LSTM(hidden_size=2, return_state=True), xdl.Dense(output_size=1)])
    with pytest.raises(xdl.XdlError, match="gives 3 outputs"):
        model.predict(np.ones((1, 3, 2)))


def test_readme_two_input_snippet(be):
    rng = np.random.default_rng(0)
    T, B = rng.random((16, 20)), rng.random((16, 100))
    p, d = rng.random((16, 1)), rng.integers(0, 4, 16)
    title, body = xdl.Input(shape=(20,), name="title"), xdl.Input(shape=(100,), name="body")
    encode = xdl.Dense(output_size=32)
    h = xdl.ReLU()(xdl.Concatenate()([encode(title), xdl.Dense(output_size=32)(body)]))
    priority = xdl.Dense(output_size=1, name="priority")(h)
    department = xdl.Dense(output_size=4, name="department")(h)
    model = xdl.Model(inputs=[title, body], outputs=[priority, department])
    model.compile(loss={"priority": "mse", "department": "cross_entropy"}, loss_weights=[1.0, 0.2],
                  optimizer="adam", metrics={"department": ["accuracy"]})
    history = model.fit({"title": T, "body": B}, {"priority": p, "department": d}, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "priority_loss", "department_loss", "department_accuracy"}
    assert len(history["department_accuracy"]) == 2
    scores, classes = model.predict([T, B])
    assert tuple(scores.shape) == (16, 1) and tuple(classes.shape) == (16, 4)
    evaluated = model.evaluate([T, B], [p, d], return_dict=True)
    assert set(evaluated) == set(history.history)


def test_a_layer_making_two_outputs_gives_distinct_output_names(be):
    a, b = xdl.Input((3,), name="a"), xdl.Input((3,), name="b")
    tower = xdl.Dense(output_size=2, name="tower")
    model = xdl.Model([a, b], [tower(a), tower(b)])
    assert model.output_names == ["tower", "tower_2"]
    model.compile(loss=["mse", "mse"])
    history = model.fit([np.ones((4, 3)), np.zeros((4, 3))], [np.ones((4, 2)), np.ones((4, 2))], epochs=1, verbose=0)
    assert set(history.history) == {"loss", "tower_loss", "tower_2_loss"}
    with pytest.raises(xdl.XdlError, match="share names"):
        xdl.Model([xdl.Input((2,), name="same"), xdl.Input((2,), name="same")], tower(a))
