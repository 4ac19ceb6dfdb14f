"""Callbacks of one's own, as the Keras 3 guide "Writing your own callbacks" shows: a subclass of
keras.callbacks.Callback with hooks for training, testing and prediction, reading logs and
self.params, using self.model (get_weights/set_weights, stop_training, the optimizer's
learning rate), and a LambdaCallback."""

import numpy as np

import xdl as keras

keras.utils.set_random_seed(6)
rng = np.random.default_rng(6)
x = rng.standard_normal((200, 5)).astype("float32")
y = (x @ rng.standard_normal((5, 1))).astype("float32")


def make_model():
    model = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mean_squared_error",
                  metrics=["mean_absolute_error"])
    return model


class Recorder(keras.callbacks.Callback):
    """Counts every hook and keeps the logs each epoch ends with."""

    def __init__(self):
        super().__init__()
        self.calls = {}
        self.epoch_logs = []
        self.batch_losses = []

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    def on_train_begin(self, logs=None):
        self._count("train_begin")
        self.params_seen = dict(self.params)

    def on_train_end(self, logs=None):
        self._count("train_end")

    def on_epoch_begin(self, epoch, logs=None):
        self._count("epoch_begin")

    def on_epoch_end(self, epoch, logs=None):
        self._count("epoch_end")
        self.epoch_logs.append(dict(logs))

    def on_train_batch_begin(self, batch, logs=None):
        self._count("train_batch_begin")

    def on_train_batch_end(self, batch, logs=None):
        self._count("train_batch_end")
        self.batch_losses.append(float(logs["loss"]))

    def on_test_begin(self, logs=None):
        self._count("test_begin")

    def on_test_batch_end(self, batch, logs=None):
        self._count("test_batch_end")

    def on_test_end(self, logs=None):
        self._count("test_end")

    def on_predict_begin(self, logs=None):
        self._count("predict_begin")

    def on_predict_batch_end(self, batch, logs=None):
        self._count("predict_batch_end")
        assert logs["outputs"] is not None

    def on_predict_end(self, logs=None):
        self._count("predict_end")


model = make_model()
recorder = Recorder()
history = model.fit(x, y, batch_size=50, epochs=3, validation_split=0.25, callbacks=[recorder], verbose=0)
assert recorder.model is model
assert recorder.params_seen["epochs"] == 3 and recorder.params_seen["steps"] == 3  # 150 rows, batches of 50
assert recorder.calls["train_begin"] == recorder.calls["train_end"] == 1
assert recorder.calls["epoch_begin"] == recorder.calls["epoch_end"] == 3
assert recorder.calls["train_batch_begin"] == recorder.calls["train_batch_end"] == 9
assert recorder.calls["test_begin"] == recorder.calls["test_end"] == 3  # validation after each epoch
assert recorder.calls["test_batch_end"] == 3
assert set(recorder.epoch_logs[-1]) == {"loss", "mean_absolute_error", "val_loss", "val_mean_absolute_error"}
assert [logs["loss"] for logs in recorder.epoch_logs] == history.history["loss"]

model.evaluate(x, y, batch_size=100, callbacks=[recorder], verbose=0)
model.predict(x, batch_size=40, callbacks=[recorder], verbose=0)
assert recorder.calls["test_begin"] == 4 and recorder.calls["test_batch_end"] == 5
assert recorder.calls["predict_begin"] == recorder.calls["predict_end"] == 1
assert recorder.calls["predict_batch_end"] == 5


class StopAtLoss(keras.callbacks.Callback):
    """Stops training once the epoch's loss is below a threshold."""

    def __init__(self, threshold):
        super().__init__()
        self.threshold = threshold
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if logs["loss"] < self.threshold:
            self.stopped_epoch = epoch
            self.model.stop_training = True


stopper = StopAtLoss(threshold=0.5)
history = make_model().fit(x, y, epochs=100, batch_size=20, callbacks=[stopper], verbose=0)
assert stopper.stopped_epoch is not None and len(history.history["loss"]) == stopper.stopped_epoch + 1
assert history.history["loss"][-1] < 0.5 <= history.history["loss"][-2]


class KeepBest(keras.callbacks.Callback):
    """Remembers the weights of the epoch with the lowest loss and puts them back at the end."""

    def on_train_begin(self, logs=None):
        self.best, self.best_weights = np.inf, None

    def on_epoch_end(self, epoch, logs=None):
        if logs["loss"] < self.best:
            self.best, self.best_weights = logs["loss"], self.model.get_weights()

    def on_train_end(self, logs=None):
        self.model.set_weights(self.best_weights)


class HalveLearningRate(keras.callbacks.Callback):
    """Halves the optimizer's learning rate at the start of every epoch after the first."""

    def on_train_begin(self, logs=None):
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        if epoch > 0:
            self.model.optimizer.learning_rate = lr / 2
        self.seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


model = make_model()
keep, halve = KeepBest(), HalveLearningRate()
ends = []
lambda_callback = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append((epoch, logs["loss"])))
history = model.fit(x, y, epochs=5, batch_size=20, callbacks=[keep, halve, lambda_callback], verbose=0)
np.testing.assert_allclose(halve.seen, [0.01, 0.005, 0.0025, 0.00125, 0.000625], rtol=1e-6)
assert [epoch for epoch, _ in ends] == [0, 1, 2, 3, 4]
assert [loss for _, loss in ends] == history.history["loss"]
for kept, now in zip(keep.best_weights, model.get_weights()):
    np.testing.assert_array_equal(kept, now)
