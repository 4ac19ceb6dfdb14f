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

    def im2col(self, x, out, kernel, stride, dilation) -> bool:
        """Copy the windows of ``x`` (N, Hp, Wp, C) into ``out[..., :kh * kw * C]`` of
        ``out`` (N, OH, OW, >= kh * kw * C), in (kh, kw, C) order, in one strided copy.

        Returns False where this backend cannot (the standard has no strided views): the
        caller then copies one slice per kernel offset. Adapters with ``as_strided`` override it.
        """
        return False

    # -- fused kernels: one pass where the portable form makes several. ``fused`` names the
    # ones an adapter has; layers use the portable form for the others. ------------------
    fused = frozenset()

    def max_pool(self, x, kernel, stride, out_hw):
        """``"max_pool"``: max pooling of ``x`` (N, Hp, Wp, C), padding already in place.
        Returns ``(y, first)``: the window maxima (N, OH, OW, C) and, for each, the row-major
        offset of the first maximum in its window (``kh * kw`` where the maximum is NaN)."""
        raise NotImplementedError(f"{self.name} has no fused max_pool")

    def max_pool_backward(self, dy, first, kernel, stride, padded_hw, disjoint, covers):
        """The gradient for the (N, Hp, Wp, C) input of ``max_pool``, from its ``first``.
        ``disjoint``: no two windows share an element; ``covers``: they also hold them all."""
        raise NotImplementedError(f"{self.name} has no fused max_pool")

    def relu(self, x):
        """``"relu"``: ``x * (x > 0)`` in one pass."""
        raise NotImplementedError(f"{self.name} has no fused relu")

    def relu_backward(self, dy, x):
        """``dy * (x > 0)`` in one pass, for inputs ``relu`` took."""
        raise NotImplementedError(f"{self.name} has no fused relu")

    def col2im(self, dcols, kernel, stride, dilation, padded_hw):
        """``"col2im"``: the adjoint of im2col. ``dcols`` (N, OH, OW, kh * kw * C) in the
        kernel's (kh, kw, C) order, summed into a new (N, Hp, Wp, C) array."""
        raise NotImplementedError(f"{self.name} has no fused col2im")

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


#: the strided copy reads runs of kw * C contiguous elements: shorter runs copy slower than
#: the per-offset slices (measured on NumPy: C=1, 3x3 takes 2.7x as long; C=32 takes 0.4x)
MIN_WINDOW_RUN = 32


def window_strides(x_shape, out_shape, kernel, stride, dilation):
    """Element strides of two (N, OH, OW, kh, kw * C) views, for ``im2col`` as one copy: the
    windows of a C-contiguous (N, Hp, Wp, C) input (row i of window (oh, ow) is the kw * C
    contiguous elements from (oh * sh + i * dh, ow * sw)), and the first kh * kw * C columns
    of a C-contiguous (N, OH, OW, K) output. None where the windows are no strided view
    (dilated columns) or their runs are too short to pay."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    _, hp, wp, c = x_shape
    _, oh, ow, k = out_shape
    if (dw != 1 and kw > 1) or kw * c < MIN_WINDOW_RUN:
        return None
    return ((hp * wp * c, sh * wp * c, sw * c, dh * wp * c, 1),
            (oh * ow * k, ow * k, k, kw * c, 1))


def numpy_like_im2col(lib, x, out, kernel, stride, dilation):
    """``Backend.im2col`` for libraries with NumPy's ``as_strided`` and ``copyto`` (NumPy, CuPy)."""
    strides = window_strides(x.shape, out.shape, kernel, stride, dilation)
    if strides is None or not out.flags.c_contiguous:
        return False
    x = lib.ascontiguousarray(x)
    shape = tuple(out.shape[:3]) + (kernel[0], kernel[1] * x.shape[3])
    view = lib.lib.stride_tricks.as_strided
    lib.copyto(view(out, shape, tuple(s * out.itemsize for s in strides[1])),
               view(x, shape, tuple(s * x.itemsize for s in strides[0])))
    return True
