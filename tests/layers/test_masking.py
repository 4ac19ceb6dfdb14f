"""Masks for padded batches: a padded batch gives each sequence the outputs and gradients it has
alone, unpadded (recurrent layers, Bidirectional, Masking, pooling over time, whole models)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host, step_gradients

RNG = np.random.default_rng(11)
LENGTHS = [5, 2, 3]  # the first sequence is full, the others padded at the end
RECURRENT = [xdl.SimpleRNN, xdl.LSTM, xdl.GRU]


def _padded(rng, features=None):
    """(data of the full length, mask (N, T)): tokens in 1..5, or features."""
    shape = (len(LENGTHS), max(LENGTHS)) + (() if features is None else (features,))
    data = rng.integers(1, 6, shape) if features is None else rng.standard_normal(shape)
    mask = np.arange(max(LENGTHS))[None, :] < np.array(LENGTHS)[:, None]
    return data, mask


def _layer_grads(layer, x, dy, mask=None):
    y = layer.forward(x, training=True, mask=mask)
    dx = host(layer.backward(dy))
    return host(y), dx, {k: host(p.grad) for k, p in layer.named_parameters().items()}


@pytest.mark.parametrize("cls", RECURRENT, ids=lambda c: c.__name__)
@pytest.mark.parametrize("wrap", ["plain", "zero_output", "bidirectional"])
def test_recurrent_layer_padded_batch_matches_each_sequence_alone(be, cls, wrap):
    x, mask = _padded(RNG, features=2)
    inner = cls(hidden_size=3, return_sequences=True, dtype="float64",
                zero_output_for_mask=wrap == "zero_output")
    layer = xdl.Bidirectional(inner, merge_mode="concat") if wrap == "bidirectional" else inner
    padded = np.where(mask[..., None], x, 0.0)
    dy = RNG.standard_normal((len(LENGTHS), max(LENGTHS), 6 if wrap == "bidirectional" else 3))
    y, dx, grads = _layer_grads(layer, padded, dy * mask[..., None], mask)
    summed = {k: 0.0 for k in grads}
    for i, n in enumerate(LENGTHS):
        y_i, dx_i, grads_i = _layer_grads(layer, x[i:i + 1, :n], dy[i:i + 1, :n])
        np.testing.assert_allclose(y[i, :n], y_i[0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(dx[i, :n], dx_i[0], rtol=1e-9, atol=1e-12)
        assert np.all(dx[i, n:] == 0)
        summed = {k: summed[k] + grads_i[k] for k in grads}
        # masked steps: zeros, or the last real output repeated (Keras's default)
        if n < max(LENGTHS):
            expected = 0.0 if wrap != "plain" else y_i[0, -1]
            np.testing.assert_allclose(y[i, n:], np.broadcast_to(expected, y[i, n:].shape), atol=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], summed[k], rtol=1e-9, atol=1e-12, err_msg=k)


def _sequence_model(functional, merge_mode="concat"):
    xdl.seed(0)
    layers = [xdl.Embedding(6, 3, mask_zero=True),
              xdl.Bidirectional(xdl.LSTM(hidden_size=4, return_sequences=True), merge_mode=merge_mode),
              xdl.Dense(output_size=5)]
    if functional:
        x = inputs = xdl.Input(shape=(None,), dtype="int64")
        for layer in layers:
            x = layer(x)
        model = xdl.Model(inputs, x)
    else:
        model = xdl.Sequential(layers)
        model.build((None,))  # sequences of any length
    model.compile(loss="cross_entropy", optimizer="sgd", metrics=["accuracy"])
    return model


def _loss_and_grads(model, tokens, labels):
    xs, _ = model.accept_inputs(tokens)
    loss = step_gradients(model, xs, [model.backend.asarray(labels)])
    grads = {k: host(p.grad) for k, p in model.named_parameters().items()}
    return float(host(loss)), host(model.call(xs[0])), grads


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_model_padded_batch_loss_gradients_and_metrics_count_real_steps_only(be, functional):
    with xdl.use_floatx("float64"):
        model = _sequence_model(functional, merge_mode="sum" if functional else "concat")
    tokens, mask = _padded(RNG)
    labels = RNG.integers(0, 5, tokens.shape)
    padded = np.where(mask, tokens, 0)
    assert model.graph.masked
    loss, out, grads = _loss_and_grads(model, padded, labels)
    total, summed = 0.0, {k: 0.0 for k in grads}
    for i, n in enumerate(LENGTHS):  # alone, each sequence's loss is its mean over n steps
        loss_i, out_i, grads_i = _loss_and_grads(model, tokens[i:i + 1, :n], labels[i:i + 1, :n])
        np.testing.assert_allclose(out[i, :n], out_i[0], rtol=1e-9, atol=1e-12)
        total += loss_i * n
        summed = {k: summed[k] + grads_i[k] * n for k in grads}
    steps = sum(LENGTHS)
    np.testing.assert_allclose(loss, total / steps, rtol=1e-9)
    for k in grads:
        np.testing.assert_allclose(grads[k], summed[k] / steps, rtol=1e-8, atol=1e-12, err_msg=k)
    scores = model.evaluate(padded, labels, return_dict=True)
    predicted = host(model.predict(padded)).argmax(axis=-1)
    np.testing.assert_allclose(scores["accuracy"], (predicted == labels)[mask].mean(), rtol=1e-12)
    np.testing.assert_allclose(scores["loss"], loss, rtol=1e-9)


def test_masking_layer_zeros_and_masks_steps_for_the_lstm(be):
    x, mask = _padded(RNG, features=2)
    padded = np.where(mask[..., None], x, 7.0)  # padding marked by a value of its own
    inputs = xdl.Input(shape=(None, 2))
    masking = xdl.Masking(mask_value=7.0)
    lstm = xdl.LSTM(hidden_size=3)
    model = xdl.Model(inputs, lstm(masking(inputs)))
    assert_close(masking.forward(padded), np.where(mask[..., None], x, 0.0))
    out = host(model.predict(padded))
    for i, n in enumerate(LENGTHS):
        assert_close(out[i], host(lstm.forward(x[i:i + 1, :n]))[0], rtol=1e-5, atol=1e-6)


def test_masking_layer_gradients(be):
    layer = xdl.Masking(mask_value=0.0, dtype="float64")
    x = RNG.uniform(0.5, 1.5, (2, 3, 2))
    check_gradients(layer, x, be)  # away from mask_value, where masking is not a jump
    x[0, 1] = 0.0  # a masked step gets no gradient
    layer.forward(x)
    dx = host(layer.backward(np.ones((2, 3, 2))))
    assert np.all(dx[0, 1] == 0) and np.all(dx[1] == 1)


def test_bad_arguments_are_clear_errors(be):
    with pytest.raises(TypeError, match="recurrent layer"):
        xdl.Bidirectional(xdl.Dense(output_size=2))
    with pytest.raises(ValueError, match="merge_mode"):
        xdl.Bidirectional(xdl.LSTM(hidden_size=2), merge_mode="max")
    with pytest.raises(TypeError, match="mask_zero"):
        xdl.Embedding(4, 2, mask_zero=1)
    layer = xdl.LSTM(hidden_size=2)
    with pytest.raises(xdl.ShapeError, match="mask must have shape"):
        layer.forward(np.zeros((2, 3, 1)), mask=np.ones((2, 4), dtype=bool))
    with pytest.raises(xdl.ShapeError, match="masking"):
        xdl.Masking().forward(np.zeros((2, 3)).reshape(2, 3)[:, 0])


def test_a_mask_stops_at_a_layer_without_support_with_a_warning(be):
    inputs = xdl.Input(shape=(4,), dtype="int64")
    x = xdl.Embedding(5, 2, mask_zero=True)(inputs)
    with pytest.warns(UserWarning, match="does not support"):
        x = xdl.Flatten()(x)
    assert not x.masked
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = xdl.Model(inputs, xdl.Dense(output_size=1)(x))
    assert model.graph.masked  # the Embedding still makes one; it goes no further
    assert model.predict(np.array([[1, 2, 0, 0]])).shape == (1, 1)


def test_models_without_masks_keep_the_plain_loop(be):
    model = xdl.Sequential([xdl.Embedding(6, 3), xdl.LSTM(hidden_size=2, return_sequences=True),
                            xdl.Dense(output_size=2)])
    model.build((4,))
    assert not model.graph.masked and not any(step.reads_mask for step in model.graph.steps)


def test_saved_and_loaded(be, tmp_path):
    model = _sequence_model(functional=True, merge_mode="mul")
    tokens, mask = _padded(RNG)
    padded = np.where(mask, tokens, 0)
    before = host(model.predict(padded))
    model.save(tmp_path / "m.xdl")
    loaded = xdl.Model.load(tmp_path / "m.xdl")
    assert loaded.graph.masked
    assert_close(loaded.predict(padded), before, rtol=1e-6)
    seq = xdl.Sequential([xdl.Masking(mask_value=-1.0), xdl.Bidirectional(xdl.SimpleRNN(hidden_size=2))])
    x = RNG.standard_normal((2, 3, 2))
    out = host(seq.predict(x))
    seq.save(tmp_path / "s.xdl")
    assert_close(xdl.Sequential.load(tmp_path / "s.xdl").predict(x), out, rtol=1e-6)


def test_fit_ignores_the_targets_of_padded_steps(be):
    """Two fits whose targets differ only at padded steps train to the same weights."""
    tokens, mask = _padded(np.random.default_rng(3))
    tokens = np.where(mask, tokens, 0)
    labels = np.random.default_rng(4).integers(0, 5, tokens.shape)
    runs = []
    for garbage in (0, 4):
        xdl.seed(1)
        model = xdl.Sequential([xdl.Embedding(6, 4, mask_zero=True), xdl.GRU(hidden_size=4, return_sequences=True),
                                xdl.Dense(output_size=5)])
        model.compile(loss="cross_entropy", optimizer=xdl.Adam(learning_rate=0.05), metrics=["accuracy"])
        history = model.fit(tokens, np.where(mask, labels, garbage), epochs=3, batch_size=2, verbose=0, seed=0)
        runs.append((history["loss"], history["accuracy"], model.get_weights()))
    (loss_a, acc_a, w_a), (loss_b, acc_b, w_b) = runs
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
    np.testing.assert_allclose(acc_a, acc_b)
    for a, b in zip(w_a, w_b):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert loss_a[-1] < loss_a[0]


def test_masks_pass_merges_and_nested_models(be):
    tokens, mask = _padded(RNG)
    tokens = np.where(mask, tokens, 0)
    inputs = xdl.Input(shape=(None,), dtype="int64")
    e = xdl.Embedding(6, 3, mask_zero=True)(inputs)
    merged = xdl.Add()([xdl.LSTM(hidden_size=3, return_sequences=True)(e), xdl.Dense(output_size=3)(e)])
    assert merged.masked
    block = xdl.Model(inputs, merged)
    outer_in = xdl.Input(shape=(None,), dtype="int64")
    outer = xdl.Model(outer_in, xdl.Dense(output_size=2)(block(outer_in)))
    assert outer.graph.masked
    values, masks = outer.graph.infer_masked([be.asarray(tokens)])
    np.testing.assert_array_equal(host(masks[0]), mask)
    labels = RNG.integers(0, 2, tokens.shape)
    outer.compile(loss="cross_entropy", optimizer="sgd", metrics=["accuracy"])
    scores = outer.evaluate(tokens, labels, return_dict=True)
    predicted = host(outer.predict(tokens)).argmax(axis=-1)
    np.testing.assert_allclose(scores["accuracy"], (predicted == labels)[mask].mean(), rtol=1e-6)


def test_pooling_over_time_averages_the_real_steps(be):
    tokens, mask = _padded(RNG)
    with xdl.use_floatx("float64"):
        xdl.seed(2)
        model = xdl.Sequential([xdl.Embedding(6, 3, mask_zero=True), xdl.GRU(hidden_size=3, return_sequences=True),
                                xdl.GlobalAveragePooling1D(), xdl.Dense(output_size=2)])
        model.build((None,))
    dy = RNG.standard_normal((len(LENGTHS), 2))
    out = host(model.forward(np.where(mask, tokens, 0), training=True))
    model.backward(dy)
    grads = {k: host(p.grad) for k, p in model.named_parameters().items()}
    summed = {k: 0.0 for k in grads}
    for i, n in enumerate(LENGTHS):
        np.testing.assert_allclose(out[i], host(model.forward(tokens[i:i + 1, :n], training=True))[0], rtol=1e-10)
        model.backward(dy[i:i + 1])
        summed = {k: summed[k] + host(p.grad) for k, p in model.named_parameters().items()}
    for k in grads:
        np.testing.assert_allclose(grads[k], summed[k], rtol=1e-9, atol=1e-12, err_msg=k)
