"""A GAN on scikit-learn's 8x8 digits: two models, two optimizers, one custom ``train_step``.

The step is Keras's (keras.io's "customizing what happens in fit()" GAN) written with xdl:
a ``GradientTape`` for each model, ``optimizer.apply_gradients``, binary cross-entropy from
logits called on the recorded outputs, and two ``Mean`` trackers as the model's ``metrics``.
``fit(images)`` hands each batch of images to the step.

What it prints: the losses per epoch, then how close generated digits come to real ones (the
mean distance from each generated image to its nearest real digit, against that of uniform
noise) and how many of the ten classes a logistic regression sees among them.
"""

from __future__ import annotations

import numpy as np
from _common import parser, setup
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

LATENT = 16


def make_gan(xdl):
    ops = xdl.ops
    generator = xdl.Sequential([xdl.Dense(units=64), xdl.LeakyReLU(0.2), xdl.Dense(units=64),
                                xdl.LeakyReLU(0.2), xdl.Dense(units=64, activation="tanh")], name="generator")
    discriminator = xdl.Sequential([xdl.Dense(units=64), xdl.LeakyReLU(0.2), xdl.Dense(units=32),
                                    xdl.LeakyReLU(0.2), xdl.Dense(units=1)], name="discriminator")

    class GAN(xdl.Model):
        def __init__(self):
            super().__init__(name="gan")
            self.generator, self.discriminator = generator, discriminator
            self.noise = xdl.get_backend().random_uniform(0)  # on the device: no host transfer per step

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn
            self.d_loss_metric = xdl.metrics.Mean(name="d_loss")
            self.g_loss_metric = xdl.metrics.Mean(name="g_loss")

        @property
        def metrics(self):  # fit resets them every epoch
            return [self.d_loss_metric, self.g_loss_metric]

        def latent(self, n, dtype):
            return self.noise((n, LATENT), dtype) * 2.0 - 1.0

        def train_step(self, real):
            n = real.shape[0]
            fake = self.generator(self.latent(n, real.dtype))
            images = ops.concat([fake, real], axis=0)
            labels = ops.concat([ops.ones((n, 1), dtype=real.dtype), ops.zeros((n, 1), dtype=real.dtype)], axis=0)
            with xdl.GradientTape() as tape:  # the discriminator learns to tell them apart
                d_loss = self.loss_fn(labels, self.discriminator(images))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            misleading = ops.zeros((n, 1), dtype=real.dtype)  # "real", for the generator's loss
            with xdl.GradientTape() as tape:  # the generator learns to fool it
                g_loss = self.loss_fn(misleading, self.discriminator(self.generator(self.latent(n, real.dtype))))
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {m.name: m.result() for m in self.metrics}

    return GAN()


def nearest_distance(samples, data):
    d = ((samples[:, None, :] - data[None, :, :]) ** 2).sum(-1)
    return float(np.sqrt(d.min(axis=1)).mean())


def main(argv=None):
    p = parser(__doc__, epochs=60, batch_size=64)
    p.add_argument("--learning-rate", type=float, default=0.002, help="Adam's step size for both models")
    p.add_argument("--samples", type=int, default=200, help="generated digits to score")
    args = p.parse_args(argv)
    xdl = setup(args)
    digits = load_digits()
    images = (digits.data / 8.0 - 1.0).astype(np.float32)  # pixels 0..16 -> [-1, 1]
    gan = make_gan(xdl)
    gan.compile(d_optimizer=xdl.Adam(args.learning_rate, beta_1=0.5), g_optimizer=xdl.Adam(args.learning_rate, beta_1=0.5),
                loss_fn=xdl.losses.BinaryCrossEntropy(from_logits=True))
    history = gan.fit(images, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    d, g = history.history["d_loss"], history.history["g_loss"]
    print(f"epoch 1: d_loss {d[0]:.3f} g_loss {g[0]:.3f}; epoch {len(d)}: d_loss {d[-1]:.3f} g_loss {g[-1]:.3f}")
    rng = np.random.default_rng(args.seed)
    z = rng.uniform(-1.0, 1.0, (args.samples, LATENT)).astype(np.float32)
    fake = np.asarray(xdl.to_numpy(gan.generator.predict(z)))
    noise = rng.uniform(-1.0, 1.0, fake.shape)
    ratio = nearest_distance(fake, images) / nearest_distance(noise, images)
    classifier = LogisticRegression(max_iter=2000).fit(images, digits.target)
    classes = len(set(classifier.predict(fake)))
    print(f"nearest real digit: generated {nearest_distance(fake, images):.2f}, noise "
          f"{nearest_distance(noise, images):.2f} (ratio {ratio:.2f}); classes among {args.samples} samples: "
          f"{classes}")
    return {"d_loss": d, "g_loss": g, "ratio": ratio, "classes": classes}


if __name__ == "__main__":
    main()
