"""One training step of a small CNN: xdl against PyTorch, in the same process.

The network (28x28x1 images, batch 64): Conv 3x3 32, ReLU, MaxPool 2, Conv 3x3 64, ReLU,
MaxPool 2, Flatten, Dense 10; cross-entropy on integer labels, plain SGD. PyTorch runs the
same network in its default NCHW layout on the same device class (CPU for xdl's numpy).

    python -m benchmarks.cnn [--backend numpy] [--quick] [--json out.json]

prints images/s for both, their ratio, and where xdl's step spends its time, layer by layer.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

from . import harness

BATCH, SIZE, CLASSES = 64, 28, 10


def data(seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SIZE, SIZE, 1)).astype(np.float32)
    return x, rng.integers(0, CLASSES, BATCH)


def xdl_model(backend):
    import xdl

    xdl.set_backend(backend, fallback=False)
    xdl.seed(0)
    model = xdl.NeuralNetwork([
        xdl.Conv2D(input_channels=1, output_channels=32, kernel_size=3, name="conv1"), xdl.ReLU(name="relu1"),
        xdl.MaxPool2D(2, name="pool1"), xdl.Conv2D(output_channels=64, kernel_size=3, name="conv2"),
        xdl.ReLU(name="relu2"), xdl.MaxPool2D(2, name="pool2"),
        xdl.Flatten(name="flatten"), xdl.Dense(output_size=CLASSES, name="dense"),
    ])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.SGD(learning_rate=0.01))
    x, y = data()
    (x,), _ = model.accept_inputs(x)
    return model, x, model.backend.asarray(y)


def xdl_step(backend):
    model, x, y = xdl_model(backend)

    def step():
        model.train_step((x, y))
        model.backend.synchronize()

    return step


def torch_step(device):
    import torch

    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, CLASSES)).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    x, y = data()
    x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(device)  # NCHW, torch's default
    y = torch.from_numpy(y).to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()
        if x.is_cuda:
            torch.cuda.synchronize()

    return step


def torch_device(backend):
    """CPU against xdl's CPU backends; CUDA against its GPU ones (when torch has CUDA)."""
    import torch

    import xdl

    be = xdl.set_backend(backend, fallback=False)
    on_gpu = be.name == "cupy" or "cuda" in str(be.device)
    return "cuda" if on_gpu and torch.cuda.is_available() else "cpu"


def workloads(backend="numpy", quick=False):
    """The harness's entry point: one workload, xdl on ``backend`` against PyTorch."""
    candidates, notes = {"xdl": xdl_step(backend)}, {}
    if importlib.util.find_spec("torch") is None:
        candidates["torch"], notes["torch"] = None, "torch not installed"
    else:
        candidates["torch"] = torch_step(torch_device(backend))
    name = f"cnn train step 28x28x1 b{BATCH} ({backend})"
    return [harness.Workload(name, BATCH, "images/s", candidates, notes)]


def profile(backend="numpy", steps=20):
    """Seconds per step in each layer's forward and backward, the loss and the optimizer:
    the model's own ``train_step``, with a timer around every part it calls."""
    model, x, y = xdl_model(backend)
    be, totals = model.backend, {}

    def timed(key, fn):
        def run(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            be.synchronize()
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - start
            return out

        return run

    def timed_layer(layer, apply):
        def run(x, training=False, **kwargs):  # kwargs: a fused step's (relu=True)
            y, backprop = timed(f"{layer.name} forward", apply)(x, training, **kwargs)
            return y, timed(f"{layer.name} backward", backprop)

        return run

    model.train_step((x, y))  # builds the graph, whose steps hold what they call (fused ones too)
    for step in model.graph.steps:
        step.apply = timed_layer(step.layer, step.apply)
    loss = model.loss
    loss.call, loss.backward = timed("loss forward", loss.call), timed("loss backward", loss.backward)
    model.optimizer.step = timed("optimizer", model.optimizer.step)
    for i in range(steps + 3):
        if i == 3:
            totals.clear()  # the first steps warm caches and allocators
        model.train_step((x, y))
    return {key: seconds / steps for key, seconds in totals.items()}


def print_profile(per_step, out=print):
    total = sum(per_step.values())
    out(f"xdl step, layer by layer ({total * 1e3:.1f} ms in all):")
    for key, seconds in sorted(per_step.items(), key=lambda kv: -kv[1]):
        out(f"  {key:28} {seconds * 1e3:7.2f} ms  {seconds / total:6.1%}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="numpy")
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--json", default=None, help="also write the rows to this file")
    args = p.parse_args(argv)
    print(harness.threads_line())
    reps = 3 if args.quick else 7
    rows = harness.run(workloads(args.backend, args.quick), reps=reps, memory=not args.quick)
    harness.report(rows)
    by = {r["candidate"]: r for r in rows}
    if by.get("xdl", {}).get("median") and by.get("torch", {}).get("median"):
        print(f"xdl {by['xdl']['median']:,.0f} images/s, torch {by['torch']['median']:,.0f} images/s: "
              f"xdl/torch = {by['xdl']['median'] / by['torch']['median']:.2f}x")
    print_profile(profile(args.backend, steps=5 if args.quick else 20))
    if args.json:
        harness.write_json(args.json, rows, {"backend": args.backend, "threads": harness.threads_line()})


if __name__ == "__main__":
    main()
