"""Text generation (``xdl.generate``): cached decoding gives the full forward's outputs, greedy and
sampled generation with and without the cache, and models it cannot cache."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import assert_close, host
from xdl.models.generation import decode_graph


def tiny_language_model(vocab=11, dim=8, length=12, blocks=2):
    tokens = xdl.Input(shape=(None,), dtype="int64")
    x = xdl.Embedding(vocab, dim)(tokens)
    x = xdl.Add()([x, xdl.PositionEmbedding(length, dim)(x)])
    for _ in range(blocks):
        x = xdl.TransformerBlock(dim, num_heads=2, mlp_dim=16, dropout=0.1)(x)
    return xdl.Model(tokens, xdl.Dense(units=vocab)(xdl.LayerNorm()(x)))


def test_cached_decoding_matches_the_full_forward(be, tmp_path):
    model = tiny_language_model(blocks=1)
    ids = be.asarray(np.random.default_rng(8).integers(0, 11, size=(2, 7)))
    full = host(model.graph.infer([ids])[0])
    model.save(tmp_path / "lm.xdl")  # the block saves and loads on every backend
    assert_close(xdl.Model.load(tmp_path / "lm.xdl").predict(host(ids)), full, rtol=1e-6)
    outs, cache = decode_graph(model.graph, [ids[:, :4]], None)
    steps = [host(outs[0])]
    for t in range(4, 7):  # one token at a time through the cache
        outs, cache = decode_graph(model.graph, [ids[:, t:t + 1]], cache)
        steps.append(host(outs[0]))
    assert_close(np.concatenate(steps, axis=1), full, rtol=1e-4, atol=1e-5)
    prompt = host(ids)[:, :3]
    greedy = [xdl.generate(model, prompt, 6, temperature=0, cache=c) for c in (True, False)]
    np.testing.assert_array_equal(greedy[0], greedy[1])
    drawn = xdl.generate(model, prompt, 6, temperature=0.7, top_k=2, seed=3)
    assert drawn.shape == (2, 9) and drawn.dtype == np.int64 and np.array_equal(drawn[:, :3], prompt)


def test_transformer_trains_saves_and_generates(tmp_path):
    model = tiny_language_model()
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.Adam(0.01))
    seq = np.tile(np.arange(11), 30)
    X = np.stack([seq[i:i + 12] for i in range(64)])
    history = model.fit(X, np.stack([seq[i + 1:i + 13] for i in range(64)]), epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] - 0.5
    model.save(tmp_path / "lm.xdl")
    loaded = xdl.Model.load(tmp_path / "lm.xdl")
    assert_close(loaded.predict(X[:4]), model.predict(X[:4]), rtol=1e-6)
    greedy = [xdl.generate(model, X[0, :4], 20, temperature=0, cache=c) for c in (True, False)]
    np.testing.assert_array_equal(greedy[0][:13], greedy[1][:13])  # past 12 positions the windows differ
    assert greedy[0].shape == (24,) and np.array_equal(greedy[0][:4], X[0, :4])
    drawn = xdl.generate(model, X[:3, :2], 15, temperature=1.0, top_k=3, seed=7)
    assert drawn.shape == (3, 17) and drawn.min() >= 0 and drawn.max() < 11
    np.testing.assert_array_equal(drawn, xdl.generate(model, X[:3, :2], 15, temperature=1.0, top_k=3, seed=7))


def test_generate_refuses_what_it_cannot_cache():
    x = xdl.Input(shape=(None,), dtype="int64")
    h = xdl.Embedding(5, 4)(x)
    model = xdl.Model(x, xdl.Dense(units=5)(xdl.MultiHeadAttention(1, 4)(h, h)))
    with pytest.raises(xdl.XdlError, match="only causal self-attention"):
        xdl.generate(model, np.array([1, 2]), 3)
    assert xdl.generate(model, np.array([1, 2]), 3, cache=False).shape == (5,)
