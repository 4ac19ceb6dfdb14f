"""Kernel ops per training step on the torch backend: ``python -m benchmarks --ops``.

On CUDA every ATen operator that is not a view is one kernel launch, and at the sizes users
train with xdl the host's launch cost sets the step time. A ``TorchDispatchMode`` counts them
on the CPU: deterministic, so tests may pin upper bounds (tests/backends/test_kernel_counts.py). Each
workload is counted around one step after two warm-up steps, for xdl on the torch backend and
for PyTorch eager with its foreach optimizers.
"""

from __future__ import annotations

import collections

import numpy as np

MLP, MLP_BATCH = (784, 256, 256, 10), 128
PROBE, PROBE_BATCH = (32,) * 11, 32
CNN_BATCH, VOCAB, EMBED, HIDDEN, STEPS, LSTM_BATCH = 64, 96, 64, 128, 64, 32


def counting():
    """A context manager whose ``.ops`` counts the non-view ATen operators run inside it."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = collections.Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if not func.is_view:
                self.ops[func.overloadpacket.__name__] += 1
            return func(*args, **(kwargs or {}))

    del torch
    return Count()


def count(step, warmup=2):
    """Non-view ops of one call of ``step`` after ``warmup`` calls: (total, Counter by op)."""
    for _ in range(warmup):
        step()
    with counting() as c:
        step()
    return sum(c.ops.values()), c.ops


# -- xdl workloads on the torch backend -------------------------------------------------------
def _xdl(build, x, y, loss, optimizer):
    import xdl

    xdl.set_backend("torch", device="cpu", fallback=False)
    xdl.seed(0)
    model = build(xdl)
    model.compile(loss=loss, optimizer=optimizer)
    (x,), _ = model.accept_inputs(x)
    y = model.backend.asarray(y)
    return lambda: model.train_step((x, y))


def _dense_stack(sizes):
    return lambda xdl: xdl.NeuralNetwork(
        [layer for n in sizes[1:-1] for layer in (xdl.Dense(output_size=n), xdl.ReLU())]
        + [xdl.Dense(output_size=sizes[-1])])


def _cnn(xdl):
    return xdl.NeuralNetwork([
        xdl.Conv2D(input_channels=1, output_channels=16, kernel_size=3), xdl.ReLU(), xdl.MaxPool2D(2),
        xdl.Conv2D(output_channels=32, kernel_size=3), xdl.ReLU(), xdl.MaxPool2D(2),
        xdl.Flatten(), xdl.Dense(output_size=10)])


def _lstm(xdl):
    return xdl.NeuralNetwork([xdl.Embedding(VOCAB, EMBED), xdl.LSTM(HIDDEN, return_sequences=True),
                              xdl.Dense(output_size=VOCAB)])


def _data(shape, classes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, classes, shape[0])


def _text(seed=0):
    x = np.random.default_rng(seed).integers(0, VOCAB, (LSTM_BATCH, STEPS))
    return x, np.roll(x, -1, axis=1)


def xdl_workloads():
    """name -> step closure, the issue's table of workloads."""
    import xdl

    mlp = _data((MLP_BATCH, MLP[0]), MLP[-1])
    probe = _data((PROBE_BATCH, PROBE[0]), PROBE[-1], seed=1)
    cnn = _data((CNN_BATCH, 28, 28, 1), 10)
    ce = lambda: xdl.CrossEntropy(from_logits=True)  # noqa: E731
    return {
        "mlp sgd": lambda: _xdl(_dense_stack(MLP), *mlp, ce(), xdl.SGD(0.01)),
        "mlp adam": lambda: _xdl(_dense_stack(MLP), *mlp, ce(), xdl.Adam()),
        "probe sgd": lambda: _xdl(_dense_stack(PROBE), *probe, ce(), xdl.SGD(0.01)),
        "probe adam": lambda: _xdl(_dense_stack(PROBE), *probe, ce(), xdl.Adam()),
        "cnn sgd": lambda: _xdl(_cnn, *cnn, ce(), xdl.SGD(0.01)),
        "lstm adam": lambda: _xdl(_lstm, *_text(), ce(), xdl.Adam()),
    }


# -- the same in PyTorch eager ----------------------------------------------------------------
def torch_workloads():
    import torch

    nn = torch.nn

    def stack(sizes):
        layers = []
        for a, b in zip(sizes[:-2], sizes[1:-1]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))

    class Text(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.lstm = nn.Embedding(VOCAB, EMBED), nn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.out = nn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            return self.out(self.lstm(self.embed(x))[0]).reshape(-1, VOCAB)

    def cnn():
        return nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 5 * 5, 10))

    def make(net, x, y, opt):
        torch.manual_seed(0)
        net = net()
        x, y = torch.from_numpy(x), torch.from_numpy(y).reshape(-1)
        opt = opt(net.parameters())
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x), y).backward()
            opt.step()

        return step

    sgd = lambda p: torch.optim.SGD(p, lr=0.01, foreach=True)  # noqa: E731
    adam = lambda p: torch.optim.Adam(p, foreach=True)  # noqa: E731
    mlp, probe = _data((MLP_BATCH, MLP[0]), MLP[-1]), _data((PROBE_BATCH, PROBE[0]), PROBE[-1], seed=1)
    images, labels = _data((CNN_BATCH, 28, 28, 1), 10)
    images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    return {
        "mlp sgd": lambda: make(lambda: stack(MLP), *mlp, sgd),
        "mlp adam": lambda: make(lambda: stack(MLP), *mlp, adam),
        "probe sgd": lambda: make(lambda: stack(PROBE), *probe, sgd),
        "probe adam": lambda: make(lambda: stack(PROBE), *probe, adam),
        "cnn sgd": lambda: make(cnn, images, labels, sgd),
        "lstm adam": lambda: make(Text, *_text(), adam),
    }


def table(out=print, verbose=False):
    """Counts for every workload, xdl against PyTorch; returns {name: (xdl, torch)}."""
    import torch

    torch.set_num_threads(1)
    xs, ts = xdl_workloads(), torch_workloads()
    out(f"{'workload (kernel ops a step)':<24}{'xdl torch-backend':>19}{'PyTorch eager':>15}")
    counts = {}
    for name in xs:
        n, ops = count(xs[name]())
        m, _ = count(ts[name]())
        per = f"  ({n / STEPS:.1f} a time step)" if name.startswith("lstm") else ""
        out(f"{name:<24}{n:>19}{m:>15}{per}")
        if verbose:
            out("    " + ", ".join(f"{k} {v}" for k, v in ops.most_common()))
        counts[name] = (n, m)
    return counts


if __name__ == "__main__":
    import sys

    table(verbose="-v" in sys.argv)
