"""A small CNN on scikit-learn's 8x8 digits (shipped offline), as 8x8x1 channels-last images.

Conv 3x3 16 (same), ReLU, Conv 3x3 32 (same), ReLU, MaxPool 2, Flatten, Dense 64, ReLU,
Dense 10; cross-entropy on the integer labels (from logits), Adam at 1e-3, batch 32.
"""

from __future__ import annotations

import time

import numpy as np
from _common import parser, setup
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def load():
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]  # (N, 8, 8, 1) in [0, 1]
    return train_test_split(images, digits.target, test_size=0.2, random_state=42)


def build(xdl):
    return xdl.NeuralNetwork([
        xdl.Conv2D(input_channels=1, output_channels=16, kernel_size=3, padding="same"), xdl.ReLU(),
        xdl.Conv2D(output_channels=32, kernel_size=3, padding="same"), xdl.ReLU(),
        xdl.MaxPool2D(pool_size=2),
        xdl.Flatten(), xdl.Dense(output_size=64), xdl.ReLU(), xdl.Dense(output_size=10),
    ])


def main(argv=None):
    p = parser(__doc__, epochs=12)
    p.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's learning rate")
    args = p.parse_args(argv)
    xdl = setup(args)
    X_train, X_test, y_train, y_test = load()

    model = build(xdl)
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.Adam(learning_rate=args.learning_rate))
    return fit_and_score(xdl, model, args, X_train, X_test, y_train, y_test)


def fit_and_score(xdl, model, args, X_train, X_test, y_train, y_test):
    """Train a compiled model as the options say, print its time and test accuracy, return the accuracy."""
    print(f"training on {len(X_train):,} images for {args.epochs} epochs", flush=True)
    start = time.perf_counter()
    history = model.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                        verbose=args.verbose)
    seconds = time.perf_counter() - start

    predictions = xdl.to_numpy(model.predict(X_test))
    accuracy = float(np.mean(np.argmax(predictions, axis=1) == y_test))
    samples = len(X_train) * args.epochs
    print(f"trained {args.epochs} epochs in {seconds:.1f}s ({samples / seconds:,.0f} images/s), "
          f"final loss {history['loss'][-1]:.4f}")
    print(f"Test accuracy: {accuracy:.4f} on {len(y_test)} held-out digits")
    return accuracy


if __name__ == "__main__":
    main()
