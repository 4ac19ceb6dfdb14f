"""What ``fit`` shows: a tqdm bar on a terminal (``verbose=1``), one line per epoch otherwise
(or with ``verbose=2``), nothing with ``verbose=0``.

The bar's loss is read from the device only when the bar redraws (at most every
``REFRESH_S``), so a training step never waits for the device just to be displayed.
"""

from __future__ import annotations

import sys
import time

REFRESH_S = 0.5


def _figures(logs):
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class Progress:
    def __init__(self, verbose, epochs, steps, samples):
        self.verbose, self.epochs, self.steps, self.samples = verbose, epochs, steps, samples
        self.use_bar = verbose == 1 and _is_terminal()
        self.bar = None

    def epoch_begin(self, epoch):
        self.start = self.last_refresh = time.perf_counter()
        if self.use_bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}", unit="batch",
                            leave=True, dynamic_ncols=True)

    def batch_end(self, done_samples, read_loss):
        """After a batch; ``read_loss()`` syncs with the device, so it is called only on a redraw."""
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.perf_counter()
        if now - self.last_refresh >= REFRESH_S:
            self.last_refresh = now
            rate = done_samples / (now - self.start)
            self.bar.set_postfix_str(f"loss: {read_loss():.4f} - {rate:,.0f} samples/s", refresh=False)

    def epoch_end(self, epoch, logs):
        seconds = time.perf_counter() - self.start
        rate = f"{self.samples / seconds:,.0f} samples/s"
        if self.bar is not None:
            self.bar.set_postfix_str(f"{_figures(logs)} - {rate}", refresh=True)
            self.bar.close()
            self.bar = None
        elif self.verbose:
            print(f"Epoch {epoch + 1}/{self.epochs} - {_figures(logs)} - {seconds:.2f}s, {rate}", flush=True)


def _is_terminal():
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
