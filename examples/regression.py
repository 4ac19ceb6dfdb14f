"""The tutorial's slide 8: learn y = x1 + x2 with Dense-ReLU-Dense, MSE and SGD."""

from __future__ import annotations

import time

import numpy as np
from _common import parser, setup


def main(argv=None):
    args = parser(__doc__, epochs=1000).parse_args(argv)
    xdl = setup(args)
    rng = np.random.default_rng(args.seed)
    X_train = rng.standard_normal((1000, 2))
    y_train = np.sum(X_train, axis=1, keepdims=True)

    model = xdl.NeuralNetwork()
    model.add(xdl.Dense(input_size=2, output_size=3))
    model.add(xdl.ReLU())
    model.add(xdl.Dense(output_size=1))
    model.compile(loss=xdl.MSE(), optimizer=xdl.SGD(learning_rate=0.01))

    start = time.perf_counter()
    history = model.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    seconds = time.perf_counter() - start

    X_test = np.array([[1.0, 2.0]])
    prediction = xdl.to_numpy(model.predict(X_test))
    print(f"final training loss: {history['loss'][-1]:.6f} after {args.epochs} epochs in {seconds:.1f}s")
    print(f"Prediction: {prediction[0][0]:.2f}, Expected: {np.sum(X_test):.2f}")
    return float(prediction[0][0])


if __name__ == "__main__":
    main()
