"""PositionEmbedding: learned (finite-difference gradients; positions past the input get none)
or sinusoidal (no parameters), and inputs longer than its table."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host


def test_position_embedding(be):
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    learned = xdl.PositionEmbedding(max_length=5, dim=4, dtype="float64")
    check_gradients(learned, x, be)
    assert host(learned.table.grad)[3:].sum() == 0  # positions past the input get nothing
    fixed = xdl.PositionEmbedding(5, 4, sinusoidal=True, dtype="float64")
    y = host(fixed(x))
    pos, i = np.arange(3)[:, None], np.arange(2)[None, :]
    angle = pos / 10000 ** (2 * i / 4)
    assert_close(y[1], np.stack([np.sin(angle), np.cos(angle)], -1).reshape(3, 4), rtol=1e-12)
    assert fixed.parameters() == []
    with pytest.raises(xdl.ShapeError, match="position_embedding.*T <= 5"):
        learned(np.zeros((1, 6, 4)))
