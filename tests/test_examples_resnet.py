"""examples/digits_resnet.py: the functional residual CNN trains, and says what it did."""

from __future__ import annotations

import re

from test_examples import load


def test_digits_resnet_trains_in_a_few_epochs(capsys):
    # a narrow net for 3 epochs: the full run (32 channels, 12 epochs) reaches 0.99
    accuracy = load("digits_resnet").main(["--backend", "numpy", "--epochs", "3", "--width", "16", "--seed", "0",
                                           "--summary"])
    out = capsys.readouterr().out
    assert accuracy >= 0.85, out  # chance is 0.1
    assert re.search(r"^trained 3 epochs in [\d.]+s \([\d,]+ images/s\), final loss [\d.]+$", out, re.M), out
    printed = re.search(r"^Test accuracy: ([\d.]+) on 360 held-out digits$", out, re.M)
    assert printed and abs(float(printed.group(1)) - accuracy) < 1e-4, out
    # the summary shows the graph: each Add reads the block's input and its second convolution
    assert re.search(r"^block1_add \(Add\) +\(N, 8, 8, 16\) +0 +stem_relu, block1_conv2$", out, re.M), out
    assert re.search(r"^block2_add \(Add\) +\(N, 4, 4, 16\) +0 +pool, block2_conv2$", out, re.M), out
