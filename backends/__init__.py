"""Backend adapters: one module per array library, each filling the contract in ``_base``.

This is the only place that maps backend names to modules. xdl asks it for a ``Backend``
(``create``), for a report of what can run here (``probe``), and for host copies of any
backend's arrays (``to_numpy``).
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np

from ..errors import ArgumentError
from ._base import Backend, DeviceError, Status

__all__ = ["Backend", "DeviceError", "Status", "names", "probe", "create", "to_numpy", "host_rng"]


def _discover():
    found = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    order = sorted(found, key=lambda name: (name != "numpy", name))  # the default first
    return {name: importlib.import_module(f"{__name__}.{name}") for name in order}


_ADAPTERS = _discover()


def names() -> tuple:
    """Every known backend name, whether or not it can run here."""
    return tuple(_ADAPTERS)


def adapter(name: str):
    try:
        return _ADAPTERS[name]
    except KeyError:
        valid = ", ".join(names())
        raise ArgumentError(f"unknown backend {name!r}; valid names: {valid}") from None


def probe(name: str) -> Status:
    """Can ``name`` run here? Never raises for a known name."""
    mod = adapter(name)
    try:
        return mod.probe()
    except Exception as e:  # a broken install must not break the report
        return Status(name, False, f"{type(e).__name__}: {e}")


def create(name: str, device=None) -> Backend:
    return adapter(name).create(device)


def to_numpy(x, copy: bool = False) -> np.ndarray:
    """A NumPy array holding ``x`` (any backend's array, list or scalar).

    ``copy=True`` guarantees the result shares no memory with ``x``.
    """
    for mod in _ADAPTERS.values():
        if mod.is_array(x):
            return mod.to_numpy(x, copy=copy)
    if hasattr(x, "__dlpack__") and not isinstance(x, np.generic):
        x = np.from_dlpack(x)
    return np.array(x, copy=True) if copy else np.asarray(x)


def host_rng(seed=None) -> np.random.Generator:
    """A host random generator: xdl draws initial weights and shuffles here, then transfers,
    so one seed gives the same model and data order on every backend."""
    return np.random.default_rng(seed)
