"""History: what fit returns, one value per epoch, and its plot."""

from __future__ import annotations

import pytest

import xdl


def test_history_plot_saves_a_figure(tmp_path):
    pytest.importorskip("matplotlib", reason="History.plot needs matplotlib (the plot extra)")
    history = xdl.History()
    for epoch, (loss, acc) in enumerate([(1.0, 0.5), (0.5, 0.8)]):
        history.record(epoch, loss=loss, accuracy=acc, val_loss=loss + 0.1, val_accuracy=acc - 0.1)
    figure = history.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert [ax.get_title() for ax in figure.axes] == ["loss", "accuracy"]
    assert len(figure.axes[0].get_lines()) == 2
