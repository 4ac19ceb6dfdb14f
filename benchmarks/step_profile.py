"""Where a probe training step's time goes: ``python -m benchmarks.step_profile``.

Runs N training steps of xdl (the suite's "probe train" candidate by default: ten Dense(32)
with ReLUs between, batch 32, cross-entropy, SGD) twice after a warm-up:

Each pass starts from the same state (the running figures reset, one step taken), and a pass
is by default as long as the running tally's fold period (256 steps: it sums its pending
batches once per period), so the counts per step are the steady state's, fold included.

1. under a ``sys.setprofile`` hook that counts every call (Python functions and built-ins, the
   events cProfile counts) and files it under the part of the step it happens in: the callee of
   ``train_step`` it runs under decides (``PHASES``); ``train_step``'s own calls are "step
   bookkeeping", and the benchmark's closure around it (the call, the device sync) "outside
   train_step". These counts are deterministic: compare them before and after a change.
2. under cProfile, for the time: each part's share (the cumulative time of the call from
   ``train_step`` that opens it), and the top functions by cumulative and by own time, each
   with the part(s) it ran in. Timings are indicative: the profiler adds its own cost per call
   (the step's unprofiled time is printed beside it), and a shared machine moves them.

``--workload mlp`` profiles the 784-256-256-10 step instead; ``--json FILE`` writes the counts
and times.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import json
import os
import pstats
import sys
import time

#: the callees of ``train_step`` that open a part of the step; any other callee is bookkeeping
PHASES = {
    "run": "layer forward",  # graph.run: the layers' forward passes, keeping what backward needs
    "_run_masked": "layer forward",
    "value_and_grad": "loss",  # the loss and its gradient with respect to the outputs
    "penalize": "loss",  # weight penalties
    "_added_losses": "loss",  # add_loss terms
    "<lambda>": "layer backward",  # the backprop closure graph.run returns
    "backprop": "layer backward",
    "_backprop": "layer backward",
    "zero_grad": "optimizer",  # the gradients reset (PyTorch's optimizer.zero_grad)
    "step": "optimizer",  # optimizer.step: the update
    "metric_statistics": "metrics",  # compiled metrics' statistics
    "add": "metrics",  # the running loss and metrics (the epoch's tally)
    "_tally": "metrics",
    "get_metrics_result": "metrics",
}
BOOKKEEPING, OUTSIDE = "step bookkeeping", "outside train_step"
ORDER = ("layer forward", "layer backward", "loss", "optimizer", "metrics", BOOKKEEPING, OUTSIDE)
STEP = "train_step"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.step_profile", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None,
                   help="profiled steps per pass (default: the running tally's fold period, 256)")
    p.add_argument("--warmup", type=int, default=5, help="unprofiled steps first (default 5)")
    p.add_argument("--top", type=int, default=15, help="functions in each table (default 15)")
    p.add_argument("--workload", choices=("probe", "mlp"), default="probe",
                   help="probe: 10 x Dense(32), batch 32 (default); mlp: 784-256-256-10, batch 128")
    p.add_argument("--backend", default="numpy", help="xdl backend (default numpy)")
    p.add_argument("--json", metavar="FILE", help="also write the counts and times to FILE")
    return p.parse_args(argv)


def make_step(workload, backend):
    """``(step, model)``: the suite's xdl training step for ``workload`` (as
    ``mlp_twins.xdl_train`` makes it: ``model.train_step((x, y))`` then the device sync)."""
    import xdl

    from . import mlp, mlp_twins

    be = xdl.set_backend(backend, fallback=False)
    loss = "cross_entropy" if hasattr(xdl, "CrossEntropy") else "mse"
    if workload == "probe":
        problem = mlp.Problem((mlp.PROBE_WIDTH,) * (mlp.PROBE_LAYERS + 1), mlp.PROBE_BATCH, loss, seed=1)
    else:
        problem = mlp.Problem(mlp.SIZES, mlp.BATCH, loss, seed=0)
    with xdl.use_backend(be):
        model = mlp_twins._xdl_model(problem, be)
        x, y = be.asarray(problem.x), be.asarray(problem.target())
        model.forward(x)

    def step():
        model.train_step((x, y))
        be.synchronize()
    return step, model


def fold_period():
    """Steps between the running tally's folds of its pending batches (xdl/train/epoch_sums.py):
    a pass of that many steps holds one fold, so its counts per step are the steady state's."""
    try:
        from xdl.train import epoch_sums

        return int(epoch_sums.FOLD_AT)
    except (ImportError, AttributeError):
        return 256


def _restart(model, step):
    """The same state before each pass: the running figures afresh, one step taken."""
    if hasattr(model, "reset_metrics"):
        model.reset_metrics()
    step()


def _key(code):
    """cProfile's key for a Python function."""
    return code.co_filename, code.co_firstlineno, code.co_name


def count_calls(step, steps):
    """Calls per part of the step over ``steps`` steps: ({part: {"python": n, "c": n}},
    {function key: {part: n}} for Python functions, {callee name: part} as classified)."""
    parts = collections.defaultdict(lambda: {"python": 0, "c": 0})
    per_fn = collections.defaultdict(collections.Counter)
    callees = {}
    st = {"step": None, "open": None, "part": OUTSIDE}

    def hook(frame, event, arg):
        if event == "call":
            code = frame.f_code
            if st["step"] is None and code.co_name == STEP:
                st["step"], st["part"] = frame, BOOKKEEPING
            elif st["step"] is not None and frame.f_back is st["step"]:
                part = PHASES.get(code.co_name, BOOKKEEPING)
                callees[code.co_name] = part
                st["open"], st["part"] = frame, part
            parts[st["part"]]["python"] += 1
            per_fn[_key(code)][st["part"]] += 1
        elif event == "return":
            if frame is st["open"]:
                st["open"], st["part"] = None, BOOKKEEPING
            elif frame is st["step"]:
                st["step"], st["part"] = None, OUTSIDE
        elif event == "c_call":
            parts[st["part"]]["c"] += 1

    sys.setprofile(hook)
    try:
        for _ in range(steps):
            step()
    finally:
        sys.setprofile(None)
    parts[OUTSIDE]["c"] -= 1  # sys.setprofile(None) itself
    return dict(parts), per_fn, callees


def profile(step, steps):
    prof = cProfile.Profile()
    prof.enable()
    try:
        for _ in range(steps):
            step()
    finally:
        prof.disable()
    return pstats.Stats(prof).stats  # {key: (primitive calls, calls, own s, cumulative s, callers)}


def _parts_of(stats, per_fn):
    """{key: {part: share}} for every profiled function: Python functions from the counted
    pass; built-ins from their callers' parts, weighted by the calls along each edge."""
    shares = {}
    for key, counts in per_fn.items():
        total = sum(counts.values())
        shares[key] = {p: n / total for p, n in counts.items()}
    for key, (_, _, _, _, callers) in stats.items():
        if key in shares:
            continue
        acc = collections.Counter()
        for caller, edge in callers.items():
            for p, share in shares.get(caller, {OUTSIDE: 1.0}).items():
                acc[p] += edge[1] * share
        total = sum(acc.values()) or 1
        shares[key] = {p: n / total for p, n in acc.items()} or {OUTSIDE: 1.0}
    return shares


def part_times(stats):
    """Seconds per part over the profiled pass: the cumulative time of each call from
    ``train_step`` (by its callee's part), bookkeeping the rest of ``train_step``, and what
    the closure spends outside it."""
    step_keys = [k for k in stats if k[2] == STEP]
    times = collections.Counter()
    total = sum(v[2] for v in stats.values())  # every function's own time: the whole pass
    in_step = 0.0
    for sk in step_keys:
        in_step += stats[sk][3]
        classified = 0.0
        for key, (_, _, _, _, callers) in stats.items():
            if sk in callers:
                part = PHASES.get(key[2], BOOKKEEPING) if key[0] != "~" else BOOKKEEPING
                if part != BOOKKEEPING:
                    times[part] += callers[sk][3]
                    classified += callers[sk][3]
        times[BOOKKEEPING] += stats[sk][3] - classified
    times[OUTSIDE] = max(total - in_step, 0.0)
    return dict(times), total


def _name(key):
    filename, line, name = key
    if filename == "~":
        return name
    path = os.path.relpath(filename, ROOT) if filename.startswith(ROOT) else filename
    if "site-packages" in path:
        path = path.split("site-packages" + os.sep, 1)[1]
    return f"{path}:{line}({name})"


def _part_label(share):
    top = sorted(share.items(), key=lambda kv: -kv[1])
    if len(top) == 1:
        return top[0][0]
    return " + ".join(f"{p} {s:.0%}" for p, s in top[:3])


def _per(n, steps):
    per = n / steps
    return f"{per:.0f}" if abs(per - round(per)) < 1e-9 else f"{per:.2f}"


def main(argv=None, out=print):
    args = parse(argv)
    args.steps = args.steps or fold_period()
    step, model = make_step(args.workload, args.backend)
    for _ in range(args.warmup):
        step()
    _restart(model, step)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    plain_us = (time.perf_counter() - start) / args.steps * 1e6

    _restart(model, step)
    parts, per_fn, callees = count_calls(step, args.steps)
    _restart(model, step)
    stats = profile(step, args.steps)
    times, total_s = part_times(stats)
    shares = _parts_of(stats, per_fn)
    n = args.steps
    cprofile_calls = sum(v[1] for v in stats.values())

    name = {"probe": "probe train 10x32 b32", "mlp": "mlp train 784-256-256-10 b128"}[args.workload]
    out(f"xdl {name}, backend {args.backend}: {n} steps per pass after {args.warmup} warm-up")
    py = sum(p["python"] for p in parts.values())
    c = sum(p["c"] for p in parts.values())
    out(f"calls per step: {_per(py + c, n)} ({_per(py, n)} Python functions, {_per(c, n)} built-ins); "
        f"cProfile counted {_per(cprofile_calls - 1, n)}")  # less its own disable()
    out(f"step time: {plain_us:.0f} us unprofiled, {total_s / n * 1e6:.0f} us under cProfile (indicative)")
    out("train_step's callees, by part: " + ", ".join(f"{k} -> {v}" for k, v in sorted(callees.items())))
    out("")
    header = f"{'part':20} {'Python calls':>12} {'built-ins':>9} {'calls/step':>10} {'us/step':>8} {'share':>6}"
    out(header)
    out("-" * len(header))
    for part in ORDER:
        counts = parts.get(part, {"python": 0, "c": 0})
        secs = times.get(part, 0.0)
        out(f"{part:20} {_per(counts['python'], n):>12} {_per(counts['c'], n):>9} "
            f"{_per(counts['python'] + counts['c'], n):>10} {secs / n * 1e6:8.1f} "
            f"{secs / total_s if total_s else 0:6.0%}")
    out("(calls: the counted pass, exact; time: cProfile, indicative)")

    def table(title, column, sort):
        out("")
        out(f"top {args.top} by {title} (per step; part: where the function ran)")
        out(f"{'calls':>6} {'own us':>8} {'cum us':>8}  {'part':34} function")
        ranked = sorted(stats.items(), key=lambda kv: -kv[1][column])
        for key, (_, calls, own, cum, _) in [kv for kv in ranked if sort(kv[0])][:args.top]:
            out(f"{_per(calls, n):>6} {own / n * 1e6:8.1f} {cum / n * 1e6:8.1f}  "
                f"{_part_label(shares.get(key, {OUTSIDE: 1})):34} {_name(key)}")

    def profiler(key):  # leaves out cProfile's own disable()
        return "_lsprof.Profiler" not in key[2]

    table("cumulative time", 3, profiler)
    table("own time", 2, profiler)
    out("")
    out("top functions by own time within each part (a function shared by parts gets its own time "
        "in proportion to its calls there)")
    for part in ORDER[:-1]:
        ranked = sorted(((key, v[2] * shares.get(key, {}).get(part, 0.0), v[1] * shares.get(key, {}).get(part, 0.0))
                         for key, v in stats.items() if profiler(key)), key=lambda t: -t[1])
        ranked = [t for t in ranked if t[2] > 0][:5]
        if ranked:
            out(f"  {part}: " + "; ".join(f"{_name(k)} {own / n * 1e6:.1f} us x{calls / n:.3g}"
                                         for k, own, calls in ranked))
    result = {"workload": name, "backend": args.backend, "steps": n, "warmup": args.warmup,
              "calls_per_step": (py + c) / n, "python_calls_per_step": py / n, "builtin_calls_per_step": c / n,
              "parts": {p: {"python_calls_per_step": parts.get(p, {}).get("python", 0) / n,
                            "builtin_calls_per_step": parts.get(p, {}).get("c", 0) / n,
                            "us_per_step": times.get(p, 0.0) / n * 1e6} for p in ORDER},
              "callees": callees, "step_us_unprofiled": plain_us, "step_us_profiled": total_s / n * 1e6}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
