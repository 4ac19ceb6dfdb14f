"""The tutorial's slide 9: classify scikit-learn's 8x8 digits (shipped offline) with an MLP.

The recipe is the tutorial's: Dense 64-32, ReLU, Dense 10, MSE on one-hot targets, SGD at
learning rate 0.01, batch 32.
"""

from __future__ import annotations

import time

import numpy as np
from _common import parser, setup
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def load(seed):
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.2, random_state=42)
    scaler = StandardScaler().fit(X_train)  # fit on training data only
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def main(argv=None):
    p = parser(__doc__, epochs=200)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=0.01)
    args = p.parse_args(argv)
    xdl = setup(args)
    X_train, X_test, y_train, y_test = load(args.seed)

    model = xdl.NeuralNetwork()
    model.add(xdl.Dense(input_size=64, output_size=32))
    model.add(xdl.ReLU())
    model.add(xdl.Dense(output_size=10))
    model.compile(loss=xdl.MSE(), optimizer=xdl.SGD(learning_rate=args.learning_rate))

    start = time.perf_counter()
    history = model.fit(X_train, np.eye(10)[y_train], epochs=args.epochs, batch_size=args.batch_size,
                        verbose=0)
    seconds = time.perf_counter() - start

    predictions = xdl.to_numpy(model.predict(X_test))
    accuracy = float(np.mean(np.argmax(predictions, axis=1) == y_test))
    samples = len(X_train) * args.epochs
    print(f"trained {args.epochs} epochs in {seconds:.1f}s ({samples / seconds:,.0f} samples/s), "
          f"final loss {history['loss'][-1]:.4f}")
    print(f"Test accuracy: {accuracy:.4f} on {len(y_test)} held-out digits")
    return accuracy


if __name__ == "__main__":
    main()
