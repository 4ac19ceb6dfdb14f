"""PyTorch through array-api-compat: on CUDA when a device is present, else on the CPU."""

from __future__ import annotations

import importlib.util
import sys

from ._base import Backend, Status, window_strides
from ._host_memory import keep_freed_memory

PRIORITY_CUDA = 30
PRIORITY_CPU = 5  # eager torch on the CPU pays more per call than NumPy


def probe() -> Status:
    if importlib.util.find_spec("torch") is None:
        return Status("torch", False, 'torch is not installed (pip install "xdl[torch]")')
    import array_api_compat
    import torch

    versions = {"torch": torch.__version__, "array-api-compat": array_api_compat.__version__}
    if torch.cuda.is_available():
        return Status("torch", True, versions=versions, device="cuda", priority=PRIORITY_CUDA)
    return Status("torch", True, "no CUDA device: runs on the CPU", versions, "cpu", PRIORITY_CPU)


class TorchBackend(Backend):
    def same_device(self, x) -> bool:
        return x.device == self.device

    def index_add(self, indices, values, size):
        import torch

        out = torch.zeros((size,) + tuple(values.shape[1:]), dtype=values.dtype, device=values.device)
        return out.index_add_(0, indices, values)

    def im2col(self, x, out, kernel, stride, dilation):
        strides = window_strides(x.shape, out.shape, kernel, stride, dilation)
        if strides is None or not out.is_contiguous():
            return False
        shape = tuple(out.shape[:3]) + (kernel[0], kernel[1] * x.shape[3])
        out.as_strided(shape, strides[1]).copy_(x.contiguous().as_strided(shape, strides[0]))
        return True

    def random_uniform(self, seed):
        import torch

        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed)
        return lambda shape, dtype: torch.rand(shape, generator=gen, device=self.device, dtype=dtype)

    def synchronize(self):
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)


def create(device=None) -> Backend:
    import array_api_compat.torch as xp
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise RuntimeError(f"{e}; available here: {', '.join(available_devices())}") from None
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps is not None and mps.is_available()):
        raise RuntimeError("MPS (Apple GPU) is not available here (torch.backends.mps.is_available() is False); "
                           f"available: {', '.join(available_devices())}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"torch has no CUDA device here; available: {', '.join(available_devices())}")
        device = torch.device("cuda", device.index or 0)
    elif device.type == "meta":
        raise RuntimeError("the meta device holds no data; available: " + ", ".join(available_devices()))
    try:  # fail here, naming the device, not inside fit with torch's own message
        torch.zeros(1, device=device)
    except Exception as e:
        detail = (str(e).strip().splitlines() or [""])[0].partition(". ")[0]
        raise RuntimeError(f"torch cannot allocate on {str(device)!r} here ({type(e).__name__}: {detail}); "
                           f"available: {', '.join(available_devices())}") from None
    if device.type == "cpu":
        keep_freed_memory()
    return TorchBackend("torch", xp, device, sys.modules[__name__])


def available_devices() -> list:
    """The torch devices that can hold tensors here: "cpu", then "cuda:N" and "mps" where present."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def is_array(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def to_numpy(x, copy=False):
    host = x.detach().cpu()
    if copy and host.data_ptr() == x.data_ptr():
        host = host.clone()
    return host.numpy()
