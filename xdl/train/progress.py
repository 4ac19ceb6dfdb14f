"""What ``fit`` shows: a tqdm bar on a terminal (``verbose=1``), one line per epoch otherwise
(or with ``verbose=2``), nothing with ``verbose=0``.

The bar shows what Keras shows, within the terminal's width (80 columns included): the
epoch, the step count, elapsed time and ETA, and the running loss (and metrics, when the
caller reads them), each to 4 significant digits. It first draws after the first step
(not at 0% while the first step compiles kernels), then at most every ``REFRESH_S``. The
figures are read from the device only when the bar redraws, so a training step never waits
for the device just to be displayed. When the epoch ends the bar's line carries as many of
the epoch's figures as fit; the rest (validation figures, samples/s) follow on indented
lines of at most the same width, so every figure is visible.
"""

from __future__ import annotations

import shutil
import sys
import time

REFRESH_S = 0.5
MIN_BAR = 10  # columns the bar's graphic keeps before figures move to a line of their own
BAR_FORMAT = "{desc} {n_fmt}/{total_fmt} [{bar}] {elapsed}<{remaining}{postfix}"


def _value(v):
    return f"{v:.4g}"


def _items(logs):
    return [f"{k}: {_value(v)}" for k, v in logs.items()]


def _figures(logs):
    return " - ".join(_items(logs))


def terminal_size():
    """(columns, lines) of the terminal (``COLUMNS``, ``LINES`` when set), 80 x 24 where unknown
    or zero (a pseudo-terminal without a size: tqdm would then draw nothing)."""
    return tuple(shutil.get_terminal_size((80, 24)))


def layout(desc, steps, items, width):
    """(postfix, lines): ``items`` ("loss: 0.1234", ...) split between the bar's postfix, as
    many as fit on a ``width``-column bar line beside at least ``MIN_BAR`` columns of bar,
    and further lines of at most ``width`` columns (indented by two spaces) for the rest."""
    # the bar's line without its graphic and postfix; elapsed and ETA may grow to h:mm:ss
    fixed = len(f"{desc} {steps}/{steps} [] 0:00:00<0:00:00, ") + MIN_BAR
    postfix, rest = [], list(items)
    while rest and fixed + len(" - ".join(postfix + rest[:1])) <= width:
        postfix.append(rest.pop(0))
    lines, line = [], ""
    for item in rest:
        if line and len(line) + 3 + len(item) > width:
            lines.append(line)
            line = ""
        line = f"{line} - {item}" if line else f"  {item}"[:width]
    if line:
        lines.append(line)
    return " - ".join(postfix), lines


class Progress:
    def __init__(self, verbose, epochs, steps, samples):
        self.verbose, self.epochs, self.steps, self.samples = verbose, epochs, steps, samples
        self.use_bar = verbose == 1 and _is_terminal()
        self.bar = None

    def epoch_begin(self, epoch):
        self.start = self.last_refresh = time.perf_counter()
        self.desc = f"Epoch {epoch + 1}/{self.epochs}"

    def _open_bar(self):
        """The bar, opened at the end of the epoch's first step with that step's time counted."""
        from tqdm.auto import tqdm

        self.width, lines = terminal_size()
        self.bar = tqdm(total=self.steps, desc=self.desc, unit="batch", leave=True, ncols=self.width, nrows=lines,
                        bar_format=BAR_FORMAT, smoothing=0, mininterval=REFRESH_S, delay=1e-9)
        # from the epoch's start, so that elapsed time, rate and ETA include the first step
        self.bar.start_t -= time.perf_counter() - self.start
        self.bar.last_print_t = self.bar.start_t

    def _draw(self):
        self.bar.refresh()
        self.bar.last_print_n, self.bar.last_print_t = self.bar.n, self.bar._time()  # as tqdm's own redraws do

    def batch_end(self, done_samples, read_loss):
        """After a batch; ``read_loss()`` syncs with the device, so it is called only on a redraw
        (after the first step, then at most every ``REFRESH_S``). It returns the running loss,
        or a dict of running figures (``{"loss": ..., "accuracy": ...}``)."""
        if not self.use_bar:
            return
        first = self.bar is None
        if first:
            self._open_bar()
        now = time.perf_counter()
        if first or now - self.last_refresh >= REFRESH_S:
            self.last_refresh = now
            figures = read_loss()
            figures = figures if isinstance(figures, dict) else {"loss": figures}
            postfix, _ = layout(self.desc, self.steps, _items(figures), self.width)
            self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.update(1)
            self._draw()
        else:
            self.bar.update(1)

    def epoch_end(self, epoch, logs):
        seconds = time.perf_counter() - self.start
        rate = f"{self.samples / seconds:,.0f} samples/s"
        if self.use_bar:
            if self.bar is None:  # no step ran (e.g. no rows on this process)
                self._open_bar()
            postfix, lines = layout(self.desc, self.steps, _items(logs) + [rate], self.width)
            self.bar.n = self.steps if self.steps is not None else self.bar.n  # a stream of unknown length
            self.bar.set_postfix_str(postfix, refresh=False)
            self._draw()
            fp = self.bar.fp
            self.bar.close()
            self.bar = None
            for line in lines:
                fp.write(line + "\n")
            fp.flush()
        elif self.verbose:
            print(f"Epoch {epoch + 1}/{self.epochs} - {_figures(logs)} - {seconds:.2f}s, {rate}", flush=True)


def _is_terminal():
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
