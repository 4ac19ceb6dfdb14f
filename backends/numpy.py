"""NumPy on the CPU, through array-api-compat's namespace."""

from __future__ import annotations

import sys

import numpy

from ._base import Backend, Status

PRIORITY = 10


def probe() -> Status:
    import array_api_compat

    versions = {"numpy": numpy.__version__, "array-api-compat": array_api_compat.__version__}
    return Status("numpy", True, versions=versions, device="cpu", priority=PRIORITY)


class NumpyBackend(Backend):
    def random_uniform(self, seed):
        rng = numpy.random.default_rng(seed)
        return lambda shape, dtype: rng.random(shape, dtype=dtype)  # float32 drawn as such


def create(device=None) -> Backend:
    import array_api_compat.numpy as xp

    if device not in (None, "cpu"):
        raise ValueError(f"numpy runs on 'cpu' only, not {device!r}")
    return NumpyBackend("numpy", xp, "cpu", sys.modules[__name__])


def is_array(x) -> bool:
    # reductions return NumPy scalars; strings and objects are data to convert, not arrays
    return isinstance(x, (numpy.ndarray, numpy.generic)) and x.dtype.kind in "biufc"


def to_numpy(x, copy=False):
    return numpy.array(x, copy=True) if copy else numpy.asarray(x)
