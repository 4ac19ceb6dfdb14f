"""The adapter contract: what every backend provides beyond its array namespace.

An adapter module in this package defines:

    probe()         -> Status: usable or not, why, library versions, and a priority
                       (how fast it is here; "auto" picks the highest usable)
    create(device)  -> Backend for that device (None: the backend's default device)
    is_array(x)     -> bool: is x an array of this library (without importing it)
    to_numpy(x, copy) -> numpy.ndarray on the host (shares memory with x only if not copy)

Adding a backend means adding one such module; nothing else branches on backend names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy


@dataclass(frozen=True)
class Status:
    """Whether a backend can run here, and if not, why."""

    name: str
    usable: bool
    reason: str = ""
    versions: dict = field(default_factory=dict)
    device: str = ""
    priority: int = 0


class DeviceError(ValueError):
    """An array of the backend's own library sits on another device than the backend's."""


class Backend:
    """An array namespace bound to one device, plus what the standard lacks.

    Attributes: ``name`` (e.g. "cupy"), ``xp`` (the array API namespace), ``device``.
    """

    def __init__(self, name, xp, device, adapter):
        self.name = name
        self.xp = xp
        self.device = device
        self._adapter = adapter

    def __repr__(self):
        return f"Backend({self.name!r}, device={self.device!r})"

    def owns(self, x) -> bool:
        """True when ``x`` is already an array of this backend."""
        return self._adapter.is_array(x)

    def asarray(self, x, dtype=None):
        """``x`` (list, scalar, NumPy or any library's array) as an array of this backend.

        Arrays of this library must already be on this backend's device (``DeviceError``
        otherwise: moving them is the caller's decision). Other DLPack-capable arrays are
        taken without a copy where the libraries can share memory on this device; the rest
        pass through the host.
        """
        xp = self.xp
        if not self.owns(x) and hasattr(x, "__dlpack__"):
            x = self._from_dlpack(x)
        if self.owns(x):
            if not xp.isdtype(x.dtype, ("bool", "integral", "real floating")):
                raise TypeError(f"expected numeric data, got dtype {x.dtype}")
            if not self.same_device(x):
                raise DeviceError(f"array on device {x.device}, expected {self.device}")
            if dtype is not None and x.dtype != dtype:
                x = xp.astype(x, dtype)
            return x
        host = _host_array(x)
        if host.dtype.kind not in "biuf":
            raise TypeError(f"expected numeric data, got dtype {host.dtype}")
        return xp.asarray(host, dtype=dtype, device=self.device)

    def same_device(self, x) -> bool:
        return True

    def _from_dlpack(self, x):
        """``x`` shared as this library's array on this device, or ``x`` itself if it cannot be."""
        try:
            shared = self.xp.from_dlpack(x)
        except (BufferError, RuntimeError, TypeError, ValueError, AttributeError, NotImplementedError):
            return x
        return shared if self.same_device(shared) else x

    def to_numpy(self, x, copy=False):
        """A host (NumPy) array of ``x``; ``copy=True`` never shares memory with ``x``."""
        return self._adapter.to_numpy(x, copy)

    def synchronize(self):
        """Wait until queued device work is done (for timing); a no-op on the CPU."""

    # -- fast paths: portable defaults here, faster forms in the adapters --------------------
    def sum_rows(self, x):
        """Sum of a 2-D array over its first axis (N, M) -> (M,): bias gradients."""
        return self.xp.sum(x, axis=0)

    def random_uniform(self, seed: int):
        """A generator of uniform [0, 1) arrays on this device: ``draw(shape, dtype)``.

        This default draws on the host and copies over; adapters with a device generator
        override it, so that e.g. dropout masks cost no host-to-device transfer.
        """
        rng = numpy.random.default_rng(seed)
        return lambda shape, dtype: self.xp.asarray(rng.random(shape), dtype=dtype, device=self.device)

    def communicator(self, comm):
        """Collectives on this backend's arrays across the processes of ``comm`` (an mpi4py
        communicator): ``allreduce_sum(flat)`` and ``broadcast(flat, root)``.

        This default stages through host memory over MPI, so it works for every backend;
        an adapter with a device transport (NCCL between GPUs) overrides it.
        """
        from ._mpi import HostStagedMPI

        return HostStagedMPI(self, comm)

    def dtype(self, name: str):
        """The namespace's dtype object for a name such as "float32"."""
        return getattr(self.xp, name)

    def index_add(self, indices, values, size):
        """Rows of ``values`` summed by index: ``out[indices[k]] += values[k]``, repeats accumulating.

        ``indices`` (M,) integers in [0, size), ``values`` (M, D) -> (size, D). The portable
        route is a one-hot product (M x size memory); adapters override it with a scatter-add.
        """
        xp = self.xp
        classes = xp.arange(size, dtype=indices.dtype, device=self.device)
        one_hot = xp.astype(xp.reshape(indices, (-1, 1)) == classes, values.dtype)
        return one_hot.T @ values


def _host_array(x):
    """Any array-like as a NumPy array, converting other backends' arrays on the host."""
    if isinstance(x, numpy.ndarray):
        return x
    from . import to_numpy

    try:
        return to_numpy(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"cannot convert {type(x).__name__} to an array: {e}") from None
