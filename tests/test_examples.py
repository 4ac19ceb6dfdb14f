"""The examples run end to end and reach their figures (the digits MLP, CNN and residual CNN, the
regression, the text generator with tiny settings); their command lines: ``--help`` keeps the
docstring's layout and explains every option, and each example says what it does."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT

EXAMPLES = ROOT / "examples"


def load(name):
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLES))


def test_digits_reaches_97_percent_with_the_modern_recipe(be, capsys):
    accuracy = load("digits").main(["--backend", be.name])
    assert accuracy >= 0.97, capsys.readouterr().out


def test_digits_reaches_90_percent_with_the_tutorial_recipe(be, capsys):
    if be.name == "array_api_strict":
        pytest.skip("array_api_strict: a conformance checker, too slow for 200 epochs; "
                    "tests/backends/test_equivalence.py covers its training")
    accuracy = load("digits").main(["--backend", be.name, "--recipe", "tutorial"])
    assert accuracy >= 0.90, capsys.readouterr().out


def test_regression_predicts_the_sum(be, capsys):
    prediction = load("regression").main(["--backend", be.name, "--epochs", "40"])
    assert abs(prediction - 3.0) < 0.2, capsys.readouterr().out


def test_digits_cnn_reaches_98_percent(be, capsys):
    if be.name == "array_api_strict":
        pytest.skip("array_api_strict: a conformance checker, too slow for 12 epochs of convolutions; "
                    "tests/layers/conv covers its layers")
    accuracy = load("digits_cnn").main(["--backend", be.name])
    assert accuracy >= 0.98, capsys.readouterr().out


def test_gan_learns_digit_like_images(be, capsys):
    if be.name == "array_api_strict":
        pytest.skip("array_api_strict: a conformance checker, too slow for a training run; "
                    "tests/train/test_custom_steps.py covers its two-model step")
    result = load("gan_digits").main(["--backend", be.name, "--epochs", "20", "--samples", "100"])
    out = capsys.readouterr().out
    # uniform noise lies about 7 from the nearest real digit; generated ones come far closer
    assert result["ratio"] < 0.75 and result["classes"] >= 5, out
    assert len(result["d_loss"]) == 20 and all(v == v for v in result["g_loss"]), out


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


def test_seq2seq_reverses_held_out_words(be, capsys):
    """An LSTM encoder-decoder wired through initial_state=[h, c], then decoded step by step with
    encoder and decoder models made of the trained layers."""
    if be.name == "array_api_strict":
        pytest.skip("array_api_strict: a conformance checker, too slow for a training run; "
                    "tests/models/test_keyword_tensors.py covers its graphs")
    exact = load("seq2seq_reverse").main(["--backend", be.name, "--epochs", "15", "--words", "1500",
                                          "--latent", "64"])
    out = capsys.readouterr().out
    assert exact >= 0.4, out  # chance is nil: a whole word must come out backwards
    assert re.search(r"^held-out words written backwards exactly: [\d.]+ of 150$", out, re.M), out


# -- the text generator ---------------------------------------------------------------------------

TINY = ["--chars", "30000", "--steps", "30", "--embed", "16", "--hidden", "32", "--batch", "16",
        "--seq", "16", "--eval-every", "10", "--learning-rate", "0.02", "--sample", "40", "--prime", "The "]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_text_generation_trains_and_samples(be, cell, capsys):
    if be.name == "array_api_strict":
        pytest.skip("array_api_strict: a conformance checker, too slow for a training run; "
                    "tests/layers/recurrent covers its gradients")
    result = load("text_generation").main(["--backend", be.name, "--cell", cell, *TINY])
    out = capsys.readouterr().out
    train, heldout = result["train_bits"], result["heldout_bits"]
    assert len(train) == 3 and train[-1] < train[0] - 0.5, out  # from about log2(96) = 6.6
    assert heldout[-1] < heldout[0] and result["heldout_bits_final"] < 6.0, out
    assert result["unigram_bits"] < 6.0 and "held-out 10%" in out
    assert result["sample"].startswith("The ") and len(result["sample"]) == 44, out


def test_transformer_text_generation_trains_and_samples(be, capsys):
    if be.name != "numpy":
        pytest.skip("one backend is enough here: tests/layers/attention covers the layers on every backend")
    tiny = TINY[:4] + TINY[8:]  # without --embed and --hidden, the LSTM's sizes
    result = load("text_generation").main(["--backend", be.name, "--model", "transformer", "--dim", "16",
                                           "--heads", "2", "--layers", "1", *tiny])
    out = capsys.readouterr().out
    train, heldout = result["train_bits"], result["heldout_bits"]
    assert len(train) == 3 and train[-1] < train[0] - 0.3 and heldout[-1] < heldout[0], out
    assert result["sample"].startswith("The ") and len(result["sample"]) == 44 and "chars/s" in out, out


# -- command lines ----------------------------------------------------------------------------------

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_"))
SHARED = ["--backend", "--seed", "--batch-size", "--verbose"]


def help_text(name, capsys):
    with pytest.raises(SystemExit) as exit:
        load(name).main(["--help"])
    assert exit.value.code == 0
    return capsys.readouterr().out


def options(text):
    """{option: its help text} from argparse's options section."""
    found, current = {}, None
    for line in text.split("options:", 1)[1].splitlines():
        m = re.match(r"  (-\S+(?: \S+)?(?:, -\S+(?: \S+)?)*)(?:\s{2,}(.*))?$", line)
        if m:
            current = [o.split()[0] for o in m.group(1).split(", ")]
            for o in current:
                found[o] = (m.group(2) or "").strip()
        elif current and line.startswith(" " * 10):
            for o in current:
                found[o] = (found[o] + " " + line.strip()).strip()
    return found


def test_every_example_is_covered():
    assert {"digits", "digits_cnn", "digits_resnet", "regression", "text_generation"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_help_explains_every_option_and_keeps_the_docstring_layout(name, capsys):
    text = help_text(name, capsys)
    helps = options(text)
    expected = SHARED + ([] if name == "text_generation" else ["--epochs"])
    for option in expected:
        assert option in helps, (option, text)
    for option, words in helps.items():
        assert words, f"{name}: {option} has no help text:\n{text}"
    doc = load(name).__doc__
    for line in doc.strip().splitlines():  # every docstring line, as written
        assert line.rstrip() in text, (line, text)


def test_help_from_the_command_line_keeps_bullets_apart():
    out = subprocess.run([sys.executable, str(EXAMPLES / "digits.py"), "--help"], capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "\n- ``--recipe modern`` (default)" in out.stdout and "\n- ``--recipe tutorial``" in out.stdout


def test_text_generation_has_no_epochs_beside_its_time_budget(capsys):
    helps = options(help_text("text_generation", capsys))
    assert "--epochs" not in helps and "--minutes" in helps and "--steps" in helps
    assert "--batch" in helps  # the old spelling of --batch-size still works


def test_digits_says_what_it_does_by_default(capsys):
    load("digits").main(["--backend", "numpy", "--epochs", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("modern recipe: training on 1,437 digits, at most 2 epochs"), lines
    assert lines[-2].startswith("modern recipe: 2 epochs in ") and lines[-1].startswith("Test accuracy: ")


def test_text_generation_reports_after_its_first_step(capsys):
    load("text_generation").main(["--backend", "numpy", "--chars", "20000", "--steps", "3", "--eval-every", "100",
                                  "--embed", "8", "--hidden", "8", "--batch-size", "4", "--seq", "8",
                                  "--sample", "5"])
    out = capsys.readouterr().out
    assert re.search(r"^step +1 .* bits/char .*ms/step", out, re.M), out
    assert re.search(r"^step +3 .* held-out", out, re.M), out
