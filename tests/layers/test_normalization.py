"""BatchNorm and LayerNorm: gradients, training vs evaluation behaviour, a frozen BatchNorm."""

from __future__ import annotations

import numpy as np
import pytest

import xdl
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host

RNG = np.random.default_rng(5)


@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 2, 3)], ids=["dense", "conv-nhwc"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm_gradients(be, shape, training):
    layer = xdl.BatchNorm(dtype="float64")
    layer.forward(RNG.standard_normal(shape), training=True)  # running statistics away from 0 and 1
    layer.gamma.value = be.asarray(RNG.uniform(0.5, 1.5, shape[-1]), dtype=be.xp.float64)
    check_gradients(layer, RNG.standard_normal(shape) * 2 + 1, be, training=training)


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5)], ids=["dense", "sequence"])
def test_layernorm_gradients(be, shape):
    layer = xdl.LayerNorm(dtype="float64")
    layer.forward(RNG.standard_normal(shape))
    layer.gamma.value = be.asarray(RNG.uniform(0.5, 1.5, shape[-1]), dtype=be.xp.float64)
    check_gradients(layer, RNG.standard_normal(shape), be)


def test_batchnorm_normalizes_in_training_and_uses_running_statistics_in_evaluation(be):
    x = RNG.standard_normal((256, 4)) * np.array([1.0, 2.0, 5.0, 0.5]) + np.array([3.0, -1.0, 0.0, 10.0])
    layer = xdl.BatchNorm(momentum=0.5, epsilon=1e-5)
    y = host(layer.forward(x, training=True))
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-3)
    for _ in range(30):
        layer.forward(x, training=True)
    assert_close(layer.moving_mean.value, x.mean(axis=0), rtol=1e-4, atol=1e-4)
    assert_close(layer.moving_var.value, x.var(axis=0), rtol=1e-4)
    before = host(layer.moving_mean.value)
    y_eval = layer.forward(x[:3], training=False)
    assert_close(y_eval, (x[:3] - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(host(layer.moving_mean.value), before)  # evaluation changes nothing
    assert not layer.moving_mean.trainable and layer.gamma.trainable


def test_layernorm_normalizes_each_row(be):
    y = host(xdl.LayerNorm(epsilon=1e-6).forward(RNG.standard_normal((3, 4, 16)) * 7 + 2))
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=-1), 1, atol=1e-4)


def test_normalization_rejects_a_different_feature_count(be):
    layer = xdl.BatchNorm()
    layer.forward(np.zeros((2, 4)))
    with pytest.raises(xdl.ShapeError, match=r"batch_norm.*expected input shape \(N, \.\.\., 4\), got \(N, 5\)"):
        layer.forward(np.zeros((2, 5)))


def test_frozen_batchnorm_normalizes_with_its_moving_statistics(be):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 3)) * 3 + 2
    bn = xdl.BatchNorm()
    bn.forward(x, training=True)  # moves the statistics once
    bn.trainable = False
    mean = host(bn.moving_mean.value).copy()
    assert_close(bn.forward(x, training=True), bn.forward(x, training=False))
    np.testing.assert_array_equal(host(bn.moving_mean.value), mean)
    bn.trainable = True
    assert bn.gamma.trainable and not bn.moving_mean.trainable and not bn.moving_var.trainable
    with pytest.raises(ValueError, match="state"):
        bn.moving_mean.trainable = True
