"""``python -m benchmarks [--backend NAME] [--quick] [--json FILE] [--only NAME...] [--ops] [--neighbour]``

Runs every workload module's workloads on xdl (the chosen backend), PyTorch, plain-NumPy
(and, for the MLP rows, jitted JAX) twins in one process, and prints one table. A module that
is not there yet is skipped with a note; so are PyTorch and JAX when they are not installed.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys
import time

from . import harness

MODULES = ("mlp", "cnn", "lstm", "attention", "tape")


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    p.add_argument("--backend", default="numpy", help="xdl backend: numpy, torch, cupy, array_api_strict")
    p.add_argument("--quick", action="store_true", help="fewer, shorter repetitions (a smoke run)")
    p.add_argument("--json", metavar="FILE", help="also write the rows and run details to FILE")
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help=f"workload modules ({', '.join(MODULES)}) or words in workload names")
    p.add_argument("--cpu-time", action="store_true",
                   help="time in CPU seconds of this process, not wall-clock: steady on a busy "
                        "machine, meaningful with one thread (BENCH_THREADS=1)")
    p.add_argument("--reps", type=int, default=None, help="repetitions per candidate (default 7, quick 3)")
    p.add_argument("--neighbour", "--busy-neighbour", action="store_true", dest="neighbour",
                   help="run the rows beside a CPU-bound process pinned to one core (the first this "
                        "process may use): a reproducible stand-in for a core a busy host steals")
    p.add_argument("--steal", type=float, default=None, metavar="SHARE",
                   help="with a neighbour that takes SHARE (0-1) of its core in bursts, at real-time "
                        "priority where allowed (root): closer to a hypervisor's steal (implies --neighbour)")
    p.add_argument("--ops", action="store_true",
                   help="instead of timing, count kernel ops per training step (xdl on the torch "
                        "backend against PyTorch eager; see benchmarks/ops.py)")
    return p.parse_args(argv)


def load(names, out):
    """The workload modules among ``names`` that exist; a missing one is skipped with a note."""
    found = []
    for name in names:
        try:
            found.append(importlib.import_module(f"{__package__}.{name}"))
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.{name}":
                raise
            out(f"note: benchmarks/{name}.py is not there yet; skipped")
    return found


def select(only):
    """``--only`` words: module names pick modules, other words must occur in workload names."""
    only = only or []
    modules = [w for w in only if w in MODULES] or list(MODULES)
    words = [w for w in only if w not in MODULES]
    return modules, (lambda name: not words or any(w in name for w in words))


def meta(args):
    import numpy

    import xdl

    versions = {"python": platform.python_version(), "numpy": numpy.__version__, "xdl": xdl.__version__}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:
        versions["torch"] = None
    versions["jax"] = _version("jax")  # without importing it: XLA_FLAGS is set first (harness.load_jax)
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()} {_cpu()} ({os.cpu_count()} cores)",
            "backend": args.backend, "quick": args.quick,
            "clock": "cpu" if args.cpu_time else "wall", "versions": versions,
            "threads": harness.threads_line(), "load": _load(), "neighbour": None}


def _version(name):
    """An installed distribution's version, None when it is not installed (or stubbed out)."""
    import importlib.metadata

    if name in sys.modules and sys.modules[name] is None:
        return None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _load():
    """The 1-minute load average: other processes on the cores skew every figure."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "cpu"


def main(argv=None, out=print):
    args = parse(argv)
    if args.ops:
        from . import ops

        return ops.table(out)
    harness.set_xla_flags()  # before JAX is imported, and before the header shows them
    info = meta(args)
    if args.cpu_time:
        harness.clock = time.process_time
    out(f"{info['date']} | {info['machine']} | load {info['load']} | backend {args.backend} | "
        f"{info['clock']}-clock")
    out(info["threads"])
    busy = harness.unreliable([], harness.load_average())
    if busy:
        out(f"note: the machine is busy ({busy[0]}): rows measured under load are marked {harness.MARK}")
    out("versions: " + ", ".join(f"{k} {v or 'missing'}" for k, v in info["versions"].items()))
    if info["versions"]["torch"] is None:
        out("note: PyTorch is not installed; its column shows as unavailable")
    reps = args.reps or (3 if args.quick else 7)
    names, wanted = select(args.only)
    rows, lines = [], []
    if args.steal is not None and not 0 < args.steal < 1:
        raise SystemExit(f"--steal takes a share of the core between 0 and 1, got {args.steal}")
    neighbour = harness.Neighbour(args.steal) if args.neighbour or args.steal is not None else None
    if neighbour:
        neighbour.start()
        out(f"busy-neighbour mode: {neighbour.describe()}, started before the rows and stopped after them")
    try:
        for module in load(names, out):
            chosen = [w for w in module.workloads(args.backend, args.quick) if wanted(w.name)]
            found = harness.run(chosen, reps=reps, warmup=1 if args.quick else 3,
                                target_s=0.02 if args.quick else 0.2)
            rows += found
            lines += getattr(module, "summaries", lambda rows: [])(found)
    finally:
        if neighbour:
            neighbour.stop()
    harness.report(rows, out)
    for line in lines:
        out(line)
    if neighbour:
        info["neighbour"] = neighbour.info()
        out(_neighbour_line(info["neighbour"]))
    if args.json:
        harness.write_json(args.json, rows, {**info, "summaries": lines})
    return rows


def _neighbour_line(n):
    share = f", it had {n['core_share']:.0%} of a core" if n.get("core_share") is not None else ""
    early = (f"; it exited early (status {n['exited_early_with']}): the rows after that ran without it"
             if n.get("exited_early_with") is not None else "")
    core = f"core {n['core']}" if n.get("core") is not None else "no core (unpinned)"
    wall = f" over {n['wall_s']:.1f} s" if n.get("wall_s") else ""
    return f"busy-neighbour mode: on (a {n['kind']} pinned to {core}{wall}{share}{early})"


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
