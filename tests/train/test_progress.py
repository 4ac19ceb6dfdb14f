"""What fit shows by verbosity: nothing, a line per epoch, or a progress bar that fits an 80-column
terminal, every figure visible, first drawn after step 1."""

from __future__ import annotations

import pytest

import xdl.train.progress as progress
from tests.helpers import small_classifier, three_classes

X, Y = three_classes()
LOGS = {"loss": 0.123456, "accuracy": 0.987654, "val_loss": 0.2345678, "val_accuracy": 0.975}


def segments(text):
    """What a terminal shows, one string per redraw or line."""
    return [s for line in text.split("\n") for s in line.split("\r") if s.strip()]


def test_layout_fits_80_columns_and_keeps_every_figure():
    items = progress._items(LOGS) + ["14,263 samples/s"]
    postfix, lines = progress.layout("Epoch 10/12", 45, items, 80)
    assert postfix == "loss: 0.1235 - accuracy: 0.9877"  # 4 significant digits
    assert lines == ["  val_loss: 0.2346 - val_accuracy: 0.975 - 14,263 samples/s"]
    wide, none = progress.layout("Epoch 10/12", 45, items, 200)
    assert none == [] and wide.endswith("val_accuracy: 0.975 - 14,263 samples/s")
    narrow, lines = progress.layout("Epoch 10/12", 45, items, 40)
    assert all(len(line) <= 40 for line in lines) and "".join([narrow, *lines]).count(": ") == 4


@pytest.mark.parametrize("columns", [80, 60])
def test_bar_at_terminal_width_shows_steps_times_and_every_figure(columns, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(progress, "_is_terminal", lambda: True)
    monkeypatch.setattr(progress, "REFRESH_S", 3600.0)  # no redraw but the first step's
    reads = []

    def read():
        reads.append(1)
        return {"loss": 0.123456, "accuracy": 0.987654}

    p, err = progress.Progress(1, 12, 45, 1437), ""
    for epoch in range(2):
        p.epoch_begin(epoch)
        err += capsys.readouterr().err
        assert err.endswith("\n") or not err  # nothing at 0% while the first step runs
        for i in range(45):
            p.batch_end(32 * (i + 1), read)
        p.epoch_end(epoch, LOGS)
    assert len(reads) == 2  # the device is read once per epoch here: at the first step's redraw
    shown = segments(err + capsys.readouterr().err)
    assert all(len(s) <= columns for s in shown), max(shown, key=len)
    assert not any(" 0/45" in s for s in shown)
    assert shown[0].startswith("Epoch 1/12 1/45 [") and "loss: 0.1235" in shown[0] and "<" in shown[0]
    final = "\n".join(shown[shown.index(next(s for s in shown if s.startswith("Epoch 2/12 45/45"))):])
    assert "Epoch 2/12 45/45" in final and "samples/s" in final
    for figure in ("loss: 0.1235", "accuracy: 0.9877", "val_loss: 0.2346", "val_accuracy: 0.975"):
        assert figure in final, final


def test_a_plain_loss_float_is_shown_as_loss(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(progress, "_is_terminal", lambda: True)
    p = progress.Progress(1, 1, 3, 96)
    p.epoch_begin(0)
    for i in range(3):
        p.batch_end(32 * (i + 1), lambda: 2.5)
    p.epoch_end(0, {"loss": 2.25})
    shown = segments(capsys.readouterr().err)
    assert "loss: 2.5" in shown[0] and "loss: 2.25" in shown[-1] and "3/3" in shown[-1]


def test_verbose_2_prints_one_line_per_epoch(capsys):
    p = progress.Progress(2, 3, 5, 160)
    p.epoch_begin(0)
    p.batch_end(32, lambda: pytest.fail("read without a bar"))
    p.epoch_end(0, LOGS)
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/3 - loss: 0.1235 - accuracy: 0.9877 - val_loss: 0.2346") and "samples/s" in out


def test_progress_output_by_verbosity(be, capsys, monkeypatch):
    small_classifier().fit(X, Y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    small_classifier().fit(X, Y, epochs=2, verbose=2, validation_split=0.25)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2 - loss: ") and "val_accuracy: " in lines[1]
    assert "samples/s" in lines[1]
    monkeypatch.setattr("xdl.train.progress._is_terminal", lambda: True)
    monkeypatch.setattr("xdl.train.progress.REFRESH_S", 0.0)  # redraw after every batch
    small_classifier().fit(X, Y, epochs=1, batch_size=16, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 1/1" in err and "6/6" in err and "loss: " in err and "samples/s" in err
