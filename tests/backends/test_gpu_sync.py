"""On a GPU, a training step queues work and returns: nothing in it waits for the device.

The test queues a kernel that spins for about a second, then runs training steps behind it.
Had any step synchronized (``float()``, ``.item()``, a host copy), the host would have waited
for the spin and the stream would be idle by the time the steps return.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import xdl

SPIN_CYCLES = 2_000_000_000  # about a second at GPU clock rates


def spin_and_query(be):
    """Queue a long kernel on the backend's stream; return a function telling whether it is done."""
    if be.name == "cupy":
        import cupy

        spin = cupy.RawKernel(r"""
        extern "C" __global__ void spin(long long cycles) {
            long long start = clock64();
            while (clock64() - start < cycles) {}
        }""", "spin")
        spin((1,), (1,), (np.int64(SPIN_CYCLES),))
        stream = cupy.cuda.get_current_stream()
        return lambda: stream.done
    if be.name == "torch" and be.device.type == "cuda":
        import torch

        torch.cuda._sleep(SPIN_CYCLES)
        stream = torch.cuda.current_stream()
        return stream.query
    pytest.skip(f"{be.name} on {be.device}: not a GPU")


def test_training_steps_do_not_wait_for_the_device(be):
    model = xdl.NeuralNetwork([xdl.Dense(input_size=64, output_size=32), xdl.ReLU(),
                               xdl.Dense(output_size=10), xdl.Sigmoid()])
    model.compile(loss=xdl.MSE(), optimizer=xdl.SGD(learning_rate=0.01))
    X = np.random.default_rng(0).standard_normal((64, 64))
    y = np.random.default_rng(1).random((64, 10))
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)  # compiles kernels, allocates pools
    x, t = be.asarray(X[:32], dtype=be.xp.float32), be.asarray(y[:32], dtype=be.xp.float32)
    be.synchronize()

    done = spin_and_query(be)
    start = time.perf_counter()
    for _ in range(20):
        model.train_step((x, t))
    model.predict(x)
    queued_in = time.perf_counter() - start
    still_busy = not done()
    be.synchronize()
    assert still_busy, f"the host waited for the device: 20 steps returned after {queued_in:.3f}s"


def test_transformer_steps_do_not_wait_for_the_device(be):
    tokens = xdl.Input(shape=(None,), dtype="int64")
    h = xdl.Embedding(32, 16)(tokens)
    h = xdl.Add()([h, xdl.PositionEmbedding(16, 16)(h)])
    h = xdl.TransformerBlock(16, num_heads=2, mlp_dim=32, dropout=0.1)(h)
    model = xdl.Model(tokens, xdl.Dense(units=32)(h))
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.Adam(1e-3))
    X = np.random.default_rng(0).integers(0, 32, size=(32, 16))
    model.fit(X, np.roll(X, -1, axis=1), epochs=1, batch_size=16, verbose=0)
    x, t = be.asarray(X[:16]), be.asarray(np.roll(X, -1, axis=1)[:16])
    be.synchronize()

    done = spin_and_query(be)
    start = time.perf_counter()
    for _ in range(10):
        model.train_step((x, t))
    queued_in = time.perf_counter() - start
    still_busy = not done()
    be.synchronize()
    assert still_busy, f"the host waited for the device: 10 Transformer steps returned after {queued_in:.3f}s"


def test_cnn_training_steps_do_not_wait_for_the_device(be):
    model = xdl.NeuralNetwork([xdl.Conv2D(output_channels=4, kernel_size=3, padding="same"), xdl.ReLU(),
                               xdl.MaxPool2D(), xdl.Conv2D(output_channels=4, kernel_size=3, stride=2),
                               xdl.AvgPool2D(3, stride=1, padding=1), xdl.GlobalAveragePooling2D(),
                               xdl.Dense(output_size=3)])
    model.compile(loss=xdl.MSE(), optimizer=xdl.SGD(learning_rate=0.01))
    X = np.random.default_rng(0).standard_normal((8, 12, 12, 2))
    y = np.random.default_rng(1).random((8, 3))
    model.fit(X, y, epochs=1, batch_size=8, verbose=0)  # builds, compiles kernels
    x, t = be.asarray(X, dtype=be.xp.float32), be.asarray(y, dtype=be.xp.float32)
    be.synchronize()
    done = spin_and_query(be)  # skips unless on a GPU
    for _ in range(5):
        model.train_step((x, t))
    still_busy = not done()
    be.synchronize()
    assert still_busy, "a CNN training step waited for the device"
