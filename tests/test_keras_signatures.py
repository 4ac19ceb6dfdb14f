"""Keras's constructor signatures: positional order, Keras's keywords beside xdl's, the
keywords every layer takes (trainable, input_shape...), and the recurrent options."""

import numpy as np
import pytest

import xdl
from xdl import layers
from tests.helpers import assert_close


def test_positional_order_is_keras():
    assert layers.Dense(8, "relu", False).use_bias is False
    conv = layers.Conv2DTranspose(4, 3, 2, "same")
    assert (conv.output_channels, conv.kernel_size, conv.stride, conv.padding) == (4, (3, 3), (2, 2), "same")
    assert layers.Conv1D(4, 5, 2, "causal", None, 1).stride == (1, 2)
    depth = layers.DepthwiseConv2D(3, 2, "same", 2)
    assert (depth.stride, depth.depth_multiplier) == ((2, 2), 2)
    sep = layers.SeparableConv2D(8, 3, 1, "valid", None, 1, 2)
    assert (sep.filters, sep.depth_multiplier) == (8, 2)
    pool = layers.MaxPooling2D((3, 3), 2, "same")
    assert (pool.pool_size, pool.stride, pool.padding) == ((3, 3), (2, 2), "same")
    assert layers.AveragePooling1D(4, 2).stride == (1, 2)
    embed = layers.Embedding(100, 8, "zeros")
    assert (embed.input_dim, embed.output_dim, embed.embeddings_initializer) == (100, 8, "zeros")
    assert layers.SimpleRNN(5, "relu").cell.activation == "relu"
    assert layers.LSTM(7).hidden_size == layers.GRU(units=7).hidden_size == 7


def test_xdl_keywords_stay_and_must_agree():
    assert layers.MaxPooling2D(2, stride=1).stride == (1, 1)
    assert layers.Conv1D(filters=2, kernel_size=3, dilation=2).dilation == (1, 2)
    assert layers.Embedding(vocab_size=5, dim=2).input_dim == 5
    assert layers.LSTM(hidden_size=3, input_size=2).cell.kernel.value.shape == (2, 12)
    with pytest.raises(xdl.ArgumentError, match="input_dim=5 and vocab_size=6 disagree"):
        layers.Embedding(5, 2, vocab_size=6)
    with pytest.raises(xdl.ArgumentError, match="strides=2 and stride=3 disagree"):
        layers.MaxPooling1D(2, strides=2, stride=3)


def test_input_shape_on_a_first_layer_starts_the_model():
    for first in (layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(8, input_dim=4),
                  layers.Dense(8, batch_input_shape=(None, 4)), layers.Dense(8, input_shape=(4,), batch_size=16)):
        model = xdl.Sequential([first, layers.Dense(1)])
        assert model.built and model.count_params() == 4 * 8 + 8 + 9
    model = xdl.Sequential()
    model.add(layers.Embedding(50, 4, input_length=6))
    model.add(layers.GlobalAveragePooling1D())
    assert model.built and model.output.shape == (None, 4)
    with pytest.raises(xdl.ArgumentError, match="give one of input_shape and input_dim"):
        layers.Dense(2, input_shape=(3,), input_dim=3)
    with pytest.raises(xdl.ArgumentError, match="input_shape must be a tuple of positive ints"):
        layers.Dense(2, input_shape=(0,))


def test_trainable_false_at_construction_freezes_the_layer_and_the_layers_inside():
    lstm = layers.LSTM(3, trainable=False)
    bi = layers.Bidirectional(layers.GRU(2), trainable=False)
    model = xdl.Sequential([xdl.Input((5, 2)), lstm, layers.Dense(1, trainable=False)])
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 5
    xdl.Sequential([xdl.Input((5, 2)), bi])
    assert bi.trainable_weights == [] and bi.get_config()["trainable"] is False
    frozen = xdl.Sequential([xdl.Input((3,)), layers.Dense(2)], trainable=False)
    assert frozen.trainable_weights == []


def test_unsupported_keras_options_are_refused_by_name():
    cases = [(lambda: layers.Dense(2, kernel_constraint="max_norm"), "kernel_constraint is not supported"),
             (lambda: layers.Dense(2, activity_regularizer="l2"), "activity_regularizer is not supported"),
             (lambda: layers.LSTM(2, recurrent_dropout=0.1), "recurrent_dropout is not supported"),
             (lambda: layers.GRU(2, reset_after=False), "reset_after=False"),
             (lambda: layers.LSTM(2, stateful=True), "stateful=True is not supported"),
             (lambda: layers.LSTM(2, recurrent_activation="hard_sigmoid"), "recurrent_activation must be 'sigmoid'"),
             (lambda: layers.SimpleRNN(2, use_bias=False), "use_bias=False is not supported"),
             (lambda: layers.MaxPooling2D(data_format="channels_first"), "channels last"),
             (lambda: layers.Conv1D(2, 3, groups=2), "groups must be 1")]
    for make, match in cases:
        with pytest.raises(xdl.ArgumentError, match=match):
            make()
    assert layers.LSTM(2, unroll=True, use_cudnn=False).hidden_size == 2  # speed hints: accepted


def test_go_backwards_reads_the_sequence_last_step_first(be):
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    back = layers.GRU(4, return_sequences=True, go_backwards=True)
    y = back.forward(x)
    plain = layers.GRU(4, return_sequences=True)
    plain.build((5, 3))
    plain.set_weights(back.get_weights())
    assert_close(y, plain.forward(x[:, ::-1].copy()), rtol=1e-6, atol=1e-6)
    again = layers.GRU.from_config(back.get_config())
    assert again.go_backwards is True


def test_recurrent_dropout_on_inputs_is_one_mask_per_sequence(be):
    x = np.ones((3, 6, 4), dtype=np.float64)
    lstm = layers.LSTM(2, dropout=0.5, seed=3, return_sequences=True, dtype="float64")
    lstm.build((6, 4))
    taken = []
    original = lstm.cell.project

    def spy(rows):
        taken.append(np.asarray(be.to_numpy(rows)).reshape(3, 6, 4))
        return original(rows)

    lstm.cell.project = spy
    lstm.forward(x, training=True)
    dropped = taken[-1]
    assert set(np.unique(dropped)) <= {0.0, 2.0}  # kept inputs are scaled by 1 / (1 - rate)
    assert (dropped == dropped[:, :1, :]).all()  # the same mask at every step
    lstm.forward(x)
    assert (taken[-1] == 1.0).all()  # no dropout in inference
    assert layers.LSTM.from_config(lstm.get_config()).dropout == 0.5


def test_dropout_noise_shape_shares_draws_along_axes_of_one(be):
    drop = layers.Dropout(0.5, noise_shape=(None, 1, 4), seed=1)
    y = np.asarray(be.to_numpy(drop.forward(np.ones((8, 5, 4), np.float32), training=True)))
    assert (y == y[:, :1, :]).all() and 0 < (y == 0).mean() < 1
    with pytest.raises(xdl.ShapeError, match="noise_shape"):
        layers.Dropout(0.5, noise_shape=(None, 3)).forward(np.ones((2, 4), np.float32), training=True)


def test_global_pooling_keepdims(be):
    x = np.random.default_rng(1).standard_normal((2, 3, 3, 4)).astype(np.float32)
    for cls in (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D):
        kept, flat = cls(keepdims=True), cls()
        assert_close(kept.forward(x), np.asarray(be.to_numpy(flat.forward(x)))[:, None, None, :])
        assert kept.backward(np.ones((2, 1, 1, 4), np.float32)).shape == x.shape
        assert cls.from_config(kept.get_config()).keepdims is True
    seq = xdl.Sequential([xdl.Input((5, 4)), layers.GlobalAveragePooling1D(keepdims=True)])
    assert seq.output.shape == (None, 1, 4)


def test_embedding_weights_and_regularizers_of_depthwise_layers(be):
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    embed = layers.Embedding(4, 3, weights=[table])
    assert_close(embed.forward(np.array([[2, 0]])), table[[2, 0]][None])
    with pytest.raises(xdl.ShapeError, match=r"weights must have shape \(4, 2\)"):
        layers.Embedding(4, 2, weights=table).forward(np.array([[1]]))
    sep = layers.SeparableConv2D(2, 3, depthwise_regularizer="l2", pointwise_regularizer=xdl.regularizers.l1(0.1))
    model = xdl.Sequential([xdl.Input((5, 5, 2)), sep])
    assert len(model._regularized) == 2
    assert set(sep.get_config()) >= {"depthwise_regularizer", "pointwise_regularizer"}
