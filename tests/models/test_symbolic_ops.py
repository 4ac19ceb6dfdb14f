"""Arithmetic and ``xdl.ops`` on symbolic tensors: graph nodes (``Operation``) that run,
train (the tape gives their backward), save and load, and refuse what a file must not hold."""

import json

import numpy as np
import pytest

import xdl
from xdl import layers, ops
from xdl.layers.operation import Operation
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host


def _two_input_model():
    a, b = xdl.Input((4,), name="a"), xdl.Input((4,), name="b")
    h = layers.Dense(3, name="proj")(a)
    z = 2.0 * h - ops.mean(b, axis=-1, keepdims=True) / 4 + h ** 2
    out = ops.concatenate([ops.tanh(z), a[:, :2], -b[..., 1:2]], axis=-1)
    return xdl.Model([a, b], out)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((5, 4)), rng.standard_normal((5, 4))]


def test_ops_on_symbolic_tensors_are_graph_nodes_computing_the_formula(be):
    model = _two_input_model()
    kinds = [layer.op for layer in model.layers if isinstance(layer, Operation)]
    assert {"multiply", "subtract", "divide", "mean", "pow", "add", "tanh", "getitem", "negative",
            "concatenate"} <= set(kinds)
    a, b = _data()
    W, c = (host(p) for p in model.get_layer("proj").get_weights())
    h = a @ W + c
    z = 2.0 * h - b.mean(axis=-1, keepdims=True) / 4 + h ** 2
    assert_close(model.predict([a, b]), np.concatenate([np.tanh(z), a[:, :2], -b[:, 1:2]], axis=-1),
                 rtol=1e-5, atol=1e-5)
    assert ops.shape(xdl.Input((3, 2))) == (None, 3, 2)  # Keras's: the batch axis first


def test_gradients_through_ops_match_finite_differences(be):
    xdl.set_floatx("float64")
    try:
        model = _two_input_model()
        check_gradients(model, _data(1), be)
    finally:
        xdl.set_floatx("float32")


def test_a_model_with_ops_trains_saves_and_loads(be, tmp_path):
    model = _two_input_model()
    x, y = _data(2), np.zeros((5, 6))
    model.compile("adam", "mse")
    losses = model.fit(x, y, epochs=5, batch_size=5, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    model.save(tmp_path / "m.xdl")
    again = xdl.models.load_model(tmp_path / "m.xdl")
    assert_close(again.predict(x), model.predict(x), rtol=1e-6, atol=1e-6)
    clone = xdl.models.model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    assert_close(clone.predict(x), model.predict(x), rtol=1e-6, atol=1e-6)


def test_integer_inputs_and_masks_pass_through_ops(be):
    ids = xdl.Input((6,), dtype="int64")
    keep = ops.cast(ops.not_equal(ids, 0), "float32")
    vectors = layers.Embedding(10, 3, mask_zero=True)(ids)
    scaled = vectors * 2.0  # elementwise: the mask goes on
    assert scaled.masked
    mean = ops.sum(vectors * ops.expand_dims(keep, -1), axis=1) / ops.sum(keep, axis=1, keepdims=True)
    model = xdl.Model(ids, layers.Dense(1)(mean))
    tokens = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 0, 0, 0, 0]])
    embedding = next(layer for layer in model.layers if isinstance(layer, layers.Embedding))
    table = host(embedding.get_weights()[0])
    expected = np.stack([table[[1, 2, 3]].mean(0), table[[4, 5]].mean(0)])
    W, c = (host(p) for p in model.layers[-1].get_weights())
    assert_close(model.predict(tokens), expected @ W + c, rtol=1e-5, atol=1e-6)


def test_what_a_graph_op_cannot_hold_is_refused(be):
    x = xdl.Input((3,))
    with pytest.raises(xdl.ArgumentTypeError, match="make it a weight of a layer of your own"):
        ops.add(x, np.ones(3))
    for config, match in [({"op": "eval"}, "op must name a function of xdl.ops"),
                          ({"op": "__import__"}, "op must name a function of xdl.ops"),
                          ({"op": "operators"}, "op must name a function of xdl.ops"),
                          ({"op": "add", "arguments": [{"tensor": 3}, 1]}, "unexpected argument"),
                          ({"op": "add", "arguments": [{"code": "x"}, 1]}, "unexpected argument"),
                          ({"op": "add", "arguments": [{"tensor": 0, "x": 1}]}, "one key"),
                          ({"op": "add", "tensors": 0}, "tensors must be an int")]:
        with pytest.raises(xdl.XdlError, match=match):
            Operation.from_config(config)


def test_a_file_naming_another_op_is_refused(be, tmp_path):
    x = xdl.Input((3,))
    model = xdl.Model(x, ops.exp(x))
    model.save(tmp_path / "m.xdl")
    spec = json.loads(model.to_json())
    (op,) = [spec for spec in spec["config"]["layers"] if spec["class"] == "Operation"]
    op["config"]["op"] = "system"
    with pytest.raises(xdl.XdlError, match="op must name a function of xdl.ops"):
        xdl.models.model_from_json(json.dumps(spec))
