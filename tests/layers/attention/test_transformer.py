"""TransformerBlock: finite-difference gradients through the whole pre-norm block, and causality:
a later step never reaches an earlier output."""

from __future__ import annotations

import numpy as np

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host


def test_transformer_block_gradients_and_causality(be):
    xdl.set_floatx("float64")
    block = xdl.TransformerBlock(dim=4, num_heads=2, mlp_dim=6)
    x = np.random.default_rng(6).standard_normal((1, 3, 4))
    check_gradients(block, x, be, rtol=1e-5, atol=1e-7)
    changed = x.copy()
    changed[0, 2] += 1.0  # the last step cannot reach earlier outputs
    a, b = host(block(x)), host(block(changed))
    assert_close(a[0, :2], b[0, :2], rtol=1e-12) and not np.allclose(a[0, 2], b[0, 2])
    assert "attention/query_kernel" in block.named_parameters()
