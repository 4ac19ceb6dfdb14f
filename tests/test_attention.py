"""MultiHeadAttention, GELU, PositionEmbedding, TransformerBlock and cached generation."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest
from helpers import assert_close, check_layer_gradients, host, numeric_gradient

import xdl
from xdl.models.generation import decode_graph

HAS_TORCH = importlib.util.find_spec("torch") is not None


def mha_gradients(be, mha, arrays, flags, rtol=1e-5, atol=1e-7):
    """Central differences of sum(mha(...) * R) against the backward, for inputs and weights."""
    rng = np.random.default_rng(1)
    converted = {id(a): be.asarray(a, dtype=be.xp.float64) for a in arrays}
    xs = [converted[id(a)] for a in arrays]  # one array passed thrice stays one (self-attention)
    out = mha.forward(xs, True, **flags)
    outs = out if isinstance(out, tuple) else (out,)
    Rs = [rng.standard_normal(tuple(o.shape)) for o in outs]
    _, back = mha.apply(xs, True, **flags)
    mha.zero_grad()
    dys = tuple(be.asarray(r, dtype=be.xp.float64) for r in Rs)
    dxs = back(dys if len(dys) > 1 else dys[0])
    state = {"xs": list(xs)}

    def objective():
        o = mha.call(state["xs"], True, **flags)
        o = o if isinstance(o, tuple) else (o,)
        return sum(float(np.sum(host(a) * r)) for a, r in zip(o, Rs))

    groups = {}  # one array used as query, value and key gets the sum of the three gradients
    for k in range(3):  # query, value, key (a mask has no gradient)
        groups.setdefault(id(arrays[k]), []).append(k)
    for uses in groups.values():
        def install(v, uses=uses):
            for k in uses:
                state["xs"][k] = be.asarray(v, dtype=be.xp.float64)

        analytic = sum(host(dxs[k]) for k in uses if dxs[k] is not None)
        np.testing.assert_allclose(analytic, numeric_gradient(objective, host(xs[uses[0]]), install), rtol=rtol,
                                   atol=atol, err_msg=f"inputs {uses}")
    for p in mha.parameters():
        def install_p(v, p=p):
            p.value = be.asarray(v, dtype=be.xp.float64)

        np.testing.assert_allclose(host(p.grad), numeric_gradient(objective, host(p.value), install_p), rtol=rtol,
                                   atol=atol, err_msg=p.name)
    return outs


@pytest.mark.parametrize("case", ["self", "causal", "cross_masked", "scores"])
def test_attention_gradients(be, case):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 3, 4))
    kv = q if case in ("self", "causal", "scores") else rng.standard_normal((2, 4, 5))
    key = q if case != "cross_masked" else rng.standard_normal((2, 4, 3))
    arrays, flags = [q, kv, key], {}
    if case == "causal":
        flags = {"use_causal_mask": True}
    if case == "scores":
        flags = {"use_causal_mask": True, "return_attention_scores": True}
    if case == "cross_masked":
        mask = rng.random((2, 3, 4)) > 0.4
        mask[0, 1, :] = False  # a query that may attend nothing: zeros, and no NaN anywhere
        arrays.append(mask.astype(np.float64))
    mha = xdl.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, dtype="float64")
    outs = mha_gradients(be, mha, arrays, flags)
    assert not np.isnan(host(outs[0])).any()
    if case == "cross_masked":  # the fully masked row is the output bias alone
        assert_close(host(outs[0])[0, 1], host(mha.proj["output"][1].value), atol=1e-12)
    if case == "scores":
        p = host(outs[1])
        assert p.shape == (2, 2, 3, 3) and np.allclose(p.sum(-1), 1) and np.all(np.triu(p[0, 0], 1) == 0)


def test_fully_masked_rows_give_zeros_not_nan(be):
    mha = xdl.MultiHeadAttention(num_heads=1, key_dim=2)
    x = np.random.default_rng(2).standard_normal((1, 3, 2)).astype(np.float32) * 1e4  # huge scores
    y, p = mha(x, x, attention_mask=np.zeros((1, 3, 3), bool), return_attention_scores=True)
    assert np.all(host(p) == 0) and np.all(np.isfinite(host(y)))
    xs = [be.asarray(x)] * 3 + [be.asarray(np.zeros((1, 3, 3), np.float32))]
    _, back = mha.apply(xs, True, return_attention_scores=True)
    grads = back((be.xp.ones_like(y), be.xp.ones_like(p)))
    assert np.all(np.isfinite(host(grads[0]))) and grads[1:] == [None, None, None]  # all in query's: one array
    assert all(np.all(np.isfinite(host(q.grad))) for q in mha.parameters())


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_pytorch(causal):
    import torch

    rng = np.random.default_rng(3)
    q, v = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, (5 if causal else 7), 6))
    mha = xdl.MultiHeadAttention(num_heads=2, key_dim=4, output_shape=8, dtype="float64")
    y = host(mha(q, v, use_causal_mask=causal))
    ref = torch.nn.MultiheadAttention(8, 2, kdim=6, vdim=6, batch_first=True, dtype=torch.float64)
    W = {k: torch.tensor(host(w.value).T) for k, (w, _) in mha.proj.items()}
    with torch.no_grad():
        ref.q_proj_weight.copy_(W["query"]), ref.k_proj_weight.copy_(W["key"]), ref.v_proj_weight.copy_(W["value"])
        ref.out_proj.weight.copy_(W["output"])
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1) if causal else None
    expected = ref(torch.tensor(q), torch.tensor(v), torch.tensor(v), attn_mask=mask, need_weights=False)[0]
    assert_close(y, expected.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_attention_in_a_graph_saves_flags_and_mask(be, tmp_path):
    q_in, kv_in = xdl.Input(shape=(3, 4), name="q"), xdl.Input(shape=(5, 6), name="kv")
    mask_in = xdl.Input(shape=(3, 5), name="mask")
    mha = xdl.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")
    y, scores = mha(q_in, kv_in, attention_mask=mask_in, return_attention_scores=True)
    causal = xdl.MultiHeadAttention(num_heads=1, key_dim=2, name="self")(y, y, use_causal_mask=True)
    model = xdl.Model(inputs=[q_in, kv_in, mask_in], outputs=[causal, scores])
    rng = np.random.default_rng(4)
    data = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 6)), rng.random((2, 3, 5)) > 0.3]
    expected = [host(o) for o in model.predict(data)]
    assert expected[1].shape == (2, 2, 3, 5)
    nodes = json.loads(json.dumps(model.get_config()))["nodes"]
    assert {"return_attention_scores": True} in [n.get("kwargs") for n in nodes]
    assert {"use_causal_mask": True} in [n.get("kwargs") for n in nodes]
    model.save(tmp_path / "m.xdl")
    loaded = xdl.Model.load(tmp_path / "m.xdl")
    for a, b in zip(loaded.predict(data), expected):
        assert_close(a, b, rtol=1e-6)
    model.compile(loss=[xdl.MSE(), xdl.MSE()], optimizer=xdl.SGD(0.1))
    model.fit(data, [np.zeros((2, 3, 4)), np.zeros((2, 2, 3, 5))], epochs=1, batch_size=2, verbose=0)


def test_attention_errors_name_the_layer():
    mha = xdl.MultiHeadAttention(num_heads=2, key_dim=3, name="att")
    with pytest.raises(xdl.ShapeError, match="att.*key and value must have one length"):
        mha(np.zeros((1, 3, 4)), np.zeros((1, 5, 4)), key=np.zeros((1, 4, 4)))
    with pytest.raises(xdl.ShapeError, match=r"att.*attention_mask must be \(N, Tq, Tk\)"):
        mha(np.zeros((1, 3, 4)), np.zeros((1, 5, 4)), attention_mask=np.ones((1, 5, 3)))
    with pytest.raises(TypeError, match="dense.*extra arguments"):
        xdl.Dense(units=2)(xdl.Input(shape=(3,)), use_causal_mask=True)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        xdl.TransformerBlock(dim=6, num_heads=4, mlp_dim=8)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(be, approximate):
    x = np.linspace(-5, 5, 41).reshape(1, 41)
    gelu = xdl.GELU(approximate=approximate, dtype="float64")
    check_layer_gradients(gelu, x, be, rtol=1e-5, atol=1e-6)
    if approximate == "none":
        exact = x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
        assert_close(gelu.forward(x), exact, rtol=0, atol=4e-7)  # erf to 1.5e-7
        assert xdl.Dense(units=2, activation="gelu").get_config()["activation"] == "gelu"
    else:
        assert_close(gelu.forward(x), 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))))


def test_position_embedding(be):
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    learned = xdl.PositionEmbedding(max_length=5, dim=4, dtype="float64")
    check_layer_gradients(learned, x, be)
    assert host(learned.table.grad)[3:].sum() == 0  # positions past the input get nothing
    fixed = xdl.PositionEmbedding(5, 4, sinusoidal=True, dtype="float64")
    y = host(fixed(x))
    pos, i = np.arange(3)[:, None], np.arange(2)[None, :]
    angle = pos / 10000 ** (2 * i / 4)
    assert_close(y[1], np.stack([np.sin(angle), np.cos(angle)], -1).reshape(3, 4), rtol=1e-12)
    assert fixed.parameters() == []
    with pytest.raises(xdl.ShapeError, match="position_embedding.*T <= 5"):
        learned(np.zeros((1, 6, 4)))


def test_transformer_block_gradients_and_causality(be):
    xdl.set_floatx("float64")
    block = xdl.TransformerBlock(dim=4, num_heads=2, mlp_dim=6)
    x = np.random.default_rng(6).standard_normal((1, 3, 4))
    check_layer_gradients(block, x, be, rtol=1e-5, atol=1e-7)
    changed = x.copy()
    changed[0, 2] += 1.0  # the last step cannot reach earlier outputs
    a, b = host(block(x)), host(block(changed))
    assert_close(a[0, :2], b[0, :2], rtol=1e-12) and not np.allclose(a[0, 2], b[0, 2])
    assert "attention/query_kernel" in block.named_parameters()


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


@pytest.mark.parametrize("kwargs, match", [("yes", "kwargs must be a dict"),
                                           ({"use_causal_mask": [1]}, "kwargs must be a dict"),
                                           ({"import": "os"}, "does not take")])
def test_hostile_call_flags_are_refused(tmp_path, kwargs, match):
    from test_hostile_files import join, split, with_meta

    x = xdl.Input(shape=(3, 4))
    xdl.Model(x, xdl.MultiHeadAttention(2, 2)(x, x, use_causal_mask=True)).save(tmp_path / "m.xdl")
    header, body = split((tmp_path / "m.xdl").read_bytes())

    def mutate(model):
        node = next(n for n in model["config"]["nodes"] if "kwargs" in n)
        node["kwargs"] = kwargs

    with_meta(header, "model", mutate)
    (tmp_path / "hostile.xdl").write_bytes(join(header, body))
    with pytest.raises(xdl.ModelFileError, match=match):
        xdl.Model.load(tmp_path / "hostile.xdl")


def test_benchmark_and_generation_speed_run_tiny():
    from benchmarks import attention

    attention.xdl_mha("numpy", 2, 8)()  # test_benchmarks runs the harness beside PyTorch
    attention.xdl_block("numpy", 2, 8)()
    assert attention.summaries([{"workload": f"mha fwd+bwd causal n2 t{t} (growth)", "candidate": "xdl",
                                 "median": 1000.0 / t} for t in (8, 16)]) == [
        "attention xdl, ms per sequence: T=8: 8.00 ms (1.0x), T=16: 16.00 ms (2.0x)"]
    speed = attention.generation_speed("numpy", chars=6, prompt=3, layers=1, reps=1, out=lambda line: None)
    assert set(speed) == {"cache", "no_cache"} and min(speed.values()) > 0
