"""Initializers by Keras's names: shapes, dtypes and spreads on every backend, scalar weights,
orthogonal columns, and a clear refusal of an unknown name."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.helpers import host

SPREAD = {  # name: the standard deviation its draws have for a (400, 300) weight
    "random_normal": 0.05, "random_uniform": 0.05 / np.sqrt(3), "truncated_normal": 0.05 * 0.8796,
    "lecun_normal": np.sqrt(1 / 400), "lecun_uniform": np.sqrt(1 / 400), "glorot_uniform": np.sqrt(2 / 700),
    "glorot_normal": np.sqrt(2 / 700), "he_uniform": np.sqrt(2 / 400), "he_normal": np.sqrt(2 / 400),
    "orthogonal": np.sqrt(1 / 400),
}


@pytest.mark.parametrize("name", list(SPREAD))
def test_keras_names_draw_with_their_spread(be, name):
    layer = xdl.Layer()
    w = layer.add_weight(shape=(400, 300), initializer=name, name="w")
    assert w.dtype == be.xp.float32 and w.shape == (400, 300)
    assert np.std(host(w.value)) == pytest.approx(SPREAD[name], rel=0.05)
    scalar = layer.add_weight(shape=(), initializer=name, name="s")  # Keras counts one in, one out
    assert scalar.shape == () and np.isfinite(host(scalar.value))


def test_orthogonal_columns(be):
    q = host(xdl.Layer().add_weight(shape=(6, 4), initializer="orthogonal").value)
    assert np.allclose(q.T @ q, np.eye(4), atol=1e-5)


def test_truncated_draws_stay_within_two_deviations():
    w = host(xdl.Layer().add_weight(shape=(200, 200), initializer="truncated_normal").value)
    assert np.abs(w).max() < 0.1


def test_unknown_initializer_is_named():
    with pytest.raises(xdl.ArgumentError, match="unknown initializer 'gaussian'"):
        xdl.Layer().add_weight(shape=(2,), initializer="gaussian")
