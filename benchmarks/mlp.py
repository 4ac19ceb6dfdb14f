"""MLP workloads: training and inference of 784-256-256-10, a dispatch-overhead probe, and
the share of the training step spent in its matrix products.

Every network is built once per library from the same initial weights and data; each
candidate is a closure running one step. The plain-NumPy twin is the same network written
by hand: it is what xdl's abstractions must cost nothing against. With JAX installed, a
``jax`` candidate runs the same step compiled whole by XLA (``jax.jit``): the anchor for
what a step costs beyond its arithmetic.
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
    jax, jax_why = _jax(be)
    loss = "cross_entropy" if hasattr(xdl, "CrossEntropy") else "mse"
    mlp = Problem(SIZES, BATCH, loss, seed=0)
    probe = Problem((PROBE_WIDTH,) * (PROBE_LAYERS + 1), PROBE_BATCH, loss, seed=1)
    short = {"cross_entropy": "ce"}.get(loss, loss)
    anchor = (jax, jax_why)
    return [
        _workload(f"mlp train 784-256-256-10 b{BATCH} {short}", mlp, "train", be, torch, why, anchor),
        _workload(f"mlp infer 784-256-256-10 b{BATCH}", mlp, "infer", be, torch, why, anchor),
        _workload(f"probe train 10x32 b{PROBE_BATCH} {short}", probe, "train", be, torch, why, anchor),
        _workload(f"{GEMMS} b{BATCH}", mlp, "gemms", be, torch, why),
    ]


GEMMS = "mlp train: its GEMMs alone"
#: issue 36's goal for the probe: xdl's step at least this fraction of the jitted JAX step's rate
PROBE_JAX_GOAL = 0.6


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
        jax_rate = rate.get((name, "jax"))
        if xdl_rate and jax_rate:
            what = "forward" if " infer " in f" {name} " else "step"
            goal = f" (goal >= {PROBE_JAX_GOAL}x)" if name.startswith("probe train") else ""
            lines.append(f"{name}: xdl runs at {xdl_rate / jax_rate:.2f}x the jitted JAX {what}{goal}"
                         + mark((name, "xdl"), (name, "jax")))
    if any(r["candidate"] == "jax" and r.get("median") for r in rows):
        lines.append(jax_threads_line())
    return lines


def jax_threads_line():
    """How JAX was held to the suite's thread count, for the lines under the table."""
    import os

    from . import harness

    pool = harness.xla_pool_threads()
    return (f"jax: XLA's CPU pool has {pool if pool is not None else 'an unknown number of'} thread(s) "
            f"(BENCH_THREADS={harness.bench_threads()}; XLA_FLAGS={os.environ.get('XLA_FLAGS') or '-'})")


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


def _jax(be):
    """(jax module, None) when a jitted JAX twin can run beside ``be``, else (None, why not)."""
    from .harness import load_jax

    jax, why = load_jax()
    if jax is None:
        return None, why
    on_gpu = be.name == "cupy" or str(be.device).startswith("cuda")
    if on_gpu:
        try:
            jax.devices("gpu")
        except RuntimeError:
            return None, "JAX has no GPU here (xdl runs on one)"
    return jax, None


def _jax_device(jax, be):
    on_gpu = be.name == "cupy" or str(be.device).startswith("cuda")
    return jax.devices("gpu" if on_gpu else "cpu")[0]


def _jax_forward(jnp, params, x, relu):
    """The network's logits: Dense, ReLU between, as xdl's and PyTorch's Sequential."""
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = relu(h)
    return h


def jax_train(problem, jax, be):
    """One SGD step (lr as the others'), forward, loss, gradients and update, all in one
    ``jax.jit``; parameters are threaded through the step functionally (donated, so XLA may
    update them in place) and the closure blocks until the new ones are ready."""
    from .mlp_twins import LR

    jnp = jax.numpy
    device = _jax_device(jax, be)
    params = [tuple(jax.device_put(a, device) for a in wb) for wb in zip(problem.weights, problem.biases)]
    x = jax.device_put(problem.x, device)
    ce = problem.loss == "cross_entropy"
    y = jax.device_put(problem.labels.astype(np.int32) if ce else problem.onehot, device)

    def loss_fn(params, x, y):
        out = _jax_forward(jnp, params, x, jax.nn.relu)
        if ce:  # softmax cross-entropy on integer labels, the batch's mean
            logp = jax.nn.log_softmax(out, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
        return jnp.mean((out - y) ** 2)

    def sgd_step(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return jax.tree.map(lambda p, g: p - LR * g, params, grads), loss

    update = jax.jit(sgd_step, donate_argnums=0)
    state = [params]

    def step():
        state[0], loss = update(state[0], x, y)
        jax.block_until_ready((state[0], loss))
    step()  # compiles: the warm-up then times the compiled step
    return step


def jax_infer(problem, jax, be):
    """One forward pass, jitted."""
    jnp = jax.numpy
    device = _jax_device(jax, be)
    params = [tuple(jax.device_put(a, device) for a in wb) for wb in zip(problem.weights, problem.biases)]
    x = jax.device_put(problem.x, device)
    forward = jax.jit(lambda params, x: _jax_forward(jnp, params, x, jax.nn.relu))

    def step():
        forward(params, x).block_until_ready()
    step()
    return step


def _workload(name, problem, kind, be, torch, why, anchor=None):
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
    if anchor is not None:  # the jitted JAX twin (train and infer rows)
        jax, jax_why = anchor
        candidates["jax"] = (jax_train if kind == "train" else jax_infer)(problem, jax, be) if jax else None
        if jax is None:
            notes["jax"] = jax_why
    unit = "steps/s" if kind == "gemms" else "samples/s"
    return Workload(name, items, unit, candidates=candidates, notes=notes, traced=traced)
