"""Kernel ops per training step on the torch backend, pinned (benchmarks/ops.py counts them).

On CUDA every non-view ATen operator is one kernel launch, and at small sizes the launches set
the step time, so a change that adds operators to a step is a regression even where no timer
would show it on the CPU. The count is deterministic: these bounds are the targets of the
few-kernels work (benchmarks/README.md records the counts).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the counts are taken on the torch backend")

from benchmarks import ops  # noqa: E402

BOUNDS = {  # workload: most kernel ops a step
    "mlp sgd": 26,
    "mlp adam": 32,
    "probe sgd": 80,
    "probe adam": 100,
    "cnn sgd": 80,
    "lstm adam": 13 * ops.STEPS,  # 13 a time step, everything else of the step included
}


@pytest.mark.parametrize("name", BOUNDS)
def test_kernel_ops_per_step_stay_within_bounds(name):
    count, by_op = ops.count(ops.xdl_workloads()[name]())
    assert count <= BOUNDS[name], f"{name}: {count} kernel ops a step (bound {BOUNDS[name]}): {dict(by_op)}"


def _optimizer_ops(optimizer, layers):
    import xdl

    xdl.set_backend("torch", device="cpu", fallback=False)
    model = xdl.NeuralNetwork([xdl.Dense(output_size=8) for _ in range(layers)])
    model.compile(loss="mse", optimizer=optimizer)
    model.build((8,))
    x = torch.randn(4, 8)
    model.train_step((x, x))
    params = model.trainable_parameters()
    return ops.count(lambda: model.optimizer.step(params), warmup=1)[0]


OPTIMIZER_BOUNDS = {  # the flat buffer's update: a fixed count whatever the depth
    "SGD": (lambda xdl: xdl.SGD(0.1), 2), "momentum": (lambda xdl: xdl.SGD(0.1, momentum=0.9), 4),
    "Nesterov": (lambda xdl: xdl.SGD(0.1, momentum=0.9, nesterov=True), 4),
    "Adam": (lambda xdl: xdl.Adam(), 8), "AdamW": (lambda xdl: xdl.AdamW(), 8),
    "RMSprop": (lambda xdl: xdl.RMSprop(), 5),
    "SGD clipnorm": (lambda xdl: xdl.SGD(0.1, clipnorm=1.0), 2 + 4),  # global-norm clipping at most 4
}


@pytest.mark.parametrize("name", OPTIMIZER_BOUNDS)
def test_an_optimizer_step_costs_the_same_whatever_the_depth(name):
    import xdl

    make, bound = OPTIMIZER_BOUNDS[name]
    shallow, deep = _optimizer_ops(make(xdl), 2), _optimizer_ops(make(xdl), 12)
    assert shallow == deep <= bound, f"{name}: {shallow} ops for 2 layers, {deep} for 12 (bound {bound})"


def test_the_counter_counts_what_pytorch_runs():
    x = torch.randn(3, 4)
    total, by_op = ops.count(lambda: (x @ x.T).relu().t().contiguous(), warmup=0)
    assert by_op["mm"] == 1 and by_op["relu"] == 1 and "t" not in by_op and total == 3  # clone for contiguous
