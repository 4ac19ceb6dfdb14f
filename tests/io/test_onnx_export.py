"""``model.export(path, format="onnx")``: every exportable layer, in a model, run by onnxruntime
at two batch sizes, equals ``predict`` within 1e-4 (float32); the file passes ``onnx.checker``,
declares opset 18 or newer and a free batch axis. What cannot be exported is refused naming
the layer and its class; bad arguments are refused as xdl errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import xdl
from tests.conftest import status
from xdl import layers as L
from xdl.io.export.ops import OPS

onnx = pytest.importorskip("onnx", reason="ONNX export tests need onnx: pip install xdl[onnx]")
ort = pytest.importorskip("onnxruntime", reason="ONNX export tests need onnxruntime: pip install xdl[onnx]")

BATCHES = (1, 4)


# -- running an exported model ----------------------------------------------------------------------
def randomize(model, seed=0):
    """Every weight random (biases too, so a misplaced one shows), variances positive: a
    BatchNorm's moving statistics are far from the identity's."""
    rng = np.random.default_rng(seed)
    weights = {}
    for key, value in xdl.export_weights(model).items():
        if "variance" in key:
            weights[key] = rng.uniform(0.5, 2.0, value.shape)
        else:
            weights[key] = rng.normal(0.0, 0.4, value.shape)
    xdl.import_weights(model, {k: v.astype(np.float32) for k, v in weights.items()})
    return model


def data(specs, batch, seed=1):
    """One array per input spec: ``shape`` (floats), ``("int", shape, high)`` (indices),
    ``("padded_ids", shape, high)`` (indices with 0s for Embedding(mask_zero=True)),
    ``("mask", shape)`` (0/1, some rows all 0) or ``("padded", shape)`` (floats, some steps all 1.5)."""
    rng = np.random.default_rng(seed + batch)
    out = []
    for spec in specs:
        if spec[0] == "int":
            out.append(rng.integers(0, spec[2], (batch, *spec[1])).astype(np.int64))
        elif spec[0] == "mask":
            mask = (rng.random((batch, *spec[1])) > 0.4).astype(np.float32)
            mask[:, 0, :] = 0.0  # a query that may attend no key: zeros, not NaN
            out.append(mask)
        elif spec[0] == "padded_ids":  # 0 pads: before, after, inside, and a row of nothing
            ids = rng.integers(1, spec[2], (batch, *spec[1]))
            ids[0, :2] = 0
            ids[1:, -2:] = 0
            ids[:, 3] *= rng.random(batch) > 0.5
            ids[-1] = 0 if batch > 2 else ids[-1]
            out.append(ids.astype(np.int64))
        elif spec[0] == "padded":
            x = rng.standard_normal((batch, *spec[1])).astype(np.float32)
            x[:, -2:] = 1.5
            x[0, 1] = 1.5
            out.append(x)
        else:
            out.append(rng.standard_normal((batch, *spec)).astype(np.float32))
    return out


def session(path):
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors reach the test as exceptions
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_and_compare(model, specs, tmp_path, batches=BATCHES, tolerance=1e-4):
    """Export, check the file, and compare onnxruntime with ``predict`` at each batch size."""
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx", verbose=False)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    for value in proto.graph.input:
        assert value.type.tensor_type.shape.dim[0].dim_param, "the batch axis must be free"
    run = session(path)
    names = [i.name for i in run.get_inputs()]
    for batch in batches:
        xs = data(specs, batch)
        expected = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        expected = expected if isinstance(expected, list) else [expected]
        got = run.run(None, dict(zip(names, xs)))
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == np.shape(xdl.to_numpy(e)), (g.shape, np.shape(e))
            np.testing.assert_allclose(g, xdl.to_numpy(e), rtol=tolerance, atol=tolerance)
    return proto


def sequential(input_shape, *layers, dtype=None):
    return randomize(xdl.Sequential([xdl.Input(input_shape, dtype=dtype), *layers]))


def functional(inputs, outputs):
    return randomize(xdl.Model(inputs, outputs))


# -- the layers, each in a model ---------------------------------------------------------------------
ACTIVATION_LAYERS = {  # made per test: a layer belongs to the backend it was built on
    "relu": L.ReLU, "leaky_relu": lambda: L.LeakyReLU(0.2), "sigmoid": L.Sigmoid, "tanh": L.Tanh,
    "softmax_axis1": lambda: L.Softmax(axis=1), "silu": L.SiLU, "elu": lambda: L.ELU(0.7), "softplus": L.Softplus,
    "softsign": L.Softsign, "mish": L.Mish, "gelu": L.GELU, "gelu_tanh": lambda: L.GELU(approximate="tanh"),
    "activation_softmax": lambda: L.Activation("softmax")}


def _dense_3d():
    return sequential((5, 6), L.Dense(7, activation="tanh"), L.Dense(3, use_bias=False)), [(5, 6)]


def _conv2d(**options):
    return lambda: (sequential((9, 8, 3), L.Conv2D(4, 3, **options)), [(9, 8, 3)])


def _conv1d(**options):
    return lambda: (sequential((11, 3), L.Conv1D(4, 3, **options)), [(11, 3)])


def _free_images():
    """Sizes left free: "same" padding is computed at run time."""
    model = sequential((None, None, 3), L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
                       L.Conv2D(4, 3, dilation_rate=2, padding="same"), L.MaxPool2D(2, strides=3, padding="same"),
                       L.DepthwiseConv2D(3, strides=2, padding="same"), L.AvgPool2D(2, strides=3, padding="same"),
                       L.GlobalAveragePooling2D())
    return model, [(23, 17, 3)]


def _free_sequences():
    return sequential((None, 3), L.Conv1D(4, 3, padding="same"), L.Conv1D(2, 2, padding="causal", dilation_rate=2),
                      L.AvgPool1D(3, strides=2, padding="same"), L.GlobalMaxPooling1D()), [(9, 3)]


def _transpose(cls, shape, **options):
    return lambda: (sequential(shape, cls(4, 3, **options)), [shape])


def _pool(layer, shape=(9, 8, 3)):
    return lambda: (sequential(shape, layer), [shape])


def _batch_norm():
    model = sequential((6, 6, 3), L.Conv2D(4, 3), L.BatchNormalization(), L.BatchNorm(),
                       L.Flatten(), L.BatchNormalization(center=False, scale=False))
    return model, [(6, 6, 3)]


def _layer_norm():
    return sequential((5, 6), L.LayerNormalization(), L.LayerNorm(), L.LayerNormalization(center=False)), [(5, 6)]


def _identities():
    return sequential((8, 8, 3), L.RandomFlip(), L.RandomContrast(0.2), L.RandomTranslation(0.1, 0.1),
                      L.RandomZoom(0.1), L.RandomRotation(0.1), L.SpatialDropout2D(0.3), L.GaussianNoise(0.5),
                      L.Dropout(0.5), L.Identity(), L.Reshape((-1, 3)), L.SpatialDropout1D(0.2)), [(8, 8, 3)]


def _shapes():
    return sequential((4, 6), L.Permute((2, 1)), L.Reshape((3, -1)), L.Flatten(), L.RepeatVector(3),
                      L.Dense(2)), [(4, 6)]


def _resize(interpolation):
    model = sequential((5, 4, 2), L.ZeroPadding2D(((1, 2), (0, 1))),
                       L.UpSampling2D((2, 3), interpolation=interpolation), L.Cropping2D(((1, 0), (2, 1))),
                       L.Conv2D(2, 1))
    return model, [(5, 4, 2)]


def _embedding():
    return sequential((7,), L.Embedding(20, 4), L.Flatten(), L.Dense(3), dtype="int64"), [("int", (7,), 20)]


def _recurrent(cls, **options):
    def build():
        model = sequential((None, 3), cls(5, **options), *([L.Dense(2)] if not options.get("return_sequences")
                                                             else [L.TimeDistributed(L.Dense(2))]))
        return model, [(6, 3)]
    return build


def _states():
    """LSTM's final states out, a GRU started from one of them (initial_state tensors)."""
    inputs = xdl.Input((6, 3))
    y, h, c = L.LSTM(4, return_sequences=True, return_state=True)(inputs)
    z = L.GRU(4)(y, initial_state=h)
    w = L.LSTM(4, go_backwards=True)(inputs, initial_state=[h, c])
    return functional(inputs, [z, w, c]), [(6, 3)]


def _bidirectional(cell, mode, sequences):
    def build():
        model = sequential((None, 3), L.Bidirectional(cell(4, return_sequences=sequences), merge_mode=mode),
                           L.Dense(2))
        return model, [(5, 3)]
    return build


def _bidirectional_states():
    inputs, h = xdl.Input((5, 3)), xdl.Input((4,))
    y, *states = L.Bidirectional(L.GRU(4, return_state=True, go_backwards=True))(inputs, initial_state=[h, h])
    return functional([inputs, h], [y, *states]), [(5, 3), (4,)]


def _attention(causal=False, masked=False, scores=False, key=False, **options):
    def build():
        q, v = xdl.Input((5, 6)), xdl.Input((7, 4))
        k = xdl.Input((7, 3)) if key else None
        mask = xdl.Input((5, 7)) if masked else None
        mha = L.MultiHeadAttention(2, 3, **options)
        out = mha(q, v, key=k, attention_mask=mask, use_causal_mask=causal, return_attention_scores=scores)
        inputs = [q, v] + ([k] if key else []) + ([mask] if masked else [])
        specs = [(5, 6), (7, 4)] + ([(7, 3)] if key else []) + ([("mask", (5, 7))] if masked else [])
        return functional(inputs, list(out) if scores else out), specs
    return build


def _self_attention():
    x = xdl.Input((None, 8))
    y = L.MultiHeadAttention(4, 2)(x, x, use_causal_mask=True)
    return functional(x, y), [(6, 8)]


def _transformer(sinusoidal):
    ids = xdl.Input((None,), dtype="int64")
    x = L.Embedding(30, 8)(ids)
    x = L.Add()([x, L.PositionEmbedding(12, 8, sinusoidal=sinusoidal)(x)])
    x = L.TransformerBlock(8, 2, 16)(x)
    return functional(ids, L.Dense(5)(x)), [("int", (7,), 30)]


def _merges():
    a, b, c = xdl.Input((3, 4)), xdl.Input((3, 4)), xdl.Input((3, 4))
    outputs = [L.Add()([a, b, c]), L.Subtract()([a, b]), L.Multiply()([a, b, c]), L.Average()([a, c]),
               L.Maximum()([a, b, c]), L.Minimum()([b, c]), L.Concatenate(axis=1)([a, b]), L.Concatenate()([a, c])]
    return functional([a, b, c], outputs), [(3, 4)] * 3


def _nested():
    """A Sequential inside a graph, a graph inside a Sequential, one layer used twice."""
    inner = xdl.Sequential([xdl.Input((4,)), L.Dense(5, activation="relu"), L.Dense(3)])
    x = xdl.Input((4,))
    g = xdl.Model(x, L.Dense(4)(x), name="graph_inside")
    shared = L.Dense(3, name="shared")
    a, b = xdl.Input((4,)), xdl.Input((4,))
    outer = xdl.Model([a, b], L.Add()([shared(inner(a)), shared(xdl.Sequential([g, inner])(b))]))
    return randomize(outer), [(4,), (4,)]


def _preprocessing():
    norm = L.Normalization()
    norm.adapt(np.random.default_rng(3).normal(2.0, 3.0, (50, 8, 8, 3)))
    model = xdl.Sequential([xdl.Input((8, 8, 3)), L.Rescaling(0.5, offset=-1.0), L.Rescaling([1.0, 2.0, 3.0]),
                            norm, L.CenterCrop(5, 4), L.Normalization(mean=1.0, variance=4.0, invert=True)])
    return model, [(8, 8, 3)]


def _masking_passes():
    """A mask that only travels through layers that pass it on changes nothing exported."""
    return sequential((5, 3), L.Masking(1.5), L.Dense(4), L.LayerNorm()), [("padded", (5, 3))]


def _time_distributed():
    return sequential((4, 6, 6, 2), L.TimeDistributed(L.Conv2D(3, 3)), L.TimeDistributed(L.Flatten()),
                      L.LSTM(3)), [(4, 6, 6, 2)]


def _masked(*layers):
    """Token ids of any length, 0 the padding (Embedding(mask_zero=True)), through ``layers``."""
    model = sequential((None,), L.Embedding(12, 4, mask_zero=True), *layers, dtype="int64")
    return model, [("padded_ids", (7,), 12)]


def _masked_states():
    ids, h = xdl.Input((7,), dtype="int64"), xdl.Input((3,))
    x = L.Embedding(12, 4, mask_zero=True)(ids)
    y, *states = L.LSTM(3, go_backwards=True, return_sequences=True, return_state=True)(x, initial_state=[h, h])
    z = L.GRU(3, return_sequences=True, zero_output_for_mask=True)(y, initial_state=states[0])
    return functional([ids, h], [z, *states]), [("padded_ids", (7,), 12), (3,)]


def _masked_merge():
    a, c = xdl.Input((7,), dtype="int64"), xdl.Input((7,), dtype="int64")
    x = L.Add()([L.Embedding(12, 4, mask_zero=True)(a), L.Embedding(12, 4, mask_zero=True)(c)])
    return functional([a, c], L.SimpleRNN(3)(L.Masking(0.25)(x))), [("padded_ids", (7,), 12)] * 2


def _masking_layer():
    return sequential((7, 3), L.Masking(1.5), L.LSTM(4, return_sequences=True), L.Dense(2),
                      L.GlobalAveragePooling1D()), [("padded", (7, 3))]


CASES = {
    "dense_3d": _dense_3d,
    "conv2d_valid": _conv2d(activation="relu"), "conv2d_same_strided": _conv2d(strides=2, padding="same"),
    "conv2d_dilated_same": _conv2d(dilation_rate=2, padding="same"), "conv2d_int_padding": _conv2d(padding=(1, 2)),
    "conv2d_strided_valid": _conv2d(strides=(2, 3), use_bias=False),
    "conv1d_valid": _conv1d(strides=2), "conv1d_same": _conv1d(padding="same"),
    "conv1d_causal": _conv1d(padding="causal", dilation_rate=2, activation="gelu"), "conv1d_int": _conv1d(padding=1),
    "free_images": _free_images, "free_sequences": _free_sequences,
    "conv2d_transpose_valid": _transpose(L.Conv2DTranspose, (5, 4, 3), strides=2),
    "conv2d_transpose_same": _transpose(L.Conv2DTranspose, (5, 4, 3), strides=2, padding="same"),
    "conv2d_transpose_output_padding": _transpose(L.Conv2DTranspose, (5, 4, 3), strides=3, output_padding=(1, 2)),
    "conv2d_transpose_dilated": _transpose(L.Conv2DTranspose, (5, 4, 3), dilation_rate=2, padding="same"),
    "conv2d_transpose_gaps": lambda: (sequential((5, 4, 3), L.Conv2DTranspose(2, 1, strides=3)), [(5, 4, 3)]),
    "conv1d_transpose": _transpose(L.Conv1DTranspose, (6, 3), strides=2, padding="same", activation="relu"),
    "conv1d_transpose_valid": _transpose(L.Conv1DTranspose, (6, 3), strides=2, output_padding=1),
    "depthwise": _pool(L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu")),
    "depthwise_strided": _pool(L.DepthwiseConv2D((3, 2), strides=2, use_bias=False)),
    "separable": _pool(L.SeparableConv2D(5, 3, strides=2, depth_multiplier=2, activation="tanh")),
    "max_pool": _pool(L.MaxPool2D(2)), "max_pool_same": _pool(L.MaxPool2D(3, strides=2, padding="same")),
    "avg_pool_same": _pool(L.AvgPool2D(3, strides=2, padding="same")),
    "avg_pool_padded": _pool(L.AvgPool2D(3, strides=1, padding=(1, 1))),
    "max_pool_1d": _pool(L.MaxPool1D(3, strides=2, padding="same"), (9, 3)),
    "avg_pool_1d": _pool(L.AvgPool1D(2), (9, 3)),
    "global_pools_2d": lambda: (sequential((5, 4, 3), L.GlobalMaxPooling2D(keepdims=True), L.GlobalAveragePooling2D()),
                                [(5, 4, 3)]),
    "global_pools_1d": lambda: (sequential((5, 3), L.GlobalAveragePooling1D(keepdims=True), L.GlobalMaxPooling1D()),
                                [(5, 3)]),
    "batch_norm": _batch_norm, "layer_norm": _layer_norm, "identities": _identities, "shapes": _shapes,
    "resize_nearest": lambda: _resize("nearest"), "resize_bilinear": lambda: _resize("bilinear"),
    "embedding": _embedding,
    "simple_rnn": _recurrent(L.SimpleRNN), "simple_rnn_relu_sequences": _recurrent(L.SimpleRNN, activation="relu",
                                                                                  return_sequences=True),
    "simple_rnn_linear_backwards": _recurrent(L.SimpleRNN, activation="linear", go_backwards=True),
    "lstm": _recurrent(L.LSTM), "lstm_sequences": _recurrent(L.LSTM, return_sequences=True),
    "lstm_backwards_sequences": _recurrent(L.LSTM, go_backwards=True, return_sequences=True),
    "gru": _recurrent(L.GRU), "gru_sequences": _recurrent(L.GRU, return_sequences=True),
    "gru_backwards": _recurrent(L.GRU, go_backwards=True),
    "states": _states,
    "bidirectional_lstm_concat": _bidirectional(L.LSTM, "concat", True),
    "bidirectional_gru_sum": _bidirectional(L.GRU, "sum", False),
    "bidirectional_rnn_ave": _bidirectional(L.SimpleRNN, "ave", True),
    "bidirectional_lstm_mul": _bidirectional(L.LSTM, "mul", False),
    "bidirectional_states": _bidirectional_states,
    "attention_cross": _attention(), "attention_masked": _attention(masked=True),
    "attention_causal": _attention(causal=True), "attention_masked_causal_scores": _attention(True, True, True),
    "attention_options": _attention(key=True, value_dim=5, output_shape=3, use_bias=False),
    "self_attention_free_length": _self_attention,
    "transformer_learned_positions": lambda: _transformer(False),
    "transformer_sinusoids": lambda: _transformer(True),
    "merges": _merges, "nested": _nested, "preprocessing": _preprocessing, "masking_passes": _masking_passes,
    "time_distributed": _time_distributed,
    "masked_lstm": lambda: _masked(L.LSTM(5), L.Dense(2)),
    "masked_sequences": lambda: _masked(L.GRU(3, return_sequences=True), L.Dense(3),
                                        L.SimpleRNN(3, return_sequences=True, zero_output_for_mask=True),
                                        L.GlobalAveragePooling1D()),
    "masked_bidirectional": lambda: _masked(L.Bidirectional(L.LSTM(3, return_sequences=True)),
                                            L.Bidirectional(L.GRU(3, go_backwards=True), merge_mode="sum")),
    "masked_states": _masked_states, "masked_merge": _masked_merge, "masking_layer": _masking_layer,
}
CASES.update({f"activation_{name}": (lambda make=make: (sequential((3, 5), L.Dense(4), make()), [(3, 5)]))
              for name, make in ACTIVATION_LAYERS.items()})
CASES.update({f"dense_activation_{name}": (lambda name=name: (sequential((5,), L.Dense(4, activation=name)), [(5,)]))
              for name in L.ACTIVATIONS})


@pytest.mark.parametrize("case", sorted(CASES))
def test_onnxruntime_equals_predict(case, tmp_path):
    with xdl.use_backend("numpy"):
        model, specs = CASES[case]()
        export_and_compare(model, specs, tmp_path)


@pytest.mark.parametrize("backend", ["torch", "array_api_strict"])
@pytest.mark.parametrize("case", ["conv2d_same_strided", "lstm_sequences", "attention_masked_causal_scores",
                                  "transformer_learned_positions", "batch_norm"])
def test_models_of_other_backends_export(case, backend, tmp_path):
    export_on(backend, CASES[case], tmp_path)


def export_on(backend, make, tmp_path):
    """``make()``'s (model, input specs) built on ``backend`` (skipped where it cannot run), exported and compared."""
    s = status(backend)
    if not s.usable:
        pytest.skip(f"{backend}: {s.reason}")
    with xdl.use_backend(backend, fallback=False):
        model, specs = make()
        export_and_compare(model, specs, tmp_path)


def test_a_float64_model_exports_in_float64(tmp_path):
    """Written in the model's dtype (onnxruntime's CPU kernels run float64 for dense layers, not
    for convolutions or recurrent ops: README says so)."""
    with xdl.use_floatx("float64"):
        model = randomize(xdl.Sequential([xdl.Input((5,)), L.Dense(4, activation="tanh"), L.LayerNorm(), L.Dense(2)]))
        model.export(tmp_path / "m.onnx", format="onnx", verbose=False)
        proto = onnx.load(tmp_path / "m.onnx")
        assert {i.data_type for i in proto.graph.initializer} == {onnx.TensorProto.DOUBLE}
        x = np.random.default_rng(0).standard_normal((3, 5))
        run = session(tmp_path / "m.onnx")
        np.testing.assert_allclose(run.run(None, {run.get_inputs()[0].name: x})[0], model.predict(x, verbose=0),
                                   rtol=1e-10, atol=1e-12)


# -- ops on symbolic tensors ----------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # sqrt and log of negatives, on purpose (isnan, isfinite)
def test_ops_on_symbolic_tensors_export(tmp_path):
    ops = xdl.ops
    a, b = xdl.Input((4, 6)), xdl.Input((4, 6))
    h = L.Dense(6)(a)
    outputs = [
        h + 1.0, 2.0 * h - b, h * b / (ops.abs(b) + 1.0), -h, h ** 2, ops.exp(ops.tanh(h)), ops.sqrt(ops.square(b) + 1),
        ops.log1p(ops.abs(h)), ops.expm1(ops.sin(h)), ops.maximum(h, b), ops.minimum(h, 0.5),
        ops.where(h > 0, h, 0.1 * h), ops.clip(h, -0.5, 0.5), ops.relu6(3 * h), ops.silu(h), ops.gelu(h),
        ops.gelu(h, approximate=False), ops.elu(h), ops.leaky_relu(h), ops.sigmoid(h), ops.softplus(h),
        ops.sum(h, axis=1), ops.mean(h, axis=(1, 2), keepdims=True), ops.max(h, axis=-1), ops.min(h, axis=1),
        ops.prod(ops.tanh(h), axis=2), ops.var(h, axis=1), ops.std(h, axis=2), ops.logsumexp(h, axis=-1),
        ops.norm(h, axis=-1), ops.softmax(h, axis=1), ops.log_softmax(h), ops.reshape(h, (-1, 24)),
        ops.transpose(h, (0, 2, 1)), ops.matrix_transpose(h), ops.moveaxis(h, 1, 2), ops.expand_dims(h, 1),
        ops.squeeze(ops.expand_dims(h, 2), axis=2), ops.concatenate([h, b], axis=1), ops.stack([h, b], axis=-1),
        ops.flip(h, axis=1), h[:, 1:3], h[:, -1], h[..., ::2], h[:, None, 2, 1:5:2], h[:, ::-1, 0],
        ops.matmul(h, ops.transpose(b, (0, 2, 1))), h @ ops.transpose(b, (0, 2, 1)),
        ops.astype(h > b, "float32"), ops.cast(ops.argmax(h, axis=-1), "float32"), ops.argmin(h, axis=1),
        ops.astype(ops.any(h > 1.0, axis=-1), "float32"), ops.astype(ops.all(h > -1.0, axis=1), "float32"),
        ops.zeros_like(h) + ops.ones_like(b), ops.tril(h), ops.triu(h, 1), ops.cumsum(h, axis=1),
        ops.rsqrt(ops.abs(h) + 1.0), ops.stop_gradient(h) * 2.0,
    ]
    unit = ops.tanh(h) * 0.9  # in (-1, 1): the inverse trigonometric functions' domain
    f32 = lambda t: ops.astype(t, "float32")
    outputs += [
        ops.absolute(h), ops.acos(unit), ops.asin(unit), ops.atan(h), ops.atanh(unit), ops.acosh(ops.abs(h) + 1.0),
        ops.asinh(h), ops.cos(h), ops.cosh(unit), ops.sinh(unit), ops.tan(unit), ops.erf(h), ops.log2(ops.abs(h) + 1),
        ops.log10(ops.abs(h) + 1), ops.floor(3 * h), ops.ceil(3 * h), ops.round(3 * h), ops.sign(h),
        ops.negative(h), ops.positive(h), ops.relu(h), ops.softsign(h), ops.swish(h), ops.true_divide(h, 2.0),
        ops.power(ops.abs(h), b), ops.pow(2.0, h), f32(ops.equal(ops.round(h), 0.0)), f32(ops.not_equal(h, b)),
        f32(ops.less(h, b)), f32(ops.less_equal(h, 0.1)), f32(ops.greater_equal(h, b)),
        f32(ops.logical_and(h > 0, b > 0)), f32(ops.logical_or(h > 0, b > 0)), f32(ops.logical_xor(h > 0, b > 0)),
        f32(ops.logical_not(h > 0)), f32(ops.isnan(ops.sqrt(h))), f32(ops.isinf(ops.log(ops.relu(h)))),
        f32(ops.isfinite(ops.log(h))), ops.permute_dims(h, (0, 2, 1)), ops.concat([h, b], axis=-1),
        ops.cumulative_sum(h, axis=2), ops.clip(h, min=0.2), ops.where(h > 0, 1.0, 0.0),
    ]
    model = functional([a, b], outputs)
    assert {layer.op for layer in model.layers if hasattr(layer, "op")} == set(OPS), "an op left untested"
    export_and_compare(model, [(4, 6), (4, 6)], tmp_path)


# -- refusals ----------------------------------------------------------------------------------------------
class Rolled(L.Layer):
    """A layer of one's own whose call uses an op without an ONNX form here."""

    def call(self, x):
        return xdl.ops.roll(x, 1, axis=1)


class Subclassed(L.Dense):
    """A built-in layer's subclass: it may compute something else, and has no emitter."""


def refused(model, tmp_path, *words):
    with pytest.raises(xdl.errors.ExportError) as found:
        model.export(tmp_path / "refused.onnx", format="onnx", verbose=False)
    message = str(found.value)
    for word in words:
        assert word in message, message
    assert not (tmp_path / "refused.onnx").exists()
    return message


def test_a_layer_without_an_onnx_form_is_refused_by_name_and_class(tmp_path):
    x = xdl.Input((4,))
    refused(xdl.Model(x, Subclassed(3, name="mine")(x)), tmp_path, "mine (Subclassed)", "no ONNX form for Subclassed")
    refused(xdl.Sequential([xdl.Input((4,)), L.Lambda(lambda t: xdl.ops.roll(t, 1, axis=1), name="rolling")]),
            tmp_path, "in rolling (Lambda)", "ops.roll")
    images = xdl.Sequential([xdl.Input((8, 8, 1)), L.Resizing(4, 4, name="smaller")])
    refused(images, tmp_path, "smaller (Resizing)", "no ONNX form for Resizing")
    nested = xdl.Sequential([xdl.Input((4,)), xdl.Sequential([L.Dense(2), Rolled(name="deep")], name="block")])
    refused(nested, tmp_path, "(Operation) in deep (Rolled) in block (NeuralNetwork)", "ops.roll has no ONNX form")


def test_what_the_onnx_ops_cannot_say_is_refused(tmp_path):
    sequences = xdl.Sequential([xdl.Input((5, 2)), L.SimpleRNN(3, activation="gelu", name="rnn")])
    refused(sequences, tmp_path, "rnn (SimpleRNN)", "activation 'gelu'")
    x = xdl.Input((4,))
    refused(xdl.Model(x, xdl.ops.roll(L.Dense(4)(x), 1, axis=1)), tmp_path, "(Operation)", "ops.roll")
    refused(xdl.Model(x, xdl.ops.squeeze(L.Dense(1)(x))), tmp_path, "ops.squeeze", "axis=None")
    refused(xdl.Model(x, xdl.ops.reshape(L.Dense(4)(x), (2, 2, -1))), tmp_path, "ops.reshape",
            "fixes the batch size at 2", "write -1 first")


# -- the call ---------------------------------------------------------------------------------------------
def small():
    return xdl.Sequential([xdl.Input((3,)), L.Dense(2)])


def test_format_path_and_options_are_checked(tmp_path):
    model = small()
    with pytest.raises(xdl.ArgumentError, match="format 'tf_saved_model' is not supported.*format='onnx'"):
        model.export(tmp_path / "m")
    with pytest.raises(xdl.ArgumentError, match="'litert'"):
        model.export(tmp_path / "m", format="litert")
    with pytest.raises(xdl.ArgumentTypeError, match="format must be a str"):
        model.export(tmp_path / "m", format=1)
    with pytest.raises(xdl.ArgumentTypeError, match="filepath must be a file path"):
        model.export(3, format="onnx")
    with pytest.raises(xdl.ModelSaveError, match="folder"):
        model.export(tmp_path, format="onnx", verbose=False)
    with pytest.raises(xdl.ModelSaveError, match="does not exist"):
        model.export(tmp_path / "missing" / "m.onnx", format="onnx", verbose=False)
    with pytest.raises(xdl.ArgumentTypeError, match="verbose must be True or False"):
        model.export(tmp_path / "m.onnx", format="onnx", verbose="yes")
    with pytest.raises(xdl.ArgumentTypeError, match=r"unknown arguments \['dynamic'\]"):
        model.export(tmp_path / "m.onnx", format="onnx", dynamic=True)
    with pytest.raises(xdl.ArgumentError, match="opset_version"):
        model.export(tmp_path / "m.onnx", format="onnx", opset_version=13)
    assert not (tmp_path / "m.onnx").exists()


def test_verbose_says_where_and_opset_version_is_declared(tmp_path, capsys):
    model = randomize(small())
    model.export(tmp_path / "m.onnx", format="ONNX")
    assert "m.onnx" in capsys.readouterr().out
    for opset in (18, 21):
        model.export(tmp_path / f"m{opset}.onnx", format="onnx", verbose=False, opset_version=opset)
        assert onnx.load(tmp_path / f"m{opset}.onnx").opset_import[0].version == opset
        x = np.ones((2, 3), np.float32)
        run = session(tmp_path / f"m{opset}.onnx")
        np.testing.assert_allclose(run.run(None, {run.get_inputs()[0].name: x})[0],
                                   model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_input_signature_builds_or_narrows(tmp_path):
    model = xdl.Sequential([L.Dense(2)])
    with pytest.raises(xdl.NotBuiltError):
        model.export(tmp_path / "m.onnx", format="onnx", verbose=False)
    model.export(tmp_path / "m.onnx", format="onnx", verbose=False, input_signature=[(None, 5)])
    assert model.built and [d.dim_value for d in onnx.load(tmp_path / "m.onnx").graph.input[0].type.tensor_type
                                                   .shape.dim][1:] == [5]
    free = sequential((None, 3), L.LSTM(2))
    free.export(tmp_path / "f.onnx", format="onnx", verbose=False, input_signature=xdl.Input((7, 3)))
    dims = onnx.load(tmp_path / "f.onnx").graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [7, 3]
    with pytest.raises(xdl.ShapeError, match="does not fit"):
        free.export(tmp_path / "f.onnx", format="onnx", verbose=False, input_signature=[(None, 7, 4)])
    with pytest.raises(xdl.ArgumentError, match="gives 2 inputs"):
        free.export(tmp_path / "f.onnx", format="onnx", verbose=False, input_signature=[(None, 7, 3), (None, 2)])
    with pytest.raises(xdl.ArgumentTypeError, match="input_signature"):
        free.export(tmp_path / "f.onnx", format="onnx", verbose=False, input_signature="x")


def test_hostile_arguments_are_refused_as_xdl_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a hostile str is a file name: it lands here
    model = small()
    hostile = ["loud", -1, 0, 2**70, 1.5, float("nan"), object(), [], (1, 2, 3), True, np.int64(-2), b"x",
               np.zeros((2, 2)), None, ""]
    base = {"filepath": tmp_path / "h.onnx", "format": "onnx", "verbose": False}
    for key in ("filepath", "format", "verbose", "input_signature", "opset_version"):
        for value in hostile:
            try:
                model.export(**{**base, key: value})
            except xdl.XdlError:
                pass


def test_a_missing_onnx_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(xdl.DependencyError, match=r"pip install xdl\[onnx\]"):
        small().export(tmp_path / "m.onnx", format="onnx")


def test_importing_xdl_does_not_import_onnx():
    code = "import sys, xdl; xdl.Sequential([xdl.Dense(1)]); assert 'onnx' not in sys.modules, 'onnx imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
