"""The character-level text generator trains (loss falls) and samples, with tiny settings."""

from __future__ import annotations

import pytest
from test_examples import load

TINY = ["--chars", "30000", "--steps", "30", "--embed", "16", "--hidden", "32", "--batch", "16",
        "--seq", "16", "--eval-every", "10", "--learning-rate", "0.02", "--sample", "40", "--prime", "The "]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_text_generation_trains_and_samples(be, cell, capsys):
    if be.name == "array_api_strict":
        pytest.skip("array_api_strict: a conformance checker, too slow for a training run; "
                    "test_recurrent covers its gradients")
    result = load("text_generation").main(["--backend", be.name, "--cell", cell, *TINY])
    out = capsys.readouterr().out
    train, heldout = result["train_bits"], result["heldout_bits"]
    assert len(train) == 3 and train[-1] < train[0] - 0.5, out  # from about log2(96) = 6.6
    assert heldout[-1] < heldout[0] and result["heldout_bits_final"] < 6.0, out
    assert result["unigram_bits"] < 6.0 and "held-out 10%" in out
    assert result["sample"].startswith("The ") and len(result["sample"]) == 44, out


def test_transformer_text_generation_trains_and_samples(be, capsys):
    if be.name != "numpy":
        pytest.skip("one backend is enough here: test_attention covers the layers on every backend")
    tiny = TINY[:4] + TINY[8:]  # without --embed and --hidden, the LSTM's sizes
    result = load("text_generation").main(["--backend", be.name, "--model", "transformer", "--dim", "16",
                                           "--heads", "2", "--layers", "1", *tiny])
    out = capsys.readouterr().out
    train, heldout = result["train_bits"], result["heldout_bits"]
    assert len(train) == 3 and train[-1] < train[0] - 0.3 and heldout[-1] < heldout[0], out
    assert result["sample"].startswith("The ") and len(result["sample"]) == 44 and "chars/s" in out, out
