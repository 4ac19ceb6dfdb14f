"""Built-in training as the Keras 3 guide "Training & evaluation with the built-in methods"
covers it: validation data, ModelCheckpoint (best weights and a model per epoch),
EarlyStopping with restore_best_weights, ReduceLROnPlateau, LearningRateScheduler, CSVLogger,
TerminateOnNaN, a learning-rate schedule object, class_weight, sample_weight,
save_weights/load_weights into a model made again, and resuming with initial_epoch."""

import csv
import os
import tempfile

import numpy as np

import xdl as keras

keras.utils.set_random_seed(4)
rng = np.random.default_rng(4)
workdir = tempfile.mkdtemp()


def make_model(hidden=32, lr=1e-2):
    model = keras.Sequential([
        keras.Input(shape=(8,)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="mse", metrics=["mae"])
    return model


# Targets that are pure noise: the validation loss soon gets worse, which the callbacks notice.
x_noise = rng.standard_normal((256, 8)).astype("float32")
y_noise = rng.standard_normal((256, 1)).astype("float32")
x_val = rng.standard_normal((64, 8)).astype("float32")
y_val = rng.standard_normal((64, 1)).astype("float32")

best_path = os.path.join(workdir, "best.weights.h5")
csv_path = os.path.join(workdir, "training.csv")
model = make_model(hidden=64)
callbacks = [
    keras.callbacks.ModelCheckpoint(filepath=best_path, monitor="val_loss", save_best_only=True,
                                    save_weights_only=True),
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True),
    keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=1e-4),
    keras.callbacks.CSVLogger(csv_path),
    keras.callbacks.TerminateOnNaN(),
]
history = model.fit(x_noise, y_noise, validation_data=(x_val, y_val), epochs=40, batch_size=16,
                    callbacks=callbacks, verbose=0)
val_losses = history.history["val_loss"]
print("stopped after", len(history.epoch), "epochs; val_loss", val_losses)
assert len(history.epoch) < 40  # EarlyStopping ended it
assert os.path.exists(best_path)
best = min(val_losses)
assert abs(model.evaluate(x_val, y_val, verbose=0)[0] - best) < 1e-4  # the best weights came back
learning_rates = history.history["learning_rate"]
assert learning_rates[-1] < learning_rates[0]  # ReduceLROnPlateau lowered it
assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) < 1e-2
with open(csv_path) as f:
    rows = list(csv.DictReader(f))
assert len(rows) == len(history.epoch)
assert {"epoch", "loss", "mae", "val_loss", "val_mae"} <= set(rows[0])
np.testing.assert_allclose([float(r["val_loss"]) for r in rows], val_losses, rtol=1e-5)

# The checkpointed best weights, loaded into a model made again.
again = make_model(hidden=64)
again.load_weights(best_path)
np.testing.assert_allclose(again.predict(x_val, verbose=0), model.predict(x_val, verbose=0), rtol=1e-6, atol=1e-6)

# A real task now: y is a function of x.
x = rng.standard_normal((512, 8)).astype("float32")
y = (x[:, :1] * 2.0 - x[:, 1:2] + 0.5 * x[:, 2:3] ** 2).astype("float32")

# LearningRateScheduler, and a checkpoint of the whole model every epoch.
def schedule(epoch, lr):
    return lr if epoch < 2 else lr * 0.5


epoch_path = os.path.join(workdir, "model_{epoch:02d}.keras")
model = make_model()
history = model.fit(x, y, epochs=4, batch_size=32, verbose=0,
                    callbacks=[keras.callbacks.LearningRateScheduler(schedule),
                               keras.callbacks.ModelCheckpoint(epoch_path)])
np.testing.assert_allclose(history.history["learning_rate"], [1e-2, 1e-2, 5e-3, 2.5e-3], rtol=1e-6)
saved = sorted(name for name in os.listdir(workdir) if name.startswith("model_"))
assert saved == ["model_01.keras", "model_02.keras", "model_03.keras", "model_04.keras"], saved
last = keras.models.load_model(os.path.join(workdir, "model_04.keras"))
np.testing.assert_allclose(last.predict(x[:10], verbose=0), model.predict(x[:10], verbose=0), rtol=1e-6, atol=1e-6)

# Resuming: two more epochs, counted from where the first run stopped.
more = model.fit(x, y, epochs=6, initial_epoch=4, batch_size=32, verbose=0)
assert more.epoch == [4, 5]

# A schedule object as the learning rate.
lr_schedule = keras.optimizers.schedules.ExponentialDecay(initial_learning_rate=0.05, decay_steps=16,
                                                          decay_rate=0.5)
model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)])
optimizer = keras.optimizers.SGD(learning_rate=lr_schedule)
model.compile(optimizer=optimizer, loss="mse")
losses = model.fit(x, y, epochs=2, batch_size=32, verbose=0).history["loss"]
assert losses[-1] < losses[0]
assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 32
np.testing.assert_allclose(float(keras.ops.convert_to_numpy(optimizer.learning_rate)), 0.05 * 0.5 ** 2, rtol=1e-5)
np.testing.assert_allclose(float(keras.ops.convert_to_numpy(lr_schedule(8))), 0.05 * 0.5 ** 0.5, rtol=1e-5)

# sample_weight: half the targets are garbage, with weight zero they teach nothing.
garbage = np.arange(512) % 2 == 1
y_dirty = np.where(garbage[:, None], 25.0, y).astype("float32")
weights = np.where(garbage, 0.0, 1.0)
model = make_model()
model.fit(x, y_dirty, sample_weight=weights, epochs=10, batch_size=32, verbose=0)
clean_mse = model.evaluate(x[~garbage], y[~garbage], verbose=0)[0]
print("mse on clean rows, garbage weighted out:", clean_mse)
assert clean_mse < 0.5

# class_weight: a rare class weighed up is predicted more often.
x_cls = rng.standard_normal((600, 8)).astype("float32")
y_cls = (x_cls[:, 0] + 0.8 * rng.standard_normal(600) > 1.3).astype("int32")  # about 12% positives


def positives(class_weight):
    keras.utils.set_random_seed(9)
    classifier = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(8, activation="relu"),
                                   keras.layers.Dense(1, activation="sigmoid")])
    classifier.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="binary_crossentropy",
                       metrics=[keras.metrics.BinaryAccuracy(), keras.metrics.Recall()])
    classifier.fit(x_cls, y_cls, class_weight=class_weight, epochs=8, batch_size=32, verbose=0)
    return int(np.sum(classifier.predict(x_cls, verbose=0) > 0.5))


plain, weighted = positives(None), positives({0: 1.0, 1: 6.0})
print("predicted positives:", plain, "plain,", weighted, "class-weighted; true", int(y_cls.sum()))
assert weighted > plain
