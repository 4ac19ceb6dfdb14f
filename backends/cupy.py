"""CuPy on a CUDA device, through array-api-compat."""

from __future__ import annotations

import importlib.util
import sys

from ..errors import BackendError
from ._base import Backend, Status, numpy_like_im2col

PRIORITY = 40

INSTALL_HINT = 'pip install "xdl[cupy]", which brings cupy-cuda12x; use cupy-cuda13x for CUDA 13'


def probe() -> Status:
    if importlib.util.find_spec("cupy") is None:
        return Status("cupy", False, f"cupy is not installed; {INSTALL_HINT}")
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA libraries missing, no driver, ...
        return Status("cupy", False, f"cupy is installed but no CUDA device is usable ({type(e).__name__}: {e})")
    versions = {"cupy": cupy.__version__, "cuda-runtime": str(cupy.cuda.runtime.runtimeGetVersion())}
    if count == 0:
        return Status("cupy", False, "cupy is installed but no CUDA device was found", versions)
    return Status("cupy", True, versions=versions, device="cuda:0", priority=PRIORITY)


class CupyBackend(Backend):
    def same_device(self, x) -> bool:
        return x.device == self.device

    def synchronize(self):
        self.device.synchronize()

    def index_add(self, indices, values, size):  # mirrors numpy's add.at
        import cupy
        import cupyx

        with self.device:
            out = cupy.zeros((size,) + tuple(values.shape[1:]), dtype=values.dtype)
            cupyx.scatter_add(out, indices, values)
        return out

    def im2col(self, x, out, kernel, stride, dilation):  # one kernel, not one per offset
        import cupy

        with self.device:
            if numpy_like_im2col(cupy, x, out, kernel, stride, dilation):
                return out
        return super().im2col(x, out, kernel, stride, dilation)

    def random_uniform(self, seed):
        import cupy

        with self.device:
            rng = cupy.random.default_rng(seed)

        def draw(shape, dtype):
            with self.device:
                return rng.random(shape, dtype=dtype)

        return draw


def create(device=None) -> Backend:
    import array_api_compat.cupy as xp
    import cupy

    if isinstance(device, str):  # "cuda", "cuda:1" or "1"
        device = int(device.rpartition(":")[2]) if device[-1].isdigit() else 0
    device = cupy.cuda.Device(device or 0)
    try:
        _ = device.compute_capability  # fails here, not later, on a bad ordinal
    except Exception as e:
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception:  # no driver at all
            count = 0
        available = ", ".join(f"cuda:{i}" for i in range(count)) or "none"
        raise BackendError(f"no CUDA device {device.id} ({type(e).__name__}: {e}); available: {available}") from None
    return CupyBackend("cupy", xp, device, sys.modules[__name__])


def is_array(x) -> bool:
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def to_numpy(x, copy=False):
    return x.get()  # always a fresh host copy
