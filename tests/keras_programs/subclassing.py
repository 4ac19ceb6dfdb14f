"""Making new layers and models via subclassing, as the Keras 3 guide teaches: a Layer with
build/add_weight/call, a non-trainable weight updated in call, layers nested in layers,
add_loss from call, the training argument, a Model subclass with call trained by fit, a custom
metric class (add_variable/update_state/result/reset_state), a custom loss function and a
keras.losses.Loss subclass."""

import numpy as np

import xdl as keras

keras.utils.set_random_seed(8)
rng = np.random.default_rng(8)


class Linear(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True,
                                 name="kernel")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True, name="bias")

    def call(self, inputs):
        return keras.ops.matmul(inputs, self.w) + self.b


layer = Linear(4)
out = layer(np.ones((2, 3), dtype="float32"))
assert tuple(out.shape) == (2, 4)
assert len(layer.weights) == 2 and len(layer.trainable_weights) == 2
np.testing.assert_allclose(keras.ops.convert_to_numpy(out), np.ones((2, 3)) @ layer.w.numpy() + layer.b.numpy(),
                           rtol=1e-6)


class RunningSum(keras.layers.Layer):
    """A non-trainable weight updated in call."""

    def __init__(self, input_dim, **kwargs):
        super().__init__(**kwargs)
        self.total = self.add_weight(shape=(input_dim,), initializer="zeros", trainable=False, name="total")

    def call(self, inputs):
        self.total.assign_add(keras.ops.sum(inputs, axis=0))
        return self.total


summer = RunningSum(2)
summer(np.ones((3, 2), dtype="float32"))
summer(np.ones((3, 2), dtype="float32"))
np.testing.assert_array_equal(summer.total.numpy(), [6.0, 6.0])
assert summer.trainable_weights == [] and len(summer.non_trainable_weights) == 1


class ActivityRegularization(keras.layers.Layer):
    """Adds a penalty on its inputs' size to the model's loss."""

    def __init__(self, rate=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * keras.ops.mean(keras.ops.square(inputs)))
        return inputs


class MLPBlock(keras.layers.Layer):
    """Layers inside a layer: their weights are the block's."""

    def __init__(self, hidden=16, out=1, **kwargs):
        super().__init__(**kwargs)
        self.linear_1 = Linear(hidden)
        self.regularize = ActivityRegularization(1e-3)
        self.dropout = keras.layers.Dropout(0.1)
        self.linear_2 = Linear(out)

    def call(self, inputs, training=False):
        x = keras.ops.relu(self.linear_1(inputs))
        x = self.regularize(x)
        x = self.dropout(x, training=training)
        return self.linear_2(x)


block = MLPBlock()
y = block(np.ones((3, 5), dtype="float32"))
assert tuple(y.shape) == (3, 1)
assert len(block.weights) == 4  # two Linear layers, tracked through attributes
assert len(block.losses) == 1  # the latest call's add_loss


class WeightedSquaredError(keras.losses.Loss):
    """A Loss subclass: squared error, with errors on positive targets counting double."""

    def call(self, y_true, y_pred):
        weight = keras.ops.where(y_true > 0, 2.0, 1.0)
        return keras.ops.mean(weight * keras.ops.square(y_true - y_pred), axis=-1)


def mean_fourth_power(y_true, y_pred):
    return keras.ops.mean(keras.ops.square(keras.ops.square(y_true - y_pred)), axis=-1)


class WithinTolerance(keras.metrics.Metric):
    """The fraction of predictions within `tolerance` of the target."""

    def __init__(self, tolerance=0.5, name="within_tolerance", **kwargs):
        super().__init__(name=name, **kwargs)
        self.tolerance = tolerance
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        close = keras.ops.cast(keras.ops.abs(y_true - y_pred) <= self.tolerance, "float32")
        if sample_weight is not None:
            close = close * keras.ops.reshape(keras.ops.cast(sample_weight, "float32"), (-1, 1))
        self.hits.assign_add(keras.ops.sum(close))
        self.count.assign_add(keras.ops.cast(keras.ops.size(close), "float32"))

    def result(self):
        return self.hits / keras.ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.hits.assign(0.0)
        self.count.assign(0.0)


metric = WithinTolerance(tolerance=0.5)
metric.update_state(np.array([[0.0], [1.0], [2.0]]), np.array([[0.1], [1.9], [2.4]]))
np.testing.assert_allclose(float(metric.result()), 2 / 3, rtol=1e-6)
metric.reset_state()
assert float(metric.result()) == 0.0


class Regressor(keras.Model):
    """A Model subclass: layers in __init__, the forward pass in call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.block = MLPBlock(hidden=32, out=8)
        self.head = keras.layers.Dense(1)

    def call(self, inputs, training=False):
        return self.head(keras.ops.tanh(self.block(inputs, training=training)))


x = rng.standard_normal((400, 5)).astype("float32")
y = (np.sin(x[:, :1]) + x[:, 1:2] * x[:, 2:3]).astype("float32")
model = Regressor()
model.compile(optimizer=keras.optimizers.Adam(learning_rate=5e-3), loss=WeightedSquaredError(),
              metrics=[WithinTolerance(0.3), mean_fourth_power])
history = model.fit(x, y, batch_size=32, epochs=15, verbose=0)
logged = history.history
assert set(logged) == {"loss", "within_tolerance", "mean_fourth_power"}, sorted(logged)
print("loss", logged["loss"][0], "->", logged["loss"][-1], "; within 0.3:", logged["within_tolerance"][-1])
assert logged["loss"][-1] < 0.5 * logged["loss"][0]
assert logged["within_tolerance"][-1] > logged["within_tolerance"][0]
assert len(model.layers) == 2 and len(model.trainable_weights) == 6
assert model.predict(x[:4], verbose=0).shape == (4, 1)
results = model.evaluate(x, y, return_dict=True, verbose=0)
assert set(results) == {"loss", "within_tolerance", "mean_fourth_power"}

# The subclassed model is also a layer of a functional model.
inputs = keras.Input(shape=(5,))
wrapped = keras.Model(inputs, model(inputs) * 2.0)
np.testing.assert_allclose(wrapped.predict(x[:4], verbose=0), 2.0 * model.predict(x[:4], verbose=0), rtol=1e-5)
