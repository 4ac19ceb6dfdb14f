"""Command-line plumbing shared by the examples."""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout


def parser(description, epochs):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--backend", default=None, help="numpy, cupy, torch, array_api_strict or auto "
                                                   "(default: XDL_BACKEND, else numpy)")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--seed", type=int, default=0)
    return p


def setup(args):
    import xdl

    if args.backend:
        xdl.set_backend(args.backend)
    xdl.seed(args.seed)
    be = xdl.get_backend()
    print(f"backend: {be.name} on {be.device}")
    return xdl
