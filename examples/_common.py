"""Command-line plumbing shared by the examples."""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring keeps its line breaks (bullets, command lines); options show their
    defaults, except where there is none or the help text already tells it."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parser(description, epochs=None, epochs_help=None, batch_size=32, verbose=0, verbose_help=None):
    """The options every example shares: --backend, --seed, --verbose, --batch-size (unless
    ``batch_size`` is None) and --epochs (unless ``epochs`` is False: an example bounded
    otherwise, e.g. by time)."""
    p = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    p.add_argument("--backend", default=None, help="numpy, cupy, torch, array_api_strict or auto "
                                                   "(default: XDL_BACKEND, else numpy)")
    if epochs is not False:
        p.add_argument("--epochs", type=int, default=epochs,
                       help=epochs_help or "passes over the training data")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights, dropout and data order")
    if batch_size is not None:
        p.add_argument("--batch-size", type=int, default=batch_size, help="samples per training step")
    p.add_argument("--verbose", type=int, default=verbose, choices=[0, 1, 2],
                   help=verbose_help or "0 silent, 1 progress bar (on a terminal), 2 one line per epoch")
    return p


def setup(args):
    import xdl

    if args.backend:
        xdl.set_backend(args.backend)
    xdl.seed(args.seed)
    be = xdl.get_backend()
    print(f"backend: {be.name} on {be.device}", flush=True)
    return xdl
