"""array-api-strict: the conformance backend. If xdl runs here, it uses only the standard."""

from __future__ import annotations

import importlib.util
import sys

import numpy

from ._base import Backend, Status

PRIORITY = 0  # a checker, never the fast choice


def probe() -> Status:
    if importlib.util.find_spec("array_api_strict") is None:
        return Status("array_api_strict", False, 'array-api-strict is not installed (pip install "xdl[test]")')
    import array_api_strict

    versions = {"array-api-strict": array_api_strict.__version__}
    return Status("array_api_strict", True, versions=versions, device="CPU_DEVICE", priority=PRIORITY)


class StrictBackend(Backend):
    def same_device(self, x) -> bool:
        return x.device == self.device


def create(device=None) -> Backend:
    import array_api_strict as xp

    device = device or "CPU_DEVICE"
    if not isinstance(device, xp.Device):
        device = xp.Device(device)
    return StrictBackend("array_api_strict", xp, device, sys.modules[__name__])


def is_array(x) -> bool:
    return type(x).__module__.startswith("array_api_strict.")


def to_numpy(x, copy=False):
    host = numpy.from_dlpack(x)
    return numpy.array(host, copy=True) if copy else host
