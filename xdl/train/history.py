"""``History``: what ``fit`` returns, one value per epoch for the loss and each metric."""

from __future__ import annotations

from ..errors import DependencyError


class History:
    """Per-epoch figures: ``history.history["loss"]``, ``["val_accuracy"]``, ``history.epoch``."""

    def __init__(self):
        self.history = {}
        self.epoch = []

    def record(self, epoch, **figures):
        self.epoch.append(epoch)
        for key, value in figures.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self):
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"

    def plot(self, path=None, keys=None):
        """Curves of the loss and each metric, training beside validation, one panel each.

        Saves to ``path`` when given (the format from its suffix), else shows the figure.
        Needs matplotlib: ``pip install "xdl[plot]"``. Returns the matplotlib figure.
        """
        try:
            import matplotlib

            if path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError:
            raise DependencyError('History.plot needs matplotlib: pip install "xdl[plot]"') from None
        names = keys or [k for k in self.history if not k.startswith("val_")]
        fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
        epochs = [e + 1 for e in self.epoch]
        for ax, name in zip(axes[0], names):
            for key, label in ((name, "training"), (f"val_{name}", "validation")):
                if key in self.history:
                    ax.plot(epochs, self.history[key], label=label)
            ax.set_xlabel("epoch")
            ax.set_title(name)
            ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
            plt.close(fig)
        else:
            plt.show()
        return fig
