"""Flatten and Reshape: values, finite-difference gradients, sizes that do not fit."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close


def test_flatten_and_reshape(be):
    x = np.random.default_rng(14).standard_normal((2, 3, 2, 2))
    flat = xdl.Flatten()
    assert flat.output_shape((3, 2, 2)) == (12,)
    assert_close(flat.forward(x), x.reshape(2, 12), rtol=1e-6)
    check_gradients(xdl.Flatten(dtype="float64"), x, be)
    layer = xdl.Reshape((4, -1))
    assert layer.output_shape((3, 2, 2)) == (4, 3)
    assert_close(layer.forward(x), x.reshape(2, 4, 3), rtol=1e-6)
    check_gradients(xdl.Reshape((6, 2), dtype="float64"), x, be)


def test_reshape_rejects_sizes_that_do_not_fit(be):
    with pytest.raises(xdl.ShapeError, match=r"\(Reshape\): cannot reshape \(N, 3, 2, 2\) to "
                                             r"\(N, 5, -1\): 12 values"):
        xdl.Reshape((5, -1)).forward(np.ones((2, 3, 2, 2)))
    with pytest.raises(ValueError, match="at most one -1"):
        xdl.Reshape((-1, -1))
