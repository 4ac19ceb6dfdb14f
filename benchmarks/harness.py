"""Timing shared by every workload: interleaved repetitions, medians, pauses between libraries.

A workload module exposes ``workloads(backend, quick) -> list[Workload]``. Each ``Workload``
names candidates ("xdl", "torch", "numpy", ...): zero-argument callables that run one step
and return only when its work is done (they synchronize the device themselves).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field

PAUSE_S = 0.3  # OpenBLAS threads spin after NumPy work and slow the next library otherwise
#: a row whose slowest repetition took this many times its fastest measured nothing steady
SPREAD_LIMIT = 1.5
#: marks a row that ``unreliable`` flags, in the table and in summaries
MARK = "!"
#: wall-clock by default; ``time.process_time`` (CPU seconds of this process) shrugs off other
#: processes on a shared machine, but counts spinning threads too: use it with one thread
clock = time.perf_counter


@dataclass
class Workload:
    name: str
    items: int  # samples (or images, sequences) processed per call
    unit: str = "samples/s"
    candidates: dict = field(default_factory=dict)  # label -> callable, or None when unavailable
    notes: dict = field(default_factory=dict)  # label -> why a candidate is missing
    #: labels whose arrays NumPy allocates: tracemalloc sees those, not PyTorch's or a GPU's
    traced: tuple = ()


@dataclass
class Timing:
    label: str
    seconds: list  # per-call seconds, one entry per repetition

    @property
    def median(self):
        return statistics.median(self.seconds)


def time_calls(fn, calls):
    """Seconds per call of ``fn``, averaged over ``calls`` back-to-back calls."""
    start = clock()
    for _ in range(calls):
        fn()
    return (clock() - start) / calls


def time_for(fn, target_s):
    """Seconds per call of ``fn``, averaged over as many calls as fill ``target_s`` (at least one).

    A time budget, not a call count fixed in advance: when neighbours slow the machine down
    mid-run, a repetition grows by one call, not by the factor of the slowdown."""
    calls, start = 0, clock()
    while True:
        fn()
        calls += 1
        elapsed = clock() - start
        if elapsed >= target_s:
            return elapsed / calls


def measure(workload, reps=7, warmup=3, target_s=0.2):
    """Interleave repetitions of every available candidate; returns {label: Timing}."""
    runners = {k: f for k, f in workload.candidates.items() if f is not None}
    for fn in runners.values():
        for _ in range(warmup):
            fn()
        time.sleep(PAUSE_S)
    timings = {label: Timing(label, []) for label in runners}
    for _ in range(reps):
        for label, fn in runners.items():
            gc.collect()
            timings[label].seconds.append(time_for(fn, target_s))
            time.sleep(PAUSE_S)
    return timings


def peak_host_memory(fn):
    """Peak bytes Python-tracked allocations reach during one call (NumPy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def throughput(workload, timing):
    """(median, min, max) items per second."""
    rates = sorted(workload.items / s for s in timing.seconds)
    return statistics.median(rates), rates[0], rates[-1]


def load_average():
    """The 1-minute load average, or None where the system does not tell."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None


def unreliable(seconds, load, cores=None):
    """Why a row's figures mean little, as short reasons ([] when they look sound): its
    repetitions spread beyond ``SPREAD_LIMIT`` (max/min), or other processes kept the
    machine busy: a load average, less this benchmark's own running thread, above half
    the cores."""
    cores = cores or os.cpu_count() or 1
    reasons = []
    if seconds and min(seconds) > 0 and max(seconds) / min(seconds) > SPREAD_LIMIT:
        reasons.append(f"spread {max(seconds) / min(seconds):.1f}x")
    if load is not None and load - 1 > cores / 2:
        reasons.append(f"load {load:.1f} on {cores} cores")
    return reasons


def threads_line():
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "OPENBLAS_THREAD_TIMEOUT")
    return "threads: " + ", ".join(f"{n}={os.environ.get(n, '-')}" for n in names)


MEMORY_NOTE = ("peak MB: the most NumPy-allocated memory (tracemalloc) one call holds beyond what "
               "existed before it; '-' where the library allocates outside tracemalloc's view (PyTorch, GPUs)")


def report(rows, out=print):
    """Print a table of rows as produced by ``run``; ratios divide by the torch candidate's median."""
    header = (f"{'workload':38} {'candidate':9} {'median':>10} {'min':>10} {'max':>10} {'unit':9} "
              f"{'vs torch':>8} {'peak MB':>7}")
    out(header)
    out("-" * len(header))
    flagged = []
    for r in rows:
        if r.get("median") is None:
            out(f"{r['workload']:38} {r['candidate']:9} ({r['note']})")
            continue
        ratio = f"{r['ratio']:.2f}x" if r.get("ratio") else "-"
        peak = f"{r['peak_bytes'] / 2**20:.1f}" if r.get("peak_bytes") is not None else "-"
        mark = f" {MARK} " + ", ".join(r["unreliable"]) if r.get("unreliable") else ""
        out(f"{r['workload']:38} {r['candidate']:9} {r['median']:10,.0f} {r['min']:10,.0f} "
            f"{r['max']:10,.0f} {r['unit']:9} {ratio:>8} {peak:>7}{mark}")
        flagged += [r] if mark else []
    out(MEMORY_NOTE)
    if flagged:
        out(f"{MARK} unreliable: {len(flagged)} of {sum(r.get('median') is not None for r in rows)} rows: their "
            f"repetitions differ by more than {SPREAD_LIMIT}x (max/min seconds), or other")
        out("  processes loaded the machine (1-minute load average, less this run, above half the cores):")
        out("  those figures, and the ratios and shares drawn from them, measure the neighbours, not the code;")
        out("  rerun on a quiet machine, or with OPENBLAS_NUM_THREADS=1 and --cpu-time.")


def run(workloads, reps=7, warmup=3, target_s=0.2, memory=True):
    """Measure every workload; returns rows for ``report`` and ``--json``."""
    rows = []
    for w in workloads:
        timings = measure(w, reps=reps, warmup=warmup, target_s=target_s)
        load = load_average()  # over the minute the workload ran in, roughly
        torch_rate = throughput(w, timings["torch"])[0] if "torch" in timings else None
        for label in w.candidates:
            if label not in timings:
                rows.append({"workload": w.name, "candidate": label, "median": None,
                             "note": w.notes.get(label, "unavailable")})
                continue
            median, lo, hi = throughput(w, timings[label])
            peak = peak_host_memory(w.candidates[label]) if memory and label in w.traced else None
            rows.append({"workload": w.name, "candidate": label, "unit": w.unit, "median": median,
                         "min": lo, "max": hi, "ratio": median / torch_rate if torch_rate else None,
                         "peak_bytes": peak, "seconds": timings[label].seconds, "load": load,
                         "unreliable": unreliable(timings[label].seconds, load)})
    return rows


def write_json(path, rows, meta):
    with open(path, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
