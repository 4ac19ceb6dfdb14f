"""The pieces of Keras's surface a Keras program reaches for beyond layers: metrics on (N,)
targets, initializer objects, composed ops, ModelCheckpoint's options, callbacks' params,
compute_metrics, get_layer(index=), keras.config, save(overwrite=False), float token ids."""

import numpy as np
import pytest

import xdl
from xdl import initializers, layers, ops
from tests.helpers import assert_close, host


def _binary_model():
    model = xdl.Sequential([xdl.Input((3,)), layers.Dense(8, "relu"), layers.Dense(1, "sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy", "mae", xdl.metrics.MeanSquaredError()])
    return model


def test_metrics_read_targets_of_shape_n_against_outputs_n_by_1(be):
    rng = np.random.default_rng(0)
    x = rng.random((64, 3)).astype(np.float32)
    y = (x.sum(1) > 1.5).astype(np.float32)  # (N,), as Keras users give them
    model = _binary_model()
    logs = model.fit(x, y, epochs=3, batch_size=64, verbose=0, shuffle=False).history
    scores = model.evaluate(x, y, return_dict=True)
    p = host(model.predict(x))[:, 0]
    assert_close(scores["accuracy"], ((p > 0.5) == y).mean(), rtol=1e-6)
    assert_close(scores["mae"], np.abs(p - y).mean(), rtol=1e-5)
    assert_close(scores["mean_squared_error"], ((p - y) ** 2).mean(), rtol=1e-5)
    assert 0.0 <= logs["accuracy"][-1] <= 1.0
    metric = xdl.metrics.Accuracy(threshold=0.5)  # and a metric called alone
    assert_close(float(metric(y, p[:, None])), ((p > 0.5) == y).mean(), rtol=1e-6)


def test_initializer_objects(be):
    a = initializers.GlorotUniform(seed=4)((5, 3))
    assert_close(a, initializers.GlorotUniform(seed=4)((5, 3)))  # a seed repeats its draws
    assert_close(initializers.Constant(0.25)((2, 2)), np.full((2, 2), 0.25))
    assert_close(initializers.Identity(2.0)((2, 2)), 2 * np.eye(2))
    w = host(initializers.HeNormal(seed=1)((400, 300)))
    assert abs(w.std() - np.sqrt(2 / 400)) < 0.003 and np.abs(w).max() <= 2 * np.sqrt(2 / 400) / 0.8796 + 1e-6
    q = host(initializers.Orthogonal(seed=2)((4, 4)))
    assert_close(q @ q.T, np.eye(4), atol=1e-5)
    dense = layers.Dense(3, kernel_initializer=initializers.RandomNormal(stddev=0.5, seed=7),
                         bias_initializer="Ones")
    model = xdl.Sequential([xdl.Input((4,)), dense])
    assert_close(dense.bias, np.ones(3))
    config = dense.get_config()
    assert config["kernel_initializer"] == {"class": "RandomNormal",
                                            "config": {"mean": 0.0, "stddev": 0.5, "seed": 7}}
    again = xdl.models.model_from_json(model.to_json())
    assert_close(again.layers[0].kernel.value, dense.kernel.value)  # the same seed: the same kernel
    with pytest.raises(xdl.ArgumentError, match="initializer's config"):
        layers.Dense(2, kernel_initializer={"class": "os.system", "config": {}})


def test_composed_ops_and_their_gradients(be):
    x = np.arange(6.0).reshape(2, 3)
    assert_close(ops.tile(x, (2, 1)), np.tile(x, (2, 1)))
    assert_close(ops.repeat(x, 2, axis=1), np.repeat(x, 2, axis=1))
    assert_close(ops.pad(x, ((1, 0), (0, 2))), np.pad(x, ((1, 0), (0, 2))))
    assert [host(p).tolist() for p in ops.split(x, [1], axis=1)] == [[[0.0], [3.0]], [[1.0, 2.0], [4.0, 5.0]]]
    mean, var = ops.moments(x, axes=[1])
    assert_close(mean, x.mean(1)) and assert_close(var, x.var(1))
    assert ops.size(x) == 6 and isinstance(ops.convert_to_numpy(be.asarray(x)), np.ndarray)
    assert_close(ops.rsqrt(be.asarray(np.array([4.0]))), [0.5])
    assert_close(ops.cast(ops.size(x), "float32"), 6.0)  # Keras casts Python numbers too
    v = xdl.Variable(x)
    with xdl.GradientTape() as tape:
        total = (ops.sum(ops.tile(v, (2, 1))) + ops.sum(ops.repeat(v, 3, axis=0)) + ops.sum(ops.pad(v, ((1, 1), (1, 1))))
                 + ops.sum(ops.split(v, [1], axis=1)[1]))
    assert_close(tape.gradient(total, [v])[0], [[6.0, 7.0, 7.0], [6.0, 7.0, 7.0]])


def test_model_checkpoint_weights_only_and_callback_params(be, tmp_path):
    seen = {}

    class Params(xdl.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["fit"] = dict(self.params)

        def on_test_begin(self, logs=None):
            seen.setdefault("test", dict(self.params))

    x, y = np.random.default_rng(1).random((40, 3)), np.zeros(40)
    model = _binary_model()
    path = tmp_path / "best.weights.h5"
    checkpoint = xdl.callbacks.ModelCheckpoint(str(path), "loss", 0, True, True)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[checkpoint, Params()])
    assert seen["fit"] == {"verbose": 0, "epochs": 2, "steps": 3}
    twin = _binary_model()
    twin.load_weights(str(path))  # a weights file, not a model file
    assert_close(twin.predict(x), model.predict(x), rtol=1e-6)
    with pytest.raises(xdl.ArgumentError, match="save_freq must be 'epoch'"):
        xdl.callbacks.ModelCheckpoint(str(path), save_freq=10)


def test_compute_metrics_get_layer_index_and_metrics_names(be):
    model = _binary_model()
    x, y = np.random.default_rng(2).random((8, 3)), np.ones((8, 1))
    model.reset_metrics()
    results = model.compute_metrics(x, y, model.predict(x))
    assert list(results) == ["loss", "accuracy", "mae", "mean_squared_error"] == model.metrics_names
    assert_close(results["mae"], np.abs(host(model.predict(x)) - 1).mean(), rtol=1e-5)
    assert model.get_layer(index=1) is model.layers[1]
    with pytest.raises(xdl.ArgumentError, match="past its 2 layers"):
        model.get_layer(index=2)


def test_config_namespace_and_save_overwrite(be, tmp_path):
    assert xdl.config.image_data_format() == "channels_last" and xdl.config.floatx() == "float32"
    assert xdl.backend.epsilon() == 1e-7 and xdl.config.backend() == be.name
    xdl.backend.clear_session()
    assert layers.Dense(2).name == "dense"
    model = _binary_model()
    model.save(tmp_path / "m.keras")
    with pytest.raises(xdl.ModelSaveError, match="the file exists") as caught:
        model.save(tmp_path / "m.keras", overwrite=False)
    assert isinstance(caught.value, FileExistsError)


def test_embedding_takes_whole_float_ids(be):
    model = xdl.Sequential([xdl.Input((4,)), layers.Embedding(10, 3), layers.GlobalAveragePooling1D()])
    ids = np.array([[1, 2, 3, 0]])
    assert_close(model.predict(ids.astype(np.float32)), model.predict(ids))
    with pytest.raises(xdl.ArgumentTypeError, match="not whole numbers"):
        model.predict(np.array([[1.5, 2, 3, 0]]))


def test_learning_rate_assign_and_py_dataset(be):
    optimizer = xdl.optimizers.Adam(1e-3)
    optimizer.learning_rate.assign(0.25)  # Keras's Variable method, as a callback writes it
    assert optimizer.learning_rate == 0.25 and ops.convert_to_numpy(optimizer.learning_rate) == 0.25

    class Batches(xdl.utils.PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y = np.ones((12, 3), np.float32), np.zeros((12, 1), np.float32)

        def __len__(self):
            return 3

        def __getitem__(self, i):
            return self.x[4 * i:4 * i + 4], self.y[4 * i:4 * i + 4]

    model = _binary_model()
    history = model.fit(Batches(workers=2, use_multiprocessing=False), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.raises(xdl.ArgumentError, match="workers"):
        Batches(workers=0)


def test_from_config_takes_custom_objects(be):
    class Thrice(xdl.layers.Layer):
        def call(self, x):
            return x * 3.0

    inputs = xdl.Input((2,))
    model = xdl.Model(inputs, Thrice()(layers.Dense(2)(inputs)))
    config = model.get_config()
    for again in (xdl.Model.from_config(config, custom_objects={"Thrice": Thrice}),
                  xdl.Model.from_config(config, {"Thrice": Thrice})):  # Keras's second place
        again.set_weights(model.get_weights())
        assert_close(again.predict(np.ones((1, 2))), model.predict(np.ones((1, 2))))
    with pytest.raises(xdl.ModelFileError, match="unknown layer type 'Thrice'"):
        xdl.Model.from_config(config)
    chain = xdl.Sequential([xdl.Input((2,)), Thrice()])
    assert_close(xdl.Sequential.from_config(chain.get_config(), custom_objects={"Thrice": Thrice}).predict(
        np.ones((1, 2))), np.full((1, 2), 3.0))
