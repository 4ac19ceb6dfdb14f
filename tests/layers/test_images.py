"""Resizing (against PyTorch's interpolate), RandomFlip and RandomContrast: outputs, gradients
(finite differences), training-only randomness that repeats with the seed."""

import numpy as np
import pytest

import xdl
from xdl import layers
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host

RNG = np.random.default_rng(6)


@pytest.mark.parametrize("size", [(7, 5), (3, 2), (4, 4)])
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_resizing_matches_pytorch(size, method):
    torch = pytest.importorskip("torch")
    images = RNG.standard_normal((2, 4, 4, 3))
    with xdl.use_backend("numpy"), xdl.use_floatx("float64"):
        got = host(layers.Resizing(*size, interpolation=method).forward(images))
    mode = {"bilinear": "bilinear", "nearest": "nearest-exact"}[method]  # half-pixel centers, as Keras's
    want = torch.nn.functional.interpolate(torch.tensor(images).permute(0, 3, 1, 2), size=size, mode=mode,
                                           **({"align_corners": False} if method == "bilinear" else {}))
    np.testing.assert_allclose(got, want.permute(0, 2, 3, 1).numpy(), rtol=1e-10, atol=1e-12)


def test_resizing_gradients_and_crop(be):
    check_gradients(layers.Resizing(5, 3, dtype="float64"), RNG.standard_normal((2, 4, 6, 2)), be)
    check_gradients(layers.Resizing(2, 2, crop_to_aspect_ratio=True, dtype="float64"),
                    RNG.standard_normal((1, 4, 6, 1)), be)
    images = np.arange(24.0).reshape(1, 4, 6, 1)
    crop = layers.Resizing(2, 2, crop_to_aspect_ratio=True, interpolation="nearest")
    assert host(crop.forward(images))[0, :, :, 0].tolist() == [[8.0, 10.0], [20.0, 22.0]]  # the central 4x4, halved


def test_random_flip(be):
    images = RNG.standard_normal((64, 3, 4, 1)).astype(np.float32)
    flip = layers.RandomFlip("horizontal", seed=3)
    assert_close(flip.forward(images), images)  # inference: the identity
    y = host(flip.forward(images, training=True))
    flipped = [np.allclose(y[k], images[k, :, ::-1]) for k in range(64)]
    kept = [np.allclose(y[k], images[k]) for k in range(64)]
    assert all(a or b for a, b in zip(flipped, kept)) and 16 < sum(flipped) < 48
    again = layers.RandomFlip("horizontal", seed=3)
    assert_close(again.forward(images, training=True), y)  # the seed repeats the draws
    dy = RNG.standard_normal(images.shape).astype(np.float32)
    dx = host(flip.backward(dy))
    assert all(np.allclose(dx[k], dy[k, :, ::-1]) if flipped[k] else np.allclose(dx[k], dy[k]) for k in range(64))


def test_random_contrast(be):
    images = RNG.random((8, 4, 4, 2)) * 255
    contrast = layers.RandomContrast(0.5, seed=2, dtype="float64")
    assert_close(contrast.forward(images), images)
    y = host(contrast.forward(images, training=True))
    mean = images.mean(axis=(1, 2), keepdims=True)
    factors = ((y - mean) / (images - mean)).reshape(8, -1)
    inside = (y > 0) & (y < 255)
    for k in range(8):  # one factor per image, in [0.5, 1.5], where nothing was clipped
        values = factors[k][inside.reshape(8, -1)[k]]
        assert np.allclose(values, values[0]) and 0.5 <= values[0] <= 1.5
    assert y.min() >= 0 and y.max() <= 255


def test_in_a_model_trained_and_saved(be, tmp_path):
    x = (RNG.random((16, 8, 8, 1)) * 255).astype(np.float32)
    model = xdl.Sequential([xdl.Input((8, 8, 1)), layers.RandomFlip(seed=1), layers.RandomContrast(0.2, seed=2),
                            layers.Resizing(4, 4), layers.Rescaling(1 / 255), layers.Conv2D(2, 3),
                            layers.GlobalAveragePooling2D(), layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, np.zeros((16, 1)), epochs=2, verbose=0)
    model.save(tmp_path / "m.xdl")
    assert_close(xdl.models.load_model(tmp_path / "m.xdl").predict(x), model.predict(x), rtol=1e-6, atol=1e-6)
    with pytest.raises(xdl.ShapeError, match="expected images"):
        layers.Resizing(2, 2).forward(np.ones((2, 3, 3)))
    with pytest.raises(xdl.ArgumentError, match="pad_to_aspect_ratio"):
        layers.Resizing(2, 2, pad_to_aspect_ratio=True)


def test_translation_zoom_and_rotation_by_fixed_amounts(be):
    img = np.arange(25.0).reshape(1, 5, 5, 1)
    down = layers.RandomTranslation((0.2, 0.2), 0.0, fill_mode="constant", fill_value=-1.0, seed=1)
    want = np.vstack([np.full((1, 5), -1.0), img[0, :4, :, 0]])
    assert_close(host(down.forward(img, training=True))[0, :, :, 0], want)
    reflected = host(layers.RandomTranslation((0.2, 0.2), 0.0, seed=1).forward(img, training=True))[0, :, :, 0]
    assert_close(reflected[0], img[0, 0, :, 0])  # d c b a | a b c d: row -1 reads row 0
    assert_close(layers.RandomZoom((0.0, 0.0), seed=1).forward(img, training=True), img)
    quarter = layers.RandomRotation((0.25, 0.25), interpolation="nearest", seed=1)
    assert_close(host(quarter.forward(img, training=True))[0, :, :, 0], np.rot90(img[0, :, :, 0]))  # counter-clockwise
    for layer in (down, quarter):
        assert_close(layer.forward(img), img)  # inference: the identity


@pytest.mark.parametrize("make", [
    lambda: layers.RandomTranslation((0.13, 0.13), (-0.21, -0.21), seed=1, dtype="float64"),
    lambda: layers.RandomZoom((0.3, 0.3), (-0.2, -0.2), fill_mode="wrap", seed=1, dtype="float64"),
    lambda: layers.RandomRotation((0.07, 0.07), fill_mode="constant", fill_value=0.5, seed=1, dtype="float64"),
])
def test_geometric_gradients(be, make):
    check_gradients(make(), RNG.standard_normal((2, 4, 5, 2)), be)


def test_geometric_draws_repeat_with_the_seed_and_save(be, tmp_path):
    images = RNG.random((4, 6, 6, 1)).astype(np.float32)
    a = layers.RandomRotation(0.2, seed=5).forward(images, training=True)
    assert_close(a, layers.RandomRotation(0.2, seed=5).forward(images, training=True))
    model = xdl.Sequential([xdl.Input((6, 6, 1)), layers.RandomZoom(0.2, seed=1), layers.RandomTranslation(0.1, 0.1),
                            layers.RandomRotation(0.1), layers.Flatten(), layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(images, np.zeros((4, 1)), epochs=1, verbose=0)
    model.save(tmp_path / "aug.xdl")
    assert_close(xdl.models.load_model(tmp_path / "aug.xdl").predict(images), model.predict(images), atol=1e-6)
    with pytest.raises(xdl.ArgumentError, match="fill_mode"):
        layers.RandomZoom(0.1, fill_mode="mirror")
