"""MultiHeadAttention: finite-difference gradients (self, causal, cross and masked attention, the
scores as an output), fully masked rows, PyTorch's module, flags saved in a graph, errors."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host

HAS_TORCH = importlib.util.find_spec("torch") is not None


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
        arrays.append(mask)  # data: no gradient
    mha = xdl.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, dtype="float64")
    out = check_gradients(mha, arrays, be, seed=1, **flags)  # one array passed thrice is one input
    outs = out if isinstance(out, tuple) else (out,)
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
