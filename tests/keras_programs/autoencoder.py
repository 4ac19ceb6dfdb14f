"""Autoencoders on the 8x8 digits, Keras 3 style: a dense autoencoder whose encoder and decoder
are models sharing its layers, a convolutional one with Conv2DTranspose and UpSampling2D,
a denoising fit (noisy inputs, clean targets), and a small variational autoencoder whose
sampling layer draws with keras.random and adds its KL term with add_loss."""

import numpy as np
from sklearn.datasets import load_digits

import xdl as keras

keras.utils.set_random_seed(5)
rng = np.random.default_rng(5)

flat = (load_digits().data / 16.0).astype("float32")  # (1797, 64) in [0, 1]
x_train, x_test = flat[:1500], flat[1500:]

# 1. Dense: 64 -> 8 -> 64, with the encoder and decoder as models of their own.
encoding_dim = 8
inputs = keras.Input(shape=(64,))
encoded = keras.layers.Dense(32, activation="relu")(inputs)
encoded = keras.layers.Dense(encoding_dim, activation="relu")(encoded)
decoded = keras.layers.Dense(32, activation="relu")(encoded)
decoded = keras.layers.Dense(64, activation="sigmoid")(decoded)
autoencoder = keras.Model(inputs, decoded)
encoder = keras.Model(inputs, encoded)

encoded_input = keras.Input(shape=(encoding_dim,))
decoder = keras.Model(encoded_input, autoencoder.layers[-1](autoencoder.layers[-2](encoded_input)))

autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
baseline = autoencoder.evaluate(x_test, x_test, verbose=0)
autoencoder.fit(x_train, x_train, epochs=10, batch_size=64, shuffle=True, validation_data=(x_test, x_test), verbose=0)
trained = autoencoder.evaluate(x_test, x_test, verbose=0)
print("dense autoencoder test loss:", baseline, "->", trained)
assert trained < 0.8 * baseline

codes = encoder.predict(x_test, verbose=0)
assert codes.shape == (len(x_test), encoding_dim)
reconstructed = decoder.predict(codes, verbose=0)
np.testing.assert_allclose(reconstructed, autoencoder.predict(x_test, verbose=0), rtol=1e-5, atol=1e-6)

# 2. Convolutional and denoising: noisy images in, clean images out.
images_train = x_train.reshape(-1, 8, 8, 1)
images_test = x_test.reshape(-1, 8, 8, 1)
noisy_train = np.clip(images_train + 0.3 * rng.standard_normal(images_train.shape), 0.0, 1.0).astype("float32")
noisy_test = np.clip(images_test + 0.3 * rng.standard_normal(images_test.shape), 0.0, 1.0).astype("float32")

conv_ae = keras.Sequential(
    [
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(16, (3, 3), activation="relu", padding="same"),
        keras.layers.MaxPooling2D((2, 2), padding="same"),
        keras.layers.Conv2D(8, (3, 3), activation="relu", padding="same"),
        keras.layers.UpSampling2D((2, 2)),
        keras.layers.Conv2DTranspose(16, (3, 3), strides=1, activation="relu", padding="same"),
        keras.layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same"),
    ],
    name="denoiser",
)
assert conv_ae.output_shape == (None, 8, 8, 1)
conv_ae.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="mse")
noisy_error = float(np.mean((noisy_test - images_test) ** 2))
conv_ae.fit(noisy_train, images_train, epochs=8, batch_size=64, verbose=0)
denoised_error = conv_ae.evaluate(noisy_test, images_test, verbose=0)
print("denoising mse:", noisy_error, "->", denoised_error)
assert denoised_error < noisy_error

# 3. A variational autoencoder: the KL divergence joins the loss through add_loss.
latent_dim = 2


class Sampling(keras.layers.Layer):
    """Draws z from N(z_mean, exp(z_log_var)) and adds the KL divergence to the loss."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * keras.ops.mean(
            keras.ops.sum(1 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var), axis=1))
        self.add_loss(kl)
        epsilon = keras.random.normal(shape=keras.ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * epsilon


vae_inputs = keras.Input(shape=(64,))
h = keras.layers.Dense(32, activation="relu")(vae_inputs)
z_mean = keras.layers.Dense(latent_dim, name="z_mean")(h)
z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(h)
z = Sampling()([z_mean, z_log_var])
vae_decoder = keras.Sequential(
    [keras.Input(shape=(latent_dim,)), keras.layers.Dense(32, activation="relu"),
     keras.layers.Dense(64, activation="sigmoid")], name="vae_decoder")
vae = keras.Model(vae_inputs, vae_decoder(z), name="vae")
vae.compile(optimizer=keras.optimizers.Adam(learning_rate=2e-3), loss="binary_crossentropy")
history = vae.fit(x_train, x_train, epochs=8, batch_size=64, verbose=0)
print("vae loss:", history.history["loss"])
assert history.history["loss"][-1] < history.history["loss"][0]
generated = vae_decoder.predict(np.zeros((3, latent_dim), dtype="float32"), verbose=0)
assert generated.shape == (3, 64) and np.all((generated > 0) & (generated < 1))
