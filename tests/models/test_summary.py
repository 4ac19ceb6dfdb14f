"""model.summary(): one row per graph node, output shapes, parameters counted once, Connected to."""

from __future__ import annotations

import re

import pytest

import xdl


def lines_of(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines


def row(lines, name):
    """The first line that starts with layer ``name``'s cell."""
    hits = [line for line in lines if line.startswith(f"{name} (")]
    assert hits, "\n".join(lines)
    return hits[0]


def totals(lines):
    text = "\n".join(lines)
    return tuple(int(re.search(rf"{kind} params: ([\d,]+)", text).group(1).replace(",", ""))
                 for kind in ("Total", "Trainable", "Non-trainable"))


def test_sequential_keeps_its_three_columns():
    model = xdl.NeuralNetwork([xdl.Dense(input_size=64, output_size=32, name="d1"), xdl.BatchNorm(name="bn"),
                               xdl.ReLU(name="act"), xdl.Dense(output_size=10, name="d2")], name="seq")
    lines = lines_of(model)
    assert lines[0] == 'Model "seq" on numpy'
    assert re.fullmatch(r"Layer \(type\) +Output shape +Params", lines[2])
    assert "Connected to" not in "\n".join(lines) and "(Input)" not in "\n".join(lines)
    assert re.fullmatch(r"d1 \(Dense\) +\(N, 32\) +2,080", row(lines, "d1"))
    assert re.fullmatch(r"bn \(BatchNorm\) +\(N, 32\) +128", row(lines, "bn"))
    assert re.fullmatch(r"act \(ReLU\) +\(N, 32\) +0", row(lines, "act"))
    assert re.fullmatch(r"d2 \(Dense\) +\(N, 10\) +330", row(lines, "d2"))
    assert totals(lines) == (2538, 2474, 64)
    # the columns line up: every row as wide as the header's rule
    assert len({len(line) for line in lines[1:8]}) == 1


def test_sequential_of_images_after_fit_shapes_come_from_the_data():
    model = xdl.NeuralNetwork([xdl.Conv2D(output_channels=4, kernel_size=3, name="c"), xdl.Flatten(name="f"),
                               xdl.Dense(output_size=2, name="d")])
    with pytest.raises(xdl.NotBuiltError, match="summary needs the input shape"):
        model.summary()
    model.build((8, 8, 1))
    lines = lines_of(model)
    assert re.fullmatch(r"c \(Conv2D\) +\(N, 6, 6, 4\) +40", row(lines, "c"))
    assert re.fullmatch(r"f \(Flatten\) +\(N, 144\) +0", row(lines, "f"))
    assert totals(lines)[0] == 40 + 144 * 2 + 2


def residual():
    inputs = xdl.Input(shape=(8, 8, 1), name="image")
    x = xdl.Conv2D(output_channels=16, kernel_size=3, padding="same", name="stem")(inputs)
    y = xdl.ReLU(name="act")(xdl.Conv2D(output_channels=16, kernel_size=3, padding="same", name="conv")(x))
    z = xdl.Add(name="sum")([x, y])
    outputs = xdl.Dense(output_size=10, name="logits")(xdl.GlobalAveragePooling2D(name="gap")(z))
    return xdl.Model(inputs, outputs, name="resnet")


def test_functional_model_lists_inputs_and_what_each_node_reads():
    lines = lines_of(residual())  # no data: the graph's symbolic shapes
    assert re.fullmatch(r"Layer \(type\) +Output shape +Params +Connected to", lines[2])
    assert re.fullmatch(r"image \(Input\) +\(N, 8, 8, 1\) +0 +-", row(lines, "image"))
    assert re.fullmatch(r"stem \(Conv2D\) +\(N, 8, 8, 16\) +160 +image", row(lines, "stem"))
    assert re.fullmatch(r"conv \(Conv2D\) +\(N, 8, 8, 16\) +2,320 +stem", row(lines, "conv"))
    assert re.fullmatch(r"sum \(Add\) +\(N, 8, 8, 16\) +0 +stem, act", row(lines, "sum"))
    assert re.fullmatch(r"gap \(GlobalAveragePooling2D\) +\(N, 16\) +0 +sum", row(lines, "gap"))
    assert re.fullmatch(r"logits \(Dense\) +\(N, 10\) +170 +gap", row(lines, "logits"))
    names = [line.split(" ")[0] for line in lines[4:-4]]
    assert names == ["image", "stem", "conv", "act", "sum", "gap", "logits"]  # topological order
    assert totals(lines) == (160 + 2320 + 170, 160 + 2320 + 170, 0)


def test_nested_models_are_one_row_with_their_total():
    block = xdl.NeuralNetwork([xdl.Dense(output_size=8, name="inner_dense"), xdl.BatchNorm(name="inner_bn")],
                              name="block")
    inputs = xdl.Input(shape=(4,), name="x")
    sub_in = xdl.Input(shape=(8,), name="sub_in")
    sub = xdl.Model(sub_in, xdl.Dense(output_size=3, name="sub_dense")(sub_in), name="head")
    outputs = sub(block(inputs))
    lines = lines_of(xdl.Model(inputs, outputs, name="outer"))
    assert re.fullmatch(r"block \(NeuralNetwork\) +\(N, 8\) +72 +x", row(lines, "block"))  # 40 + 32
    assert re.fullmatch(r"head \(Model\) +\(N, 3\) +27 +block", row(lines, "head"))
    text = "\n".join(lines)
    assert "inner_dense" not in text and "sub_dense" not in text and "sub_in" not in text
    assert totals(lines) == (99, 83, 16)


def test_a_shared_layer_counts_once():
    left, right = xdl.Input(shape=(5,), name="left"), xdl.Input(shape=(5,), name="right")
    shared = xdl.Dense(output_size=4, name="tower")
    merged = xdl.Concatenate(name="join")([shared(left), shared(right)])
    lines = lines_of(xdl.Model([left, right], xdl.Dense(output_size=1, name="out")(merged), name="siamese"))
    towers = [line for line in lines if line.startswith("tower (Dense)")]
    assert len(towers) == 2
    assert re.fullmatch(r"tower \(Dense\) +\(N, 4\) +24 +left", towers[0])
    assert re.fullmatch(r"tower \(Dense\) +\(N, 4\) +0 \(shared\) +right", towers[1])
    # a layer called twice is named by call and output, as Keras does
    assert re.fullmatch(r"join \(Concatenate\) +\(N, 8\) +0 +tower\[0\]\[0\], tower\[1\]\[0\]", row(lines, "join"))
    assert totals(lines) == (24 + 9, 24 + 9, 0)


def test_a_layer_shared_with_a_nested_model_counts_once():
    dense = xdl.Dense(output_size=3, name="both")
    inner_in = xdl.Input(shape=(3,), name="inner_in")
    inner = xdl.Model(inner_in, dense(inner_in), name="inner")
    inputs = xdl.Input(shape=(3,), name="x")
    lines = lines_of(xdl.Model(inputs, dense(inner(inputs)), name="outer"))
    assert re.fullmatch(r"inner \(Model\) +\(N, 3\) +12 +x", row(lines, "inner"))
    assert re.fullmatch(r"both \(Dense\) +\(N, 3\) +0 \(shared\) +inner", row(lines, "both"))
    assert totals(lines) == (12, 12, 0)


def test_a_layer_with_several_outputs_shows_each():
    inputs = xdl.Input(shape=(None, 3), name="seq")
    outs, state = xdl.SimpleRNN(hidden_size=5, return_sequences=True, return_state=True, name="rnn")(inputs)
    lines = lines_of(xdl.Model(inputs, [xdl.Flatten(name="flat")(state), outs], name="two"))
    at = lines.index(row(lines, "rnn"))
    assert re.fullmatch(r"rnn \(SimpleRNN\) +\(N, None, 5\) +45 +seq", lines[at])
    assert re.fullmatch(r" +\(N, 5\)", lines[at + 1])  # the second output, on its own line
    assert re.fullmatch(r"flat \(Flatten\) +\(N, 5\) +0 +rnn\[0\]\[1\]", row(lines, "flat"))
    assert totals(lines)[0] == 45


def test_long_connected_to_cells_wrap():
    inputs = [xdl.Input(shape=(2,), name=f"a_rather_long_input_name_{k}") for k in range(4)]
    lines = lines_of(xdl.Model(inputs, xdl.Concatenate(name="cat")(inputs)))
    at = lines.index(row(lines, "cat"))
    end = next(k for k in range(at, len(lines)) if lines[k].startswith("---"))
    assert end - at > 1  # wrapped onto continuation lines
    cell = " ".join(line.split("  ")[-1].strip() for line in lines[at:end])
    assert cell == ", ".join(t.name for t in inputs)
    assert all(len(line) <= len(lines[1]) for line in lines)


def test_summary_runs_on_every_backend(be):
    lines = lines_of(residual())
    assert lines[0] == f'Model "resnet" on {be.name}'
    assert totals(lines)[0] == 2650


def test_summary_lists_layers_shapes_and_parameters(be):
    model = xdl.NeuralNetwork([xdl.Dense(input_size=64, output_size=32), xdl.BatchNorm(), xdl.ReLU(),
                               xdl.Dense(output_size=10)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert re.search(r"dense(_\d+)? \(Dense\) +\(N, 32\) +2,080", text)
    assert re.search(r"batch_norm(_\d+)? \(BatchNorm\) +\(N, 32\) +128", text)
    assert "Total params: 2,538" in text and "Non-trainable params: 64" in text
    with pytest.raises(xdl.NotBuiltError, match="summary needs the input shape"):
        xdl.NeuralNetwork([xdl.Dense(output_size=3)]).summary()
