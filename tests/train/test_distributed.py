"""Data-parallel fit: sharding and reporting in one process, and real runs under ``mpiexec -n 2``,
processes that disagree, stall or meet a NaN among them (faults_worker.py).

The mpiexec tests launch tests/train/distributed_worker.py and compare its weights with a plain
one-process fit in this process; they are skipped (with the reason) without mpi4py or mpiexec.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import xdl
from tests.helpers import ROOT
from tests.train import distributed_worker as worker
from xdl.train.distributed import DataParallel, MPIUnavailableError

HERE = pathlib.Path(__file__).resolve().parent  # the workers' folder
MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(pathlib.Path(sys.executable).parent),
                                                        os.environ.get("PATH", "")]))
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(not (HAVE_MPI4PY and MPIEXEC),
                               reason='mpi4py or mpiexec missing: pip install -e ".[mpi]"')
TIMEOUT_S = 120  # a hung run fails the test instead of hanging CI


class FakeComm:
    """Rank and size only: enough for the parts of DataParallel that do not communicate."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size


def test_distributed_without_mpi_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # as if not installed
    net, (X, y) = worker.model(), worker.data()
    with pytest.raises(MPIUnavailableError, match=r'pip install "xdl\[mpi\]"'):
        net.fit(X, y, epochs=1, verbose=0, distributed=True)


def test_distributed_rejects_other_values():
    net, (X, y) = worker.model(), worker.data()
    with pytest.raises(TypeError, match="distributed must be True, False or an xdl.DataParallel"):
        net.fit(X, y, epochs=1, verbose=0, distributed="mpi")


@pytest.mark.parametrize("size", [2, 3])
def test_each_global_batch_is_split_across_ranks_exactly_once(be, size):
    n, batch = 11, 4  # the last batch (3 rows) leaves one rank of three empty
    order = be.asarray(np.random.default_rng(0).permutation(n))
    parts = [DataParallel(FakeComm(r, size)).shard(be, order, n, batch) for r in range(size)]
    for step in range(3):
        rows, shares = [], 0.0
        for index, steps in parts:
            i, j, share, done = steps[step]
            rows += list(xdl.to_numpy(index)[i:j])
            shares += share
            assert done == min((step + 1) * batch, n)
        expected = xdl.to_numpy(order)[step * batch:(step + 1) * batch]
        assert rows == list(expected) and shares == pytest.approx(1.0)


def test_only_rank_zero_writes_checkpoints_and_shows_progress(tmp_path):
    callbacks = [xdl.ModelCheckpoint(tmp_path / "m.xdl", save_best_only=False), xdl.EarlyStopping()]
    chief, other = DataParallel(FakeComm(0, 2)), DataParallel(FakeComm(1, 2))
    assert chief.callbacks(callbacks) == callbacks and chief.is_chief
    assert other.callbacks(callbacks) == callbacks[1:] and not other.is_chief
    assert [DataParallel(FakeComm(r, 3)).rows(10) for r in range(3)] == [(0, 3), (3, 6), (6, 10)]


@pytest.mark.skipif(not HAVE_MPI4PY, reason='mpi4py missing: pip install -e ".[mpi]"')
def test_one_process_distributed_equals_plain_fit(be):
    """Size 1 runs every collective (broadcast, all-reduce through the host) on this backend."""
    results = []
    for distributed in (False, True):
        xdl.seed(worker.SEED)
        net, (X, y) = worker.model(), worker.data()
        history = net.fit(X, y, epochs=2, batch_size=worker.BATCH, verbose=0, seed=worker.SEED,
                          validation_split=0.2, distributed=distributed)
        results.append((worker.weights(net), history.history))
        assert all(p.value.dtype == be.xp.float32 for p in net.parameters())
        assert not hasattr(net, "strategy")  # evaluating afterwards needs no peers
    (plain, plain_history), (dist, dist_history) = results
    for a, b in zip(plain, dist):
        np.testing.assert_array_equal(a, b)
    assert plain_history.keys() == dist_history.keys()
    for key in plain_history:
        assert plain_history[key] == pytest.approx(dist_history[key], rel=1e-6), key


def mpiexec(worker, *args, n=2, timeout=TIMEOUT_S):
    """Run ``worker`` (a program in this folder) on ``n`` processes: (return code, output,
    seconds); the whole process group is killed if it outlives the timeout."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [MPIEXEC, "-n", str(n), sys.executable, str(HERE / worker), *map(str, args)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    start = time.monotonic()
    try:
        output = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"mpiexec -n {n} {worker} {args[0]} hung for {timeout}s")
    return proc.returncode, output, time.monotonic() - start


@needs_mpi
def test_two_processes_train_like_one_on_the_global_batch(be, tmp_path):
    check_like_one_process(be, tmp_path, "train")


@needs_mpi
def test_a_graph_model_with_a_shared_layer_trains_like_one_process(tmp_path):
    with xdl.use_backend("numpy") as be:
        check_like_one_process(be, tmp_path, "graph")


def check_like_one_process(be, tmp_path, mode):
    rc, output, _ = mpiexec("distributed_worker.py", mode, be.name, tmp_path)
    assert rc == 0, output
    result = json.loads((tmp_path / "result.json").read_text())
    two = list(np.load(tmp_path / "result.npz").values())
    assert result["size"] == 2
    assert max(result["differences"]) == 0.0  # ranks hold identical weights after every epoch
    assert output.count(f"Epoch 1/{worker.EPOCHS}") == 1  # only rank 0 reports progress

    xdl.seed(worker.SEED)
    net, (X, y) = worker.model(graph=mode == "graph"), worker.data()
    history = net.fit(X, y, epochs=worker.EPOCHS, batch_size=worker.BATCH, verbose=0, seed=worker.SEED)
    one = worker.weights(net)
    largest = max(float(np.max(np.abs(a - b))) for a, b in zip(one, two))
    print(f"\n{be.name}: largest weight difference, 2 processes vs 1: {largest:.3g}")
    assert largest < 1e-5
    assert result["history"]["loss"] == pytest.approx(history.history["loss"], rel=1e-5)
    assert result["history"]["accuracy"] == pytest.approx(history.history["accuracy"])


@needs_mpi
def test_batchnorm_running_statistics_agree_across_ranks_after_every_epoch(tmp_path):
    """Each rank normalizes with its own part of the batch; the running averages it keeps
    would drift apart if fit did not average them at the end of every epoch."""
    rc, output, _ = mpiexec("distributed_worker.py", "batchnorm", "numpy", tmp_path)
    assert rc == 0, output
    result = json.loads((tmp_path / "result.json").read_text())
    assert len(result["differences"]) == worker.EPOCHS and max(result["differences"]) == 0.0


@needs_mpi
def test_a_rank_failing_mid_epoch_ends_the_whole_run_with_an_error(tmp_path):
    start = time.perf_counter()
    rc, output, _ = mpiexec("distributed_worker.py", "fail", "numpy", tmp_path)
    assert rc != 0
    assert "rank 1 of 2 failed" in output and "injected failure" in output
    assert time.perf_counter() - start < TIMEOUT_S
    assert not (tmp_path / "result.json").exists()


def faults_run(mode, out, timeout=90):
    """faults_worker.py under mpiexec: (return code, output, each rank's report, seconds)."""
    rc, output, seconds = mpiexec("faults_worker.py", mode, out, timeout=timeout)
    results = [json.loads((out / f"rank{r}.json").read_text()) if (out / f"rank{r}.json").exists() else None
               for r in range(2)]
    return rc, output, results, seconds


# issue 17, item 13
@needs_mpi
@pytest.mark.parametrize("mode,match", [("samples", "samples: 100 on rank 0, 201 on rank 1"),
                                        ("batch", "batch_size: 16 on rank 0, 32 on rank 1"),
                                        ("epochs", "epochs: 2 on rank 0, 3 on rank 1"),
                                        ("nan", "rank 1 of 2 failed preparing its data: .*NaN")])
def test_processes_that_disagree_all_fail_with_the_difference(tmp_path, mode, match):
    rc, output, results, _ = faults_run(mode, tmp_path)
    assert rc == 0, output
    for result in results:
        assert "DisagreementError" in result["error"], result
        assert re.search(match, result["error"]), result["error"]


# issue 17, item 13
@needs_mpi
def test_a_stalled_rank_ends_the_run_after_the_timeout(tmp_path):
    rc, output, results, seconds = faults_run("stall", tmp_path, timeout=60)
    assert rc != 0 and "waited more than 2 s in the agreement check when fit starts" in output, output
    assert seconds < 30  # rank 1 sleeps 30 s: the timeout, not the sleep, ended it


# issue 17, items 13 and 15
@needs_mpi
def test_a_nan_on_one_rank_stops_every_rank(tmp_path):
    rc, output, results, _ = faults_run("nanloss", tmp_path)
    assert rc == 0, output
    for result in results:
        assert result["epochs"] == 1 and result["finite"], result
    assert any("the loss is not finite" in w for w in results[0]["warnings"]), results[0]


# issue 17, item 13
def test_timeout_is_checked():
    from xdl.train.distributed import DataParallel

    class Comm:
        def Get_rank(self):
            return 0

        def Get_size(self):
            return 2

    for bad in (0, -1, math.inf, "5", True):
        with pytest.raises(ValueError, match="timeout must be a positive number"):
            DataParallel(Comm(), timeout=bad)
