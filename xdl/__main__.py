"""``python -m xdl info``: which backends can run here, and why not."""

from __future__ import annotations

import argparse
import sys

import xdl


def info() -> int:
    print(f"xdl {xdl.__version__} on Python {sys.version.split()[0]}")
    rows = [("backend", "usable", "device", "versions / reason")]
    for s in xdl.available_backends():
        versions = ", ".join(f"{k} {v}" for k, v in s.versions.items())
        detail = "; ".join(x for x in (versions, s.reason) if x)
        rows.append((s.name, "yes" if s.usable else "no", s.device or "-", detail))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    try:
        be = xdl.get_backend()
    except (xdl.BackendError, ValueError) as e:  # a bad XDL_BACKEND: the report above still stands
        print(f"active: none: {e}")
        return 1
    print(f"active: {be.name} on {be.device} (XDL_BACKEND selects it), floatx {xdl.floatx()}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xdl")
    parser.add_argument("command", choices=["info"], help="info: list backends and whether they can run here")
    parser.parse_args(argv)
    return info()


if __name__ == "__main__":
    sys.exit(main())
