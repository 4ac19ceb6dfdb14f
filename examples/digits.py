"""Classify scikit-learn's 8x8 digits (shipped offline) with an MLP.

Two recipes:

- ``--recipe modern`` (default): Dense 64-256, ReLU, Dropout 0.3, Dense 10, cross-entropy
  from logits on the integer labels, Adam, 10% of the training set held out for validation,
  early stopping that restores the best weights.
- ``--recipe tutorial``: the tutorial's slide 9: Dense 64-32, ReLU, Dense 10, MSE on
  one-hot targets, SGD at learning rate 0.01, batch 32, 200 epochs.
"""

from __future__ import annotations

import time

import numpy as np
from _common import parser, setup
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def load():
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.2, random_state=42)
    scaler = StandardScaler().fit(X_train)  # fit on training data only
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def tutorial_model(xdl, args):
    model = xdl.NeuralNetwork()
    model.add(xdl.Dense(input_size=64, output_size=32))
    model.add(xdl.ReLU())
    model.add(xdl.Dense(output_size=10))
    model.compile(loss=xdl.MSE(), optimizer=xdl.SGD(learning_rate=args.learning_rate or 0.01))
    return model


def modern_model(xdl, args):
    model = xdl.NeuralNetwork()
    model.add(xdl.Dense(input_size=64, output_size=256, kernel_initializer="he_uniform"))
    model.add(xdl.ReLU())
    model.add(xdl.Dropout(0.3))
    model.add(xdl.Dense(output_size=10))
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.Adam(args.learning_rate or 1e-3),
                  metrics=["accuracy"])
    return model


def main(argv=None):
    p = parser(__doc__, epochs=None, epochs_help="passes over the training data (default: 100 for modern, "
                                                 "stopped early; 200 for tutorial)")
    p.add_argument("--recipe", choices=["modern", "tutorial"], default="modern", help="which model and training")
    p.add_argument("--learning-rate", type=float, default=None, help="default: 1e-3 (modern), 0.01 (tutorial)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI: mpiexec -n 2 python examples/digits.py --distributed")
    args = p.parse_args(argv)
    xdl = setup(args)
    X_train, X_test, y_train, y_test = load()

    if args.recipe == "tutorial":
        model, targets, options = tutorial_model(xdl, args), np.eye(10)[y_train], {}
        epochs = args.epochs or 200
    else:
        model, targets, epochs = modern_model(xdl, args), y_train, args.epochs or 100
        stop = xdl.EarlyStopping(monitor="val_loss", patience=20, restore_best_weights=True)
        options = {"validation_split": 0.1, "callbacks": [stop]}

    strategy = xdl.DataParallel() if args.distributed else False  # batch_size is then the global batch
    if not strategy or strategy.is_chief:
        print(f"{args.recipe} recipe: training on {len(X_train):,} digits, at most {epochs} epochs"
              + (" (early stopping)" if options else ""), flush=True)
    start = time.perf_counter()
    history = model.fit(X_train, targets, epochs=epochs, batch_size=args.batch_size, verbose=args.verbose,
                        seed=args.seed, distributed=strategy, **options)
    seconds = time.perf_counter() - start

    predictions = xdl.to_numpy(model.predict(X_test))
    accuracy = float(np.mean(np.argmax(predictions, axis=1) == y_test))
    ran = len(history.epoch)
    samples = round(len(X_train) * (0.9 if options else 1.0)) * ran
    if strategy and not strategy.is_chief:  # every rank holds the same model; rank 0 reports
        return accuracy
    print(f"{args.recipe} recipe: {ran} epochs in {seconds:.1f}s ({samples / seconds:,.0f} samples/s), "
          f"final loss {history['loss'][-1]:.4f}")
    print(f"Test accuracy: {accuracy:.4f} on {len(y_test)} held-out digits")
    return accuracy


if __name__ == "__main__":
    main()
