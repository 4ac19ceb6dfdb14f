"""Forward + backward of the newer convolution layers against PyTorch's own functions:
``python -m benchmarks.conv_family [--backend numpy|torch] [--quick] [--repeats N]``.

Each row times one training-style pass (forward, then backward of a fixed gradient) of an
xdl layer and of the PyTorch call it matches (channels-first, autograd), in the same
process, interleaved, and prints medians in milliseconds. float32, CPU or the backend's device.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import xdl

FULL = {"batch": 32, "hw": 32, "length": 256, "channels": 32}
QUICK = {"batch": 2, "hw": 8, "length": 16, "channels": 4}


def cases(size):
    n, hw, length, c = size["batch"], size["hw"], size["length"], size["channels"]
    import torch.nn.functional as F

    def conv1d(t, layer):
        w = torch_param(layer.weights).permute(2, 1, 0)
        return F.conv1d(t, w, torch_param(layer.bias), padding=1)

    def transpose(t, layer):
        w = torch_param(layer.weights).permute(3, 2, 0, 1)
        return F.conv_transpose2d(t, w, torch_param(layer.bias), stride=2, padding=1, output_padding=1)

    def depthwise(t, layer):
        d = torch_param(layer.depthwise_kernel.value)
        return F.conv2d(t, d.permute(2, 3, 0, 1).reshape(c, 1, 3, 3), torch_param(layer.b.value), padding=1,
                        groups=c)

    def bilinear(t, layer):
        return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

    # name: (xdl layer factory, input shape (channels last), the PyTorch call on channels-first data)
    return {
        "Conv1D k3 same": (lambda: xdl.Conv1D(c, 3, padding="same"), (n, length, c), conv1d),
        "Conv2DTranspose k3 s2 same": (lambda: xdl.Conv2DTranspose(c, 3, stride=2, padding="same"),
                                       (n, hw, hw, c), transpose),
        "DepthwiseConv2D k3 same": (lambda: xdl.DepthwiseConv2D(3, padding="same"), (n, hw, hw, c), depthwise),
        "UpSampling2D bilinear x2": (lambda: xdl.UpSampling2D(interpolation="bilinear"), (n, hw, hw, c), bilinear),
    }


def torch_param(value):
    import torch

    return torch.tensor(xdl.to_numpy(value), requires_grad=True)


def median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(argv=None):
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    rng = np.random.default_rng(0)
    print(f"{'layer':32} {'xdl ms':>9} {'torch ms':>9}   (backend {args.backend}, median of {repeats})")
    with xdl.use_backend(args.backend):
        for name, (make, shape, reference) in cases(QUICK if args.quick else FULL).items():
            be = xdl.get_backend()
            x = be.asarray(rng.standard_normal(shape), dtype=be.xp.float32)
            layer = make()
            y = layer.forward(x, training=True)
            dy = be.asarray(rng.standard_normal(tuple(y.shape)), dtype=be.xp.float32)

            def ours():
                layer.forward(x, training=True)
                layer.backward(dy)
                be.synchronize()

            perm = (0, 2, 1) if len(shape) == 3 else (0, 3, 1, 2)
            t = torch.tensor(xdl.to_numpy(x)).permute(*perm).contiguous().requires_grad_(True)
            t_dy = torch.tensor(xdl.to_numpy(dy)).permute(*perm).contiguous()

            def theirs():
                reference(t, layer).backward(t_dy)

            print(f"{name:32} {median_ms(ours, repeats):9.3f} {median_ms(theirs, repeats):9.3f}")


if __name__ == "__main__":
    main()
