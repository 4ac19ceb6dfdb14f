"""MLP workloads: training and inference of 784-256-256-10, a dispatch-overhead probe, and
the share of the training step spent in its matrix products.

Every network is built once per library from the same initial weights and data; each
candidate is a closure running one step. The plain-NumPy twin is the same network written
by hand: it is what xdl's abstractions must cost nothing against.
"""

from __future__ import annotations

import itertools

import numpy as np

from .harness import Workload

BATCH, SIZES = 128, (784, 256, 256, 10)
PROBE_BATCH, PROBE_WIDTH, PROBE_LAYERS = 32, 32, 10


def workloads(backend, quick=False):
    """The four MLP workloads with xdl on ``backend``; ``quick`` needs nothing smaller here."""
    import xdl

    be = xdl.set_backend(backend, fallback=False)
    torch, why = _torch(be)
    loss = "cross_entropy" if hasattr(xdl, "CrossEntropy") else "mse"
    mlp = Problem(SIZES, BATCH, loss, seed=0)
    probe = Problem((PROBE_WIDTH,) * (PROBE_LAYERS + 1), PROBE_BATCH, loss, seed=1)
    short = {"cross_entropy": "ce"}.get(loss, loss)
    return [
        _workload(f"mlp train 784-256-256-10 b{BATCH} {short}", mlp, "train", be, torch, why),
        _workload(f"mlp infer 784-256-256-10 b{BATCH}", mlp, "infer", be, torch, why),
        _workload(f"probe train 10x32 b{PROBE_BATCH} {short}", probe, "train", be, torch, why),
        _workload(f"{GEMMS} b{BATCH}", mlp, "gemms", be, torch, why),
    ]


GEMMS = "mlp train: its GEMMs alone"


def summaries(rows):
    """Lines printed under the table: GEMM shares of the training step, xdl against its twin."""
    from .harness import MARK

    key = {(r["workload"].split(" b")[0], r["candidate"]): r for r in rows if r.get("median")}
    rate = {k: r["median"] for k, r in key.items()}

    def mark(*keys):  # a figure drawn from a flagged row carries the table's marker
        return f" {MARK} (unreliable rows)" if any(key.get(k, {}).get("unreliable") for k in keys) else ""

    lines = []
    for label in ("xdl", "torch", "numpy"):
        train, gemms = rate.get(("mlp train 784-256-256-10", label)), rate.get((GEMMS, label))
        if train and gemms:  # samples/s and steps/s: the share is GEMM seconds over step seconds
            share = train / (BATCH * gemms)  # above 1: the GEMMs alone took longer than the whole step
            text = (f"{share:.0%} of the mlp train step is its GEMMs" if share <= 1 else
                    "the mlp train step's share in its GEMMs is unreliable (it came out above 100%)")
            lines.append(f"{label}: {text}" + mark(("mlp train 784-256-256-10", label), (GEMMS, label)))
    for name in ("mlp train 784-256-256-10", "mlp infer 784-256-256-10", "probe train 10x32"):
        xdl_rate, twin = rate.get((name, "xdl")), rate.get((name, "numpy"))
        if xdl_rate and twin:
            lines.append(f"{name}: xdl runs at {xdl_rate / twin:.2f}x its plain-NumPy twin"
                         + mark((name, "xdl"), (name, "numpy")))
        custom = rate.get((name, "xdl custom"))
        if xdl_rate and custom:
            lines.append(f"{name}: the layers written with add_weight/call (the tape's backward) run at "
                         f"{custom / xdl_rate:.2f}x the built-in Dense" + mark((name, "xdl"), (name, "xdl custom")))
        graph = rate.get((name, "xdl graph"))
        if xdl_rate and graph:
            lines.append(f"{name}: the same layers as a functional Model run at {graph / xdl_rate:.3f}x the Sequential"
                         + mark((name, "xdl"), (name, "xdl graph")))
    return lines


class Problem:
    """One network's sizes, initial weights and a batch of data, shared by every library."""

    def __init__(self, sizes, batch, loss, seed):
        rng = np.random.default_rng(seed)
        self.sizes, self.batch, self.loss = sizes, batch, loss
        self.weights = [rng.uniform(-1, 1, (a, b)).astype(np.float32) * np.float32(np.sqrt(6 / (a + b)))
                        for a, b in itertools.pairwise(sizes)]
        self.biases = [np.zeros(b, np.float32) for b in sizes[1:]]
        self.x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
        self.labels = rng.integers(0, sizes[-1], batch)
        self.onehot = np.eye(sizes[-1], dtype=np.float32)[self.labels]

    def target(self):
        return self.labels if self.loss == "cross_entropy" else self.onehot


def _torch(be):
    """(torch module, None) when PyTorch can run beside ``be``, else (None, why not)."""
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed"
    on_gpu = be.name == "cupy" or str(be.device).startswith("cuda")
    if on_gpu and not torch.cuda.is_available():
        return None, "PyTorch has no CUDA device here"
    return torch, None


def _workload(name, problem, kind, be, torch, why):
    from . import mlp_twins

    items = problem.batch if kind != "gemms" else 1
    candidates = {"xdl": getattr(mlp_twins, f"xdl_{kind}")(problem, be)}
    if kind == "train":
        candidates["xdl graph"] = mlp_twins.xdl_graph_train(problem, be)
        candidates["xdl custom"] = mlp_twins.xdl_custom_train(problem, be)
    notes, traced = {}, ("numpy",) + (("xdl",) if be.name in ("numpy", "array_api_strict") else ())
    candidates["torch"] = getattr(mlp_twins, f"torch_{kind}")(problem, torch, be) if torch else None
    if torch is None:
        notes["torch"] = why
    if be.name == "numpy":
        candidates["numpy"] = getattr(mlp_twins, f"numpy_{kind}")(problem)
    else:
        candidates["numpy"], notes["numpy"] = None, "plain-NumPy twin runs with --backend numpy"
    unit = "steps/s" if kind == "gemms" else "samples/s"
    return Workload(name, items, unit, candidates=candidates, notes=notes, traced=traced)
