"""One training step of a character model: vocab 96 -> Embedding 64 -> LSTM 128 -> Dense 96,
softmax cross-entropy over every position, SGD; batch 32 x 64 characters.

Candidates: xdl on the chosen backend; PyTorch's fused ``nn.LSTM``; and PyTorch's
``nn.LSTMCell`` stepped by a Python loop (what a hand-written loop costs there).
Run: ``python -m benchmarks.lstm [--backend numpy] [--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform

from . import THREADS, harness

VOCAB, EMBED, HIDDEN, STEPS, BATCH = 96, 64, 128, 64, 32
LEARNING_RATE = 0.1


def data(seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.integers(0, VOCAB, size=(BATCH, STEPS))
    return x, np.roll(x, -1, axis=1)  # next-character targets


def xdl_step(backend):
    import xdl

    xdl.set_backend(backend)
    xdl.seed(0)
    model = xdl.NeuralNetwork([xdl.Embedding(VOCAB, EMBED), xdl.LSTM(HIDDEN, return_sequences=True),
                               xdl.Dense(output_size=VOCAB)])
    model.compile(loss=_xdl_loss(xdl), optimizer=xdl.SGD(learning_rate=LEARNING_RATE))
    x, y = data()
    be = xdl.get_backend()
    (x,), _ = model.accept_inputs(x)
    y = be.asarray(y) if model.loss.accepts_labels else be.asarray(_one_hot(y), dtype=be.xp.float32)

    def step():
        model.train_step((x, y))
        be.synchronize()

    return step


def _xdl_loss(xdl):
    if hasattr(xdl, "CrossEntropy"):
        return xdl.CrossEntropy(from_logits=True)
    return xdl.MSE()  # before the training toolkit: same shapes, a cheaper loss


def _one_hot(y):
    import numpy as np

    return np.eye(VOCAB, dtype=np.float32)[y]


class _CellLoop:
    """nn.LSTMCell stepped in Python, batch-first like nn.LSTM(batch_first=True)."""

    def __init__(self, torch):
        self.torch, self.cell = torch, torch.nn.LSTMCell(EMBED, HIDDEN)

    def parameters(self):
        return self.cell.parameters()

    def __call__(self, x):
        h = c = x.new_zeros((x.shape[0], HIDDEN))
        outputs = []
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
            outputs.append(h)
        return self.torch.stack(outputs, dim=1)


def torch_step(device, fused):
    import torch

    torch.manual_seed(0)
    embed = torch.nn.Embedding(VOCAB, EMBED).to(device)
    if fused:
        lstm = torch.nn.LSTM(EMBED, HIDDEN, batch_first=True).to(device)

        def recur(e):
            return lstm(e)[0]

        recur_params = list(lstm.parameters())
    else:
        loop = _CellLoop(torch)
        loop.cell.to(device)
        recur, recur_params = loop, list(loop.parameters())
    head = torch.nn.Linear(HIDDEN, VOCAB).to(device)
    params = list(embed.parameters()) + recur_params + list(head.parameters())
    optimizer = torch.optim.SGD(params, lr=LEARNING_RATE)
    x, y = (torch.as_tensor(a, device=device) for a in data())

    def step():
        optimizer.zero_grad(set_to_none=True)
        logits = head(recur(embed(x)))
        torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1)).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def workloads(backend="numpy", quick=False):
    name = f"lstm train step b{BATCH} t{STEPS} h{HIDDEN}"
    candidates, notes = {"xdl": xdl_step(backend)}, {}
    if importlib.util.find_spec("torch") is None:
        candidates.update(torch=None, torch_cell_loop=None)
        notes.update(torch="torch not installed", torch_cell_loop="torch not installed")
    else:
        import torch

        device = torch.device("cuda" if backend in ("cupy", "torch") and torch.cuda.is_available() else "cpu")
        candidates["torch"] = torch_step(device, fused=True)
        candidates["torch_cell_loop"] = torch_step(device, fused=False)
    return [harness.Workload(name, items=BATCH, unit="sequences/s", candidates=candidates, notes=notes)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--backend", default="numpy")
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--json", default=None, help="also write the rows to this file")
    args = p.parse_args(argv)
    reps = 3 if args.quick else 7
    rows = harness.run(workloads(args.backend, args.quick), reps=reps, warmup=2, memory=not args.quick)
    print(f"{platform.processor() or platform.machine()}, {harness.threads_line()} (BENCH_THREADS={THREADS})")
    harness.report(rows)
    by = {r["candidate"]: r["median"] for r in rows if r.get("median")}
    if "xdl" in by:
        for other in ("torch_cell_loop", "torch"):
            if other in by:
                print(f"xdl / {other}: {by['xdl'] / by[other]:.2f}x")
    if args.json:
        harness.write_json(args.json, rows, {"backend": args.backend, "threads": THREADS})
    return rows


if __name__ == "__main__":
    main()
