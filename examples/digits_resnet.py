"""A small residual CNN on scikit-learn's 8x8 digits, built with the functional API.

Input 8x8x1, Conv 3x3 (same) and ReLU to WIDTH channels, then residual blocks (Conv, ReLU,
Conv, Add the block's input, ReLU), a 2x2 max pool after the first, Flatten, Dropout,
Dense 10; cross-entropy on the integer labels (from logits), Adam with a cosine-decayed
learning rate, batch 32. Same held-out split as digits_cnn.py.
"""

from __future__ import annotations

import math

from _common import parser, setup
from digits_cnn import fit_and_score, load


def residual_block(xdl, x, channels, name):
    """relu(x + conv(relu(conv(x)))): two 3x3 convolutions that keep the shape, around a skip."""
    y = xdl.Conv2D(output_channels=channels, kernel_size=3, padding="same", kernel_initializer="he_uniform",
                   name=f"{name}_conv1")(x)
    y = xdl.ReLU(name=f"{name}_relu1")(y)
    y = xdl.Conv2D(output_channels=channels, kernel_size=3, padding="same", name=f"{name}_conv2")(y)
    return xdl.ReLU(name=f"{name}_out")(xdl.Add(name=f"{name}_add")([x, y]))


def build(xdl, width=32, blocks=2, dropout=0.25):
    inputs = xdl.Input(shape=(8, 8, 1), name="image")
    x = xdl.Conv2D(output_channels=width, kernel_size=3, padding="same", kernel_initializer="he_uniform",
                   name="stem")(inputs)
    x = xdl.ReLU(name="stem_relu")(x)
    for k in range(blocks):
        x = residual_block(xdl, x, width, f"block{k + 1}")
        if k == 0:
            x = xdl.MaxPool2D(pool_size=2, name="pool")(x)  # 8x8 -> 4x4
    x = xdl.Flatten(name="flatten")(x)
    if dropout:
        x = xdl.Dropout(dropout, name="dropout")(x)
    outputs = xdl.Dense(output_size=10, name="logits")(x)
    return xdl.Model(inputs=inputs, outputs=outputs, name="digits_resnet")


def main(argv=None):
    p = parser(__doc__, epochs=12)
    p.add_argument("--learning-rate", type=float, default=2e-3, help="Adam's initial rate, decayed to 0")
    p.add_argument("--width", type=int, default=32, help="channels of every convolution")
    p.add_argument("--blocks", type=int, default=2, help="residual blocks (a 2x2 max pool after the first)")
    p.add_argument("--dropout", type=float, default=0.25, help="before the last Dense; 0 for none")
    p.add_argument("--summary", action="store_true", help="print the model's summary first")
    args = p.parse_args(argv)
    xdl = setup(args)
    X_train, X_test, y_train, y_test = load()

    model = build(xdl, width=args.width, blocks=args.blocks, dropout=args.dropout)
    if args.summary:
        model.summary()
    steps = args.epochs * math.ceil(len(X_train) / args.batch_size)
    schedule = xdl.CosineDecay(args.learning_rate, decay_steps=max(steps, 1))
    model.compile(loss="cross_entropy", optimizer=xdl.Adam(learning_rate=schedule))
    return fit_and_score(xdl, model, args, X_train, X_test, y_train, y_test)


if __name__ == "__main__":
    main()
