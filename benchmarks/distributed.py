"""Data-parallel training over MPI: samples/s on 1 and N processes, the all-reduce's share of
the step, and what the all-reduce costs on paper for N processes.

    python -m benchmarks.distributed                 # 1 process
    mpiexec -n 2 python -m benchmarks.distributed    # 2 processes

The workload is the MLP of benchmarks/mlp.py (784-256-256-10, cross-entropy, SGD) at global
batch 128, trained with ``fit(distributed=...)`` on synthetic data. The cores are shared: each
process gets BENCH_THREADS // N BLAS threads (set before NumPy is imported), so 1 and N
processes use the same cores.
"""

from __future__ import annotations

import os

from . import THREADS


def _processes():
    """The launch's process count, read from the launcher's environment (MPICH, Open MPI)."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if var in os.environ:
            return int(os.environ[var])
    return 1


PER_PROCESS = str(max(1, int(THREADS) // _processes()))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = PER_PROCESS

import argparse
import statistics
import time

import numpy as np

SIZES, BATCH, SAMPLES = (784, 256, 256, 10), 128, 128 * 48
LINKS = {  # bytes per second, one direction
    "shared memory (~10 GB/s)": 10e9,
    "25 Gbit/s Ethernet": 25e9 / 8,
    "InfiniBand HDR 200 Gbit/s": 200e9 / 8,
    "NVLink 4 (~450 GB/s)": 450e9,
}


def model(xdl):
    net = xdl.NeuralNetwork([xdl.Dense(input_size=SIZES[0], output_size=SIZES[1]), xdl.ReLU(),
                             xdl.Dense(output_size=SIZES[2]), xdl.ReLU(), xdl.Dense(output_size=SIZES[3])])
    net.compile(loss="cross_entropy", optimizer=xdl.SGD(0.01))
    return net


def timed_strategy(xdl):
    """A DataParallel that also adds up the seconds its gradient all-reduces take."""

    class Timed(xdl.DataParallel):
        seconds = 0.0

        def reduce_gradients(self, parameters, share):
            start = time.perf_counter()
            super().reduce_gradients(parameters, share)
            Timed.seconds += time.perf_counter() - start

    return Timed()


def measure(xdl, strategy, epochs, reps):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((SAMPLES, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], SAMPLES)
    net = model(xdl)
    net.fit(X, y, epochs=1, batch_size=BATCH, verbose=0, seed=0, distributed=strategy)  # warm-up
    rates, shares = [], []
    for rep in range(reps):
        strategy.comm.Barrier()
        type(strategy).seconds = 0.0
        start = time.perf_counter()
        net.fit(X, y, epochs=epochs, batch_size=BATCH, verbose=0, seed=rep, distributed=strategy)
        seconds = time.perf_counter() - start
        rates.append(SAMPLES * epochs / seconds)
        shares.append(strategy.comm.allreduce(type(strategy).seconds, op=_mpi_max()) / seconds)
    return net, rates, shares


def allreduce_alone(net, strategy, calls=50):
    """Seconds per gradient-sized all-reduce with no training around it (after a barrier), so
    that waiting for a slower rank is not counted."""
    xp, count = net.backend.xp, sum(p.size for p in net.parameters())
    channel = net.backend.communicator(strategy.comm)
    flat = xp.zeros(count, dtype=xp.float32)
    channel.allreduce_sum(flat)
    strategy.comm.Barrier()
    start = time.perf_counter()
    for _ in range(calls):
        flat = channel.allreduce_sum(flat)
    return strategy.comm.allreduce(time.perf_counter() - start, op=_mpi_max()) / calls


def _mpi_max():
    from mpi4py import MPI

    return MPI.MAX


def on_paper(parameter_bytes, step_seconds, out=print):
    """Ring all-reduce: each process sends and receives 2 (N - 1) / N of the gradient bytes."""
    out(f"on paper: ring all-reduce of {parameter_bytes / 2**20:.2f} MiB of float32 gradients per step; "
        f"compute {step_seconds * 1e3:.2f} ms per global batch on 1 process")
    out(f"{'N':>4} {'bytes/step/process':>19}  " + "  ".join(f"{name:>26}" for name in LINKS))
    for n in (2, 4, 8, 16, 64):
        sent = 2 * (n - 1) / n * parameter_bytes
        cells = []
        for bandwidth in LINKS.values():
            comm = sent / bandwidth
            share = comm / (comm + step_seconds / n)  # compute divides, the all-reduce does not
            cells.append(f"{comm * 1e3:9.3f} ms ({share:4.0%} of step)")
        out(f"{n:>4} {sent / 2**20:15.2f} MiB  " + "  ".join(f"{c:>26}" for c in cells))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=2, help="epochs per timed repetition")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--backend", default="numpy")
    args = p.parse_args(argv)
    import xdl

    xdl.set_backend(args.backend, fallback=False)
    xdl.seed(0)
    strategy = timed_strategy(xdl)
    net, rates, shares = measure(xdl, strategy, args.epochs, args.reps)
    alone = allreduce_alone(net, strategy)
    if not strategy.is_chief:
        return
    median, share = statistics.median(rates), statistics.median(shares)
    steps = SAMPLES // BATCH
    print(f"{strategy.size} process(es) x {PER_PROCESS} BLAS thread(s), backend {args.backend}, "
          f"mlp {'-'.join(map(str, SIZES))} global batch {BATCH}")
    print(f"samples/s: median {median:,.0f} (min {min(rates):,.0f}, max {max(rates):,.0f}) over {args.reps} reps "
          f"of {args.epochs} epochs x {steps} steps")
    print(f"all-reduce share of the step: {share:.1%} (median; slowest rank's all-reduce seconds over wall seconds)")
    parameter_bytes = 4 * sum(p.size for p in net.parameters())
    print(f"all-reduce alone: {alone * 1e3:.3f} ms per step's gradients ({parameter_bytes / 2**20:.2f} MiB, "
          f"{parameter_bytes / alone / 1e9:.2f} GB/s), {alone * median / BATCH:.1%} of a step; the rest of "
          "the share above is waiting for the slower rank")
    step_seconds = BATCH / median * (1 - share)  # compute part of a step at this process count
    on_paper(parameter_bytes, step_seconds * strategy.size)


if __name__ == "__main__":
    main()
