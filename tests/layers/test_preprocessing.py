"""Keras's numeric preprocessing layers: Rescaling, Normalization (adapt), CenterCrop,
CategoryEncoding, Discretization. Outputs as Keras documents them, gradients where floats pass,
state saved with the model."""

import numpy as np
import pytest

import xdl
from xdl import layers
from tests.gradcheck import check_gradients
from tests.helpers import assert_close, host

RNG = np.random.default_rng(5)


def test_rescaling(be):
    assert_close(layers.Rescaling(1 / 255).forward(np.full((1, 2), 255.0)), [[1.0, 1.0]])
    assert_close(layers.Rescaling(1 / 127.5, offset=-1).forward(np.array([[0.0, 255.0]])), [[-1.0, 1.0]])
    per_channel = layers.Rescaling([1.0, 2.0], offset=[0.0, 1.0])
    assert_close(per_channel.forward(np.ones((2, 3, 2))), np.broadcast_to([1.0, 3.0], (2, 3, 2)))
    check_gradients(layers.Rescaling(0.5, 2.0, dtype="float64"), RNG.standard_normal((2, 3)), be)
    with pytest.raises(xdl.ShapeError, match="scale has 2 values"):
        layers.Rescaling([1.0, 2.0]).forward(np.ones((2, 3)))


def test_normalization_adapts_saves_and_inverts(be, tmp_path):
    data = RNG.standard_normal((64, 3)) * [1.0, 5.0, 0.1] + [0.0, 10.0, -3.0]
    norm = layers.Normalization()
    norm.adapt(data)
    y = host(norm.forward(data))
    assert_close(y.mean(0), np.zeros(3), atol=1e-5) and assert_close(y.std(0), np.ones(3), rtol=1e-4)
    assert_close(norm.mean.numpy(), data.mean(0), rtol=1e-5) and assert_close(norm.variance.numpy(), data.var(0), rtol=1e-4)
    streamed = layers.Normalization()
    streamed.adapt((data[k:k + 10], None) for k in range(0, 64, 10))  # a stream of (x, y): x is read
    assert_close(streamed.forward(data), y, rtol=1e-5, atol=1e-5)
    back = layers.Normalization(mean=norm.mean.numpy(), variance=norm.variance.numpy(), invert=True)
    assert_close(back.forward(y), data, rtol=1e-4, atol=1e-4)
    whole = layers.Normalization(axis=None)
    whole.adapt(data, batch_size=16)
    assert tuple(whole.mean.shape) == () and abs(float(whole.mean.numpy()) - data.mean()) < 1e-4
    images = RNG.random((8, 4, 4, 3))
    per_row = layers.Normalization(axis=(1, -1))  # Keras counts the batch axis: 1 is the rows
    per_row.adapt(images)
    assert tuple(per_row.mean.shape) == (4, 3)
    model = xdl.Sequential([xdl.Input((3,)), norm, layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(data, data[:, :1], epochs=1, verbose=0)
    assert model.trainable_weights[0] is model.layers[1].kernel  # the statistics are not trained
    model.save(tmp_path / "m.xdl")
    again = xdl.models.load_model(tmp_path / "m.xdl")
    assert_close(again.predict(data), model.predict(data), rtol=1e-6, atol=1e-6)
    check_gradients(layers.Normalization(mean=1.0, variance=4.0, dtype="float64"), RNG.standard_normal((2, 3)), be)
    with pytest.raises(xdl.ArgumentError, match="both mean and variance"):
        layers.Normalization(mean=1.0)


def test_center_crop(be):
    images = np.arange(2 * 5 * 6 * 1, dtype=np.float64).reshape(2, 5, 6, 1)
    assert_close(layers.CenterCrop(3, 2).forward(images), images[:, 1:4, 2:4, :])
    check_gradients(layers.CenterCrop(2, 3, dtype="float64"), RNG.standard_normal((2, 4, 5, 2)), be)
    with pytest.raises(xdl.ShapeError, match="smaller than the crop"):
        layers.CenterCrop(8, 2).forward(images)


def test_category_encoding_as_keras_documents_it(be):
    assert_close(layers.CategoryEncoding(4, "one_hot").forward(np.array([3, 2, 0, 1])), np.eye(4)[[3, 2, 0, 1]])
    codes = np.array([[0, 1], [0, 0], [1, 2], [3, 1]])
    assert_close(layers.CategoryEncoding(4).forward(codes), [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]])
    assert_close(layers.CategoryEncoding(4, "count").forward(codes),
                 [[1, 1, 0, 0], [2, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]])
    assert layers.CategoryEncoding(4, "one_hot").forward(codes).shape == (4, 2, 4)
    with pytest.raises(xdl.IndexRangeError, match=r"codes in \[0, 3\]"):
        xdl.Sequential([xdl.Input((2,), dtype="int64"), layers.CategoryEncoding(4)]).predict(codes + 1)


def test_discretization_as_keras_documents_it(be, tmp_path):
    x = np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])
    assert host(layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0]).forward(x)).tolist() == [[0, 2, 3, 1],
                                                                                                [1, 3, 2, 1]]
    learnt = layers.Discretization(num_bins=4, epsilon=0.01)
    learnt.adapt(x)
    assert host(learnt.forward(x)).tolist() == [[0, 2, 3, 2], [1, 3, 3, 1]]
    hot = layers.Discretization(bin_boundaries=[0.0], output_mode="one_hot")
    assert_close(hot.forward(np.array([[-1.0], [2.0]])), [[1, 0], [0, 1]])
    model = xdl.Sequential([xdl.Input((4,)), learnt])
    model.save(tmp_path / "d.xdl")
    assert xdl.models.load_model(tmp_path / "d.xdl").layers[0].bin_boundaries == learnt.bin_boundaries
    with pytest.raises(xdl.ArgumentError, match="bin_boundaries or num_bins"):
        layers.Discretization()
    with pytest.raises(xdl.ArgumentError, match="sorted"):
        layers.Discretization(bin_boundaries=[1.0, 0.0])


def test_integer_lookup_as_keras_documents_it(be, tmp_path):
    vocab = [12, 36, 1138, 42]
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    assert host(layers.IntegerLookup(vocabulary=vocab).forward(data)).tolist() == [[1, 3, 4], [4, 0, 2]]
    learnt = layers.IntegerLookup()
    learnt.adapt(data)
    assert learnt.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    masked = layers.IntegerLookup(vocabulary=vocab, mask_token=0)
    assert host(masked.forward(np.array([[12, 1138, 42], [42, 0, 36]]))).tolist() == [[2, 4, 5], [5, 0, 3]]
    inverse = layers.IntegerLookup(vocabulary=vocab, invert=True)
    assert host(inverse.forward(np.array([[1, 3, 4], [4, 0, 2]]))).tolist() == [[12, 1138, 42], [42, -1, 36]]
    hot = layers.IntegerLookup(vocabulary=vocab, output_mode="multi_hot")
    assert_close(hot.forward(np.array([[12, 7], [42, 42]])), [[1, 1, 0, 0, 0], [0, 0, 0, 0, 1]])
    model = xdl.Sequential([xdl.Input((3,), dtype="int64"), learnt, layers.Embedding(6, 2),
                            layers.GlobalAveragePooling1D()])
    model.save(tmp_path / "lookup.xdl")
    again = xdl.models.load_model(tmp_path / "lookup.xdl")
    assert again.layers[0].get_vocabulary() == learnt.get_vocabulary()
    assert_close(again.predict(data), model.predict(data))
    strict = xdl.Sequential([xdl.Input((3,), dtype="int64"), layers.IntegerLookup(num_oov_indices=0, vocabulary=vocab)])
    with pytest.raises(xdl.IndexRangeError, match="outside its vocabulary"):
        strict.predict(data)
    with pytest.raises(xdl.ArgumentError, match="repeats"):
        layers.IntegerLookup(vocabulary=[1, 1])
