"""The program tests/train/test_distributed.py launches under ``mpiexec -n 2``.

    python tests/train/distributed_worker.py train BACKEND OUT   # fit(distributed=True); rank 0 writes OUT/result.npz
    python tests/train/distributed_worker.py fail BACKEND OUT    # rank 1 raises in the middle of an epoch
    python tests/train/distributed_worker.py batchnorm BACKEND OUT  # as train, with BatchNorm's running statistics
    python tests/train/distributed_worker.py graph BACKEND OUT   # as train, a functional model with a shared layer

Each rank seeds its weights differently on purpose: ``fit`` must start them all from rank 0's.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repository

import xdl

SEED, SAMPLES, FEATURES, CLASSES = 3, 201, 8, 3  # 201: the last global batch of 64 splits 4 + 5
BATCH, EPOCHS = 64, 3


def data():
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((SAMPLES, FEATURES))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5).astype(np.int64)
    return X, y


def model(batchnorm=False, graph=False):
    if graph:  # a residual branch through one layer applied twice
        x = xdl.Input(shape=(FEATURES,))
        h = xdl.ReLU()(xdl.Dense(output_size=16)(x))
        shared = xdl.Dense(output_size=16)
        h = xdl.Add()([h, xdl.Tanh()(shared(xdl.Tanh()(shared(h))))])
        net = xdl.Model(x, xdl.Dense(output_size=CLASSES)(h))
        net.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.Adam(0.01), metrics=["accuracy"])
        return net
    layers = [xdl.Dense(input_size=FEATURES, output_size=16), xdl.ReLU(), xdl.Dense(output_size=CLASSES)]
    if batchnorm:
        layers.insert(1, xdl.BatchNorm())
    net = xdl.NeuralNetwork(layers)
    net.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.Adam(0.01), metrics=["accuracy"])
    return net


def weights(net):
    return [xdl.to_numpy(p.value).astype(np.float64) for p in net.parameters()]


class RanksAgree(xdl.Callback):
    """After every epoch: the largest difference between any rank's weights and rank 0's."""

    def __init__(self, comm):
        self.comm, self.differences = comm, []

    def on_epoch_end(self, epoch, logs=None):
        every = self.comm.allgather(weights(self.model))
        self.differences.append(max(float(np.max(np.abs(a - b))) for other in every
                                    for a, b in zip(every[0], other)))


class FailAt(xdl.Callback):
    """Make this rank's step raise (in ``train_step``) at ``step`` of epoch ``epoch``."""

    def __init__(self, epoch, step):
        self.epoch, self.step = epoch, step

    def on_epoch_begin(self, epoch, logs=None):
        if epoch != self.epoch:
            return
        original, calls = self.model.train_step, [0]

        def failing(batch):
            calls[0] += 1
            if calls[0] == self.step:
                raise RuntimeError("injected failure in the middle of an epoch")
            return original(batch)

        self.model.train_step = failing


def main(mode, backend, out):
    xdl.set_backend(backend, fallback=False)
    strategy = xdl.DataParallel()
    xdl.seed(SEED + strategy.rank)  # different weights on each rank until fit broadcasts rank 0's
    net, (X, y) = model(batchnorm=mode == "batchnorm", graph=mode == "graph"), data()
    agree = RanksAgree(strategy.comm)
    callbacks = [agree] + ([FailAt(1, 2)] if mode == "fail" and strategy.rank == 1 else [])
    history = net.fit(X, y, epochs=EPOCHS, batch_size=BATCH, verbose=2, seed=SEED, callbacks=callbacks,
                      distributed=strategy)
    if strategy.rank == 0:
        np.savez(os.path.join(out, "result.npz"), *weights(net))
        with open(os.path.join(out, "result.json"), "w") as f:
            json.dump({"size": strategy.size, "differences": agree.differences,
                       "history": history.history}, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
