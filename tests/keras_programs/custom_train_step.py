"""Customizing what happens in fit(), the Keras 3 way: Model subclasses overriding train_step
and test_step. Gradients come from keras.GradientTape (xdl's backend-agnostic face of
tf.GradientTape), the compiled loss from self.compute_loss, the update from
self.optimizer.apply / apply_gradients, and the figures from self.metrics and
self.compute_metrics. Also: a lower-level model with its own loss and metric trackers listed
in the metrics property, sample weights in the step, and a two-optimizer GAN whose compile
takes its own arguments."""

import numpy as np

import xdl as keras

keras.utils.set_random_seed(10)
rng = np.random.default_rng(10)
x = rng.standard_normal((256, 6)).astype("float32")
y = (x @ rng.standard_normal((6, 1)) + 0.3).astype("float32")


class CustomModel(keras.Model):
    def train_step(self, data):
        x, y = data
        with keras.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply(gradients, trainable_vars)
        return self.track(loss, y, y_pred)

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        return self.track(self.compute_loss(y=y, y_pred=y_pred), y, y_pred)

    def track(self, loss, y, y_pred):
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


inputs = keras.Input(shape=(6,))
hidden = keras.layers.Dense(16, activation="relu")(inputs)
outputs = keras.layers.Dense(1)(hidden)
model = CustomModel(inputs, outputs)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2), loss="mse", metrics=["mae"])
history = model.fit(x, y, epochs=8, batch_size=32, validation_split=0.25, verbose=0)
logged = history.history
assert {"loss", "mae", "val_loss", "val_mae"} <= set(logged), sorted(logged)
print("custom step loss:", logged["loss"][0], "->", logged["loss"][-1])
assert logged["loss"][-1] < 0.3 * logged["loss"][0]
results = model.evaluate(x, y, return_dict=True, verbose=0)
assert results["loss"] < logged["loss"][0] and "mae" in results
assert model.predict(x[:5], verbose=0).shape == (5, 1)


class LowLevelModel(keras.Model):
    """No compiled loss or metrics: the step computes its loss and keeps its own trackers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = keras.losses.MeanSquaredError()

    def train_step(self, data):
        x, y = data
        with keras.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        # Listed here, the trackers are reset at the start of every epoch.
        return [self.loss_tracker, self.mae_metric]


inputs = keras.Input(shape=(6,))
outputs = keras.layers.Dense(1)(keras.layers.Dense(16, activation="tanh")(inputs))
low = LowLevelModel(inputs, outputs)
low.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05))
history = low.fit(x, y, epochs=6, batch_size=32, verbose=0)
assert set(history.history) == {"loss", "mae"}
assert history.history["loss"][-1] < 0.3 * history.history["loss"][0], history.history["loss"]
# The trackers were reset each epoch: the last epoch's loss is that epoch's mean, not the run's.
assert history.history["mae"][-1] < history.history["mae"][0]


class WeightedModel(keras.Model):
    """Sample weights through the step, and compute_metrics for the compiled metrics."""

    def train_step(self, data):
        if len(data) == 3:
            x, y, sample_weight = data
        else:
            (x, y), sample_weight = data, None
        with keras.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


# Half the targets are wrong; their weight is zero.
wrong = np.arange(256) % 2 == 0
y_noisy = np.where(wrong[:, None], -10.0, y).astype("float32")
inputs = keras.Input(shape=(6,))
weighted = WeightedModel(inputs, keras.layers.Dense(1)(inputs))
weighted.compile(optimizer=keras.optimizers.Adam(learning_rate=5e-2), loss="mse",
                 metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])
history = weighted.fit(x, y_noisy, sample_weight=np.where(wrong, 0.0, 1.0), epochs=15, batch_size=32, verbose=0)
assert set(history.history) == {"loss", "rmse"}
clean_error = weighted.evaluate(x[~wrong], y[~wrong], return_dict=True, verbose=0)
print("weighted step, error on the clean rows:", clean_error)
assert clean_error["rmse"] < 0.5


class GAN(keras.Model):
    """Two models, two optimizers, fit on the real samples alone."""

    def __init__(self, discriminator, generator, latent_dim, **kwargs):
        super().__init__(**kwargs)
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def call(self, samples):
        return self.discriminator(samples)  # the verdict on samples: 1 for fake

    def train_step(self, real):
        batch_size = keras.ops.shape(real)[0]
        noise = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        fake = self.generator(noise)
        samples = keras.ops.concatenate([fake, real], axis=0)
        labels = keras.ops.concatenate([keras.ops.ones((batch_size, 1)), keras.ops.zeros((batch_size, 1))], axis=0)
        with keras.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(samples))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        noise = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        misleading = keras.ops.zeros((batch_size, 1))  # "these are real"
        with keras.GradientTape() as tape:
            g_loss = self.loss_fn(misleading, self.discriminator(self.generator(noise)))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


latent_dim = 4
real = (rng.standard_normal((512, 2)) * 0.3 + np.array([2.0, -1.0])).astype("float32")
discriminator = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(16), keras.layers.LeakyReLU(0.2),
                                  keras.layers.Dense(1, activation="sigmoid")], name="discriminator")
generator = keras.Sequential([keras.Input(shape=(latent_dim,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2)], name="generator")
gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate=5e-3),
            g_optimizer=keras.optimizers.Adam(learning_rate=5e-3),
            loss_fn=keras.losses.BinaryCrossentropy())
noise = rng.standard_normal((256, latent_dim)).astype("float32")
weights_before = [w.copy() for w in generator.get_weights() + discriminator.get_weights()]
distance_before = np.linalg.norm(generator.predict(noise, verbose=0).mean(axis=0) - real.mean(axis=0))
history = gan.fit(real, epochs=20, batch_size=32, verbose=0)
assert set(history.history) == {"d_loss", "g_loss"}
assert all(np.isfinite(history.history["d_loss"])) and all(np.isfinite(history.history["g_loss"]))
distance_after = np.linalg.norm(generator.predict(noise, verbose=0).mean(axis=0) - real.mean(axis=0))
print("generated mean's distance from the real one:", distance_before, "->", distance_after)
assert distance_after < distance_before  # GANs oscillate: closer, by how much varies
for before, after in zip(weights_before, generator.get_weights() + discriminator.get_weights()):
    assert not np.allclose(before, after)  # both optimizers stepped
