"""What the tape costs per op: a chain of element-wise ops on a small array (so the array work
is negligible and the host's bookkeeping shows), as bare array calls, as ``xdl.ops`` on plain
arrays (nothing recorded), and recorded from a Variable then differentiated; PyTorch's
autograd on the same chain beside them."""

from __future__ import annotations

import numpy as np

from .harness import Workload

OPS, SIZE = 60, 16  # ops per chain (tanh, multiply, add in turn), elements of the array


def workloads(backend, quick=False):
    import xdl
    from xdl import ops

    be = xdl.set_backend(backend, fallback=False)
    x0 = np.linspace(-1.0, 1.0, SIZE).astype(np.float32)

    def chain(f_tanh, f_mul, f_add, v):
        for _ in range(OPS // 3):
            v = f_add(f_mul(f_tanh(v), 0.5), 0.1)
        return v

    x = be.asarray(x0)
    xp = be.xp

    def bare():
        chain(xp.tanh, lambda a, b: a * b, lambda a, b: a + b, x)
        be.synchronize()

    def untraced():
        chain(ops.tanh, ops.multiply, ops.add, x)
        be.synchronize()

    w = xdl.Variable(x0)

    def recorded():
        w.grad = None
        ops.sum(chain(ops.tanh, ops.multiply, ops.add, w)).backward()
        be.synchronize()

    candidates = {"bare array calls": bare, "xdl ops, nothing recorded": untraced,
                  "xdl ops, recorded + backward": recorded}
    notes = {}
    try:
        import torch
    except ImportError:
        torch = None
        notes["torch autograd"] = "PyTorch is not installed"
    if torch is not None and be.name in ("numpy", "torch", "array_api_strict"):
        t = torch.tensor(x0, requires_grad=True)

        def torch_step():
            t.grad = None
            chain(torch.tanh, torch.mul, torch.add, t).sum().backward()

        candidates["torch autograd"] = torch_step
    return [Workload(f"tape: {OPS} element-wise ops on ({SIZE},)", OPS, "ops/s", candidates=candidates, notes=notes)]


def summaries(rows):
    rate = {r["candidate"]: r["median"] for r in rows if r.get("median") and r["workload"].startswith("tape:")}
    bare, recorded = rate.get("bare array calls"), rate.get("xdl ops, recorded + backward")
    untraced = rate.get("xdl ops, nothing recorded")
    lines = []
    if bare and untraced:
        lines.append(f"tape: an xdl op on plain arrays costs {1e6 * (1 / untraced - 1 / bare):.2f} us more than the "
                     "bare call")
    if bare and recorded:
        lines.append(f"tape: recording an op and its backward costs {1e6 * (1 / recorded - 1 / bare):.1f} us per op "
                     "beyond the bare forward call")
    return lines
