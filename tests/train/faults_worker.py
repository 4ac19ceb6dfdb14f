"""The program tests/train/test_distributed.py launches under ``mpiexec -n 2``: processes that disagree.

    python tests/train/faults_worker.py MODE OUT
    MODE: samples (rank 1 has 201 samples, rank 0 100), batch (batch_size 32 on rank 1),
          epochs (3 epochs on rank 1), nan (rank 1's data holds a NaN, check_finite=True),
          stall (rank 1 sleeps before fit; DataParallel(timeout=2)),
          nanloss (rank 1's data is NaN, no data check: the loss check must stop both ranks)
Each rank writes OUT/rank{r}.json with what happened.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository

import xdl


def main(mode, out):
    strategy = xdl.DataParallel(timeout=2.0 if mode == "stall" else None)
    rank = strategy.rank
    rng = np.random.default_rng(0)
    n = 201 if mode == "samples" and rank == 1 else 100
    X = rng.standard_normal((n, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    if mode == "nan" and rank == 1:
        X[70, 1] = np.nan
    if mode == "nanloss" and rank == 1:
        X[:, 1] = np.nan  # whatever rows rank 1 takes, its loss is NaN
    batch = 32 if mode == "batch" and rank == 1 else 16
    epochs = 3 if mode == "epochs" and rank == 1 else 2
    xdl.seed(1)
    net = xdl.NeuralNetwork([xdl.Dense(input_size=4, output_size=8), xdl.Tanh(), xdl.Dense(output_size=2)])
    net.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.SGD(0.1))
    if mode == "stall" and rank == 1:
        time.sleep(30)
    result = {"rank": rank}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            history = net.fit(X, y, epochs=epochs, batch_size=batch, verbose=0, seed=0, distributed=strategy,
                              check_finite=mode == "nan")
            result["epochs"] = len(history.epoch)
            result["finite"] = all(bool(np.isfinite(xdl.to_numpy(p.value)).all()) for p in net.parameters())
        except xdl.XdlError as e:
            result["error"] = f"{type(e).__name__}: {e}"
    result["warnings"] = [str(w.message) for w in caught]
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
