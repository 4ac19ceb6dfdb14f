"""``python -m benchmarks.stream_memory [--rows 5000000] [--backend numpy] [--json FILE]``

Two figures for training on data that does not fit in memory (a stream of batches, xdl/train/data.py):

1. memory: the peak resident memory (RSS) of ``fit`` over a generated stream of ``--rows`` rows
   of ``--width`` features (5 million x 784 float32 is 15.7 GB if held at once), batch by batch;
   the rows are made on the fly, so the process never holds the data set. Measured first, in a
   fresh process, so that the peak is this fit's (``ru_maxrss`` only grows).
2. prefetch overhead: ``fit`` on a generator of the batches of one in-memory array against
   ``fit`` on that array itself (same rows, same order, same batches: one epoch each),
   ``--repeats`` interleaved runs of each after a warm-up; medians and their ratio.

Run it on a quiet machine (timings); ``--rows 20000 --time-rows 4096`` is a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

CLASSES = 10


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.stream_memory", description=__doc__.split("\n\n")[1])
    p.add_argument("--rows", type=int, default=5_000_000, help="rows streamed through fit for the memory figure")
    p.add_argument("--width", type=int, default=784, help="features per row")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--prefetch", type=int, default=2, help="batches the background thread keeps ready")
    p.add_argument("--backend", default="numpy")
    p.add_argument("--time-rows", type=int, default=200_000, help="rows of the array for the prefetch overhead")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    p.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)  # the child process
    return p.parse_args(argv)


def model(args):
    import xdl

    xdl.seed(0)
    net = xdl.NeuralNetwork([xdl.Dense(input_size=args.width, output_size=256), xdl.ReLU(),
                             xdl.Dense(output_size=CLASSES)])
    net.compile(loss="cross_entropy", optimizer=xdl.Adam(1e-3), metrics=["accuracy"])
    return net


def stream(rows, width, batch_size, seed=0):
    """Batches of a learnable problem made on the fly: labels from a fixed random projection."""
    rng = np.random.default_rng(seed)
    projection = rng.standard_normal((width, CLASSES)).astype(np.float32)
    for start in range(0, rows, batch_size):
        x = rng.standard_normal((min(batch_size, rows - start), width), dtype=np.float32)
        yield x, np.argmax(x @ projection, axis=1)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def memory(args):
    import xdl

    xdl.set_backend(args.backend)
    net = model(args)
    before = peak_rss_mb()
    start = time.perf_counter()
    history = net.fit(stream(args.rows, args.width, args.batch_size), epochs=1, prefetch=args.prefetch, verbose=0)
    seconds = time.perf_counter() - start
    return {"rows": args.rows, "width": args.width, "batch_size": args.batch_size, "prefetch": args.prefetch,
            "data_if_held_gb": args.rows * args.width * 4 / 1e9, "peak_rss_before_fit_mb": round(before, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1), "fit_s": round(seconds, 2),
            "loss": history["loss"][0], "accuracy": history["accuracy"][0]}


def overhead(args):
    import xdl

    xdl.set_backend(args.backend)
    X, y = map(np.concatenate, zip(*stream(args.time_rows, args.width, args.batch_size, seed=1)))

    def batches():
        for i in range(0, len(X), args.batch_size):
            yield X[i:i + args.batch_size], y[i:i + args.batch_size]

    def array_fit():
        model(args).fit(X, y, epochs=1, batch_size=args.batch_size, shuffle=False, verbose=0)

    def stream_fit():
        model(args).fit(batches(), epochs=1, prefetch=args.prefetch, verbose=0)

    times = {"array": [], "stream": []}
    array_fit(), stream_fit()  # warm-up: allocations, kernels
    for _ in range(args.repeats):  # interleaved, so that drifts in load hit both
        for name, run in (("array", array_fit), ("stream", stream_fit)):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    a, s = statistics.median(times["array"]), statistics.median(times["stream"])
    return {"rows": args.time_rows, "array_s": times["array"], "stream_s": times["stream"],
            "array_median_s": round(a, 4), "stream_median_s": round(s, 4), "stream_over_array": round(s / a, 3)}


def main(argv=None, out=print):
    args = parse(argv)
    if args.memory_only:
        print(json.dumps(memory(args)))
        return None
    child = [sys.executable, "-m", "benchmarks.stream_memory", "--memory-only"] + [
        a for a in (argv if argv is not None else sys.argv[1:]) if a != "--memory-only"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(child, capture_output=True, text=True, env=env, check=True)
    mem = json.loads(done.stdout.strip().splitlines()[-1])
    out(f"memory: fit over a stream of {mem['rows']:,} x {mem['width']} rows ({mem['data_if_held_gb']:.1f} GB if "
        f"held at once), batch {mem['batch_size']}, prefetch {mem['prefetch']}: peak RSS {mem['peak_rss_mb']:.0f} MB "
        f"({mem['peak_rss_before_fit_mb']:.0f} MB before fit), {mem['fit_s']:.1f} s")
    time_figures = overhead(args)
    out(f"prefetch overhead: one epoch of {time_figures['rows']:,} rows, median of {args.repeats}: array "
        f"{time_figures['array_median_s']:.3f} s, generator {time_figures['stream_median_s']:.3f} s "
        f"({time_figures['stream_over_array']:.3f}x)")
    report = {"backend": args.backend, "machine": platform.platform(), "cpus": os.cpu_count(), "memory": mem,
              "prefetch_overhead": time_figures}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
