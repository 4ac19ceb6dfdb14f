"""Layers of one's own in ``model.export(path, format="onnx")``: a ``call`` written with
``xdl.ops`` (and the layers the layer holds) is traced on symbolic tensors into ONNX nodes, its
weights initializers; onnxruntime at two batch sizes equals ``predict`` within 1e-4. What a
trace cannot write (an op without an ONNX form, control flow on the data's values, a shape
holding the batch size) is refused naming the layer."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.io.test_onnx_export import export_and_compare, export_on, functional, randomize, refused, sequential
from xdl import layers as L
from xdl import ops
from xdl.core import symbolic

onnx = pytest.importorskip("onnx", reason="ONNX export tests need onnx: pip install xdl[onnx]")
pytest.importorskip("onnxruntime", reason="ONNX export tests need onnxruntime: pip install xdl[onnx]")


# -- layers of one's own ---------------------------------------------------------------------------------
class MyDense(L.Layer):
    """Keras's example layer: relu(x @ w + b)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight((input_shape[-1], self.units), initializer="glorot_uniform", name="w")
        self.b = self.add_weight((self.units,), initializer="zeros", name="b")

    def call(self, x):
        return ops.relu(ops.matmul(x, self.w) + self.b)


class WithDense(L.Layer):
    """A built-in sublayer beside ops: its output and a weighted copy of the input, joined; the
    weight on the left of ``*`` (a Parameter's operator meets a symbolic tensor)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(3, activation="tanh")

    def build(self, input_shape):
        self.gain = self.add_weight((input_shape[-1],), initializer="ones", name="gain")

    def call(self, x):
        return ops.concatenate([self.dense(x), self.gain * ops.sigmoid(x)], axis=-1)


class Residual(L.Layer):
    """A residual block: x + Dense(Dense(x)), normalized."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.inner = L.Dense(units, activation="relu")
        self.outer = L.Dense(units)
        self.norm = L.LayerNormalization()

    def call(self, x):
        return self.norm(x + self.outer(self.inner(x)))


class Standardize(L.Layer):
    """Non-trainable weights (statistics, as Keras's ``Normalization`` keeps them) and a value
    computed from weights alone (``exp(log_scale)``, on the left of ``*``)."""

    def build(self, input_shape):
        self.mean = self.add_weight(tuple(input_shape[-1:]), initializer="zeros", trainable=False, name="mean")
        self.variance = self.add_weight(tuple(input_shape[-1:]), initializer="ones", trainable=False, name="variance")
        self.log_scale = self.add_weight((), initializer="zeros", name="log_scale")

    def call(self, x, training=None):
        return ops.exp(self.log_scale) * (x - self.mean) / ops.sqrt(self.variance + 1e-3)


class Pooled(L.Layer):
    """Sequences of any length: a mean over time, a weight matrix, a layer of one's own inside."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.project = MyDense(4)

    def call(self, x):
        return self.project(ops.mean(x, axis=1)) + ops.max(x, axis=1)[:, :1]


class Pair(L.Layer):
    """Two inputs in, two outputs out."""

    def call(self, inputs):
        a, b = inputs
        return a * b, ops.reshape(a - b, (-1, a.shape[-1], 1))


class Gated(L.Layer):
    """Python may read the weights' values (they are fixed in the file): not the data's."""

    def build(self, input_shape):
        self.gate = self.add_weight((input_shape[-1],), initializer="ones", name="gate")

    def call(self, x):
        if float(ops.max(self.gate)) > 10.0:  # decided at export, as on data
            return x
        return ops.where(x > 0, x * self.gate, x / (1.0 + ops.abs(self.gate)))


class Sub(xdl.Model):
    """A subclassed model: its own call over layers, a layer of one's own, ops."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = L.Dense(6, activation="relu")
        self.block = Residual(6)
        self.last = L.Dense(2)

    def call(self, x, training=False):
        return ops.softmax(self.last(self.block(self.first(x))) * 2.0)


# -- what exports ----------------------------------------------------------------------------------------
def _pair():
    a, b = xdl.Input((3,)), xdl.Input((3,))
    product, stacked = Pair(name="pair")([a, b])
    return functional([a, b], [product, L.Flatten()(stacked)]), [(3,), (3,)]


def _residual():
    x = xdl.Input((5,))
    h = L.Dense(6, activation="relu")(x)
    h = Residual(6, name="block_1")(h)
    h = Residual(6, name="block_2")(h)
    return functional(x, L.Dense(2)(h)), [(5,)]


def _subclassed():
    model = Sub()
    model.predict(np.ones((2, 5), np.float32), verbose=0)
    return randomize(model), [(5,)]


def _subclassed_inside():
    x = xdl.Input((4,))
    inner = Sub()
    return functional(x, L.Dense(3)(inner(L.Dense(5)(x)))), [(4,)]


CASES = {
    "dense_like": lambda: (sequential((5,), MyDense(4), MyDense(3)), [(5,)]),
    "dense_like_sequences": lambda: (sequential((4, 5), MyDense(3)), [(4, 5)]),
    "built_in_sublayer_and_concatenate": lambda: (sequential((4,), WithDense(), L.Dense(2)), [(4,)]),
    "residual_blocks_in_a_functional_model": _residual,
    "non_trainable_weights": lambda: (sequential((3, 4), Standardize(), L.Dense(2)), [(3, 4)]),
    "free_length_and_nested_layers": lambda: (sequential((None, 5), Pooled()), [(7, 5)]),
    "two_inputs_two_outputs": _pair,
    "lambda": lambda: (sequential((4,), L.Dense(4), L.Lambda(lambda t: ops.tanh(t) * 2.0 + t[:, ::-1])), [(4,)]),
    "subclassed_model": _subclassed,
    "subclassed_model_inside_a_functional_model": _subclassed_inside,
    "weights_read_in_python": lambda: (sequential((4,), L.Dense(4), Gated()), [(4,)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layers_of_ones_own_export(case, tmp_path):
    with xdl.use_backend("numpy"):
        model, specs = CASES[case]()
        export_and_compare(model, specs, tmp_path)


@pytest.mark.parametrize("backend", ["torch", "array_api_strict"])
@pytest.mark.parametrize("case", ["built_in_sublayer_and_concatenate", "non_trainable_weights", "subclassed_model"])
def test_layers_of_ones_own_export_on_other_backends(case, backend, tmp_path):
    export_on(backend, CASES[case], tmp_path)


def test_weights_are_initializers_once_and_non_trainable_ones_too(tmp_path):
    x = xdl.Input((4,))
    block, norm = Residual(4, name="shared"), Standardize(name="stats")
    model = functional(x, block(norm(block(x))))  # a layer used twice reads its weights once
    proto = export_and_compare(model, [(4,)], tmp_path)
    sizes = sorted(int(np.prod(t.dims)) for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
    weights = sorted(int(np.prod(w.shape)) for w in model.get_weights())
    for size in weights:  # every weight is there (constants such as 1e-3 too)
        assert size in sizes
    assert sum(sizes) < 2 * sum(weights)
    # a weight an op reads is an initializer of its name; sqrt(variance + 1e-3), computed from
    # weights alone, is one computed at export
    assert any("/stats/" in t.name and t.name.endswith("/mean") for t in proto.graph.initializer)


def test_the_trace_leaves_nothing_behind(tmp_path):
    x = xdl.Input((4,))
    block = Residual(4)
    model = functional(x, block(x))
    before = (len(block.inner.__dict__.get("_inbound_nodes", ())), len(model.layers), block.losses,
              dict(symbolic._counts))
    model.export(tmp_path / "m.onnx", format="onnx", verbose=False)
    after = (len(block.inner.__dict__.get("_inbound_nodes", ())), len(model.layers), block.losses,
             dict(symbolic._counts))
    assert after == before  # default names count on as they did


# -- what is refused --------------------------------------------------------------------------------------
class Rolled(L.Layer):
    def call(self, x):
        return ops.roll(x, 1, axis=1) + x


class Branching(L.Layer):
    def call(self, x):
        if ops.mean(x) > 0:  # a value of the data decides: a trace sees no value
            return x
        return -x


class Scaled(L.Layer):
    def call(self, x):
        return x / float(ops.max(x))


class BatchReshape(L.Layer):
    def call(self, x):
        return ops.reshape(x, (x.shape[0], 2, -1))


class FixedBatch(L.Layer):
    def call(self, x):
        return ops.reshape(x, (2, -1))


class TrainingFlag(L.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.drop = L.Dropout(0.5)

    def call(self, x, training=None):
        return self.drop(x, training=training)


def built(layer, shape=(4,)):
    model = xdl.Sequential([xdl.Input(shape), L.Dense(shape[-1]), layer])
    model.predict(np.ones((2, *shape), np.float32), verbose=0)
    return model


def test_an_op_without_an_onnx_form_is_refused_naming_it_and_the_layer(tmp_path):
    refused(built(Rolled(name="rolled")), tmp_path, "ops.roll has no ONNX form", "in rolled (Rolled)")


def test_control_flow_on_the_data_is_refused(tmp_path):
    for layer, name in ((Branching(name="branching"), "branching (Branching)"), (Scaled(name="scaled"),
                                                                                  "scaled (Scaled)")):
        message = refused(built(layer), tmp_path, name, "reads a value of the data", "ops.where")
        assert "XdlError" not in message


def test_a_shape_holding_the_batch_size_is_refused(tmp_path):
    x = xdl.Input((4,))
    refused(xdl.Model(x, BatchReshape(name="flat")(x)), tmp_path, "flat (BatchReshape)", "ops.reshape",
            "holding None", "write -1")
    refused(built(FixedBatch(name="fixed")), tmp_path, "in fixed (FixedBatch)", "fixes the batch size at 2")


def test_a_sublayer_called_with_training_inside_a_call_exports_in_inference_form(tmp_path):
    with xdl.use_backend("numpy"):
        export_and_compare(built(TrainingFlag(name="flagged")), [(4,)], tmp_path)
    x = xdl.Input((4,))  # outside a trace, a graph node still takes no training=
    with pytest.raises(xdl.ArgumentTypeError, match="extra arguments"):
        L.Dropout(0.5)(x, training=True)


def test_a_subclassed_model_not_yet_called_is_refused(tmp_path):
    with pytest.raises(xdl.errors.NotBuiltError):
        Sub().export(tmp_path / "m.onnx", format="onnx", verbose=False)
    assert not (tmp_path / "m.onnx").exists()
