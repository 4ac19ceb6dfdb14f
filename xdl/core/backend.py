"""The one seam between xdl and array libraries: which backend is active, and its dtype.

Everything in xdl gets its namespace from the ``Backend`` returned here (``be.xp``).
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
import warnings

from array_api_compat import array_namespace

from .. import backends  # the adapters (the repository's backends/ folder)
from ..errors import ArgumentError, ArgumentTypeError, BackendError, InputError
from .checks import one_of, short
from ..text.strings import host_strings, is_string_dtype

_active = None
_cache = {}
_warned = set()
_floatx = "float32"
FLOAT_DTYPES = ("float32", "float64")


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _create(name, device, fallback):
    if isinstance(name, backends.Backend):
        return name
    if not isinstance(name, str):
        raise ArgumentTypeError(f"a backend is a name such as 'numpy' or 'torch', got {short(name)}")
    name = name.strip().lower()
    if name != "auto" and name not in backends.names():
        raise ArgumentError(_unknown(name))
    if name == "auto":
        usable = [s for s in map(backends.probe, backends.names()) if s.usable]
        name = max(usable, key=lambda s: s.priority).name
    status = backends.probe(name)  # ValueError listing valid names for an unknown one
    if not status.usable:
        if fallback is None:
            fallback = not _truthy(os.environ.get("XDL_STRICT_BACKEND", ""))
        if not fallback:
            raise BackendError(f"backend {name!r} cannot run here: {status.reason}")
        if (name, status.reason) not in _warned:
            _warned.add((name, status.reason))
            warnings.warn(
                f"xdl: backend {name!r} cannot run here ({status.reason}); using numpy instead. "
                "Pass fallback=False or set XDL_STRICT_BACKEND=1 to make this an error.",
                RuntimeWarning,
                stacklevel=4,
            )
        name, device = "numpy", None
    key = (name, None if device is None else str(device))
    if key not in _cache:
        try:
            _cache[key] = backends.create(name, device)
        except Exception as e:
            raise BackendError(f"backend {name!r} cannot use device {device!r}: {e}") from None
    return _cache[key]


# Names people try that are devices or libraries, not backends: what to pass instead.
_SUGGEST = {
    "cuda": "for a CUDA GPU use \"cupy\", or \"torch\" with device=\"cuda\"",
    "gpu": "for a CUDA GPU use \"cupy\", or \"torch\" with device=\"cuda\"; \"auto\" picks the fastest usable",
    "mps": "for an Apple GPU use \"torch\" with device=\"mps\"",
    "cpu": "on the CPU use \"numpy\", or \"torch\" with device=\"cpu\"",
    "pytorch": "PyTorch is \"torch\"",
}


def _unknown(name) -> str:
    """The message for a name that is no backend: the valid names, and what was probably meant."""
    valid = ", ".join((*backends.names(), "auto"))
    message = f"unknown backend {name!r}; valid names: {valid}"
    hint = _SUGGEST.get(name.partition(":")[0])
    if hint is None:
        close = difflib.get_close_matches(name, (*backends.names(), "auto"), n=1)
        hint = f"did you mean {close[0]!r}?" if close else None
    return f"{message} ({hint})" if hint else message


def set_backend(name="numpy", device=None, *, fallback=None):
    """Make ``name`` the active backend and return it.

    ``name``: "numpy", "cupy", "torch", "array_api_strict" or "auto" (the fastest usable).
    ``device``: e.g. "cuda:1" for cupy/torch; None picks the backend's default.
    ``fallback``: when the backend cannot run here, warn once and use numpy (True, the
    default unless XDL_STRICT_BACKEND=1), or raise ``BackendError`` (False).
    """
    global _active
    try:
        _active = _create(name, device, fallback)
    except (BackendError, ValueError) as e:
        raise e.with_traceback(None) from None
    return _active


def backend_named(name, device=None):
    """The adapter ``set_backend(name, device)`` would make active, without activating it."""
    return _create(name, device, None)


def get_backend():
    """The active backend: ``.name``, ``.xp`` (array namespace) and ``.device``.

    Until ``set_backend`` is called it comes from XDL_BACKEND (default "numpy").
    """
    if _active is None:
        chosen = os.environ.get("XDL_BACKEND") or "numpy"
        try:
            set_backend(chosen)
        except (BackendError, ValueError) as e:  # name the variable: the script never said "gpu"
            raise type(e)(f"XDL_BACKEND={chosen!r} (environment variable): {e}").with_traceback(None) from None
    return _active


@contextlib.contextmanager
def use_backend(name, device=None, *, fallback=None):
    """``with xdl.use_backend("cupy"):`` runs the block on that backend, then restores."""
    global _active
    previous = _active
    be = set_backend(name, device, fallback=fallback)
    try:
        yield be
    finally:
        _active = previous


def available_backends():
    """A ``Status`` for every known backend: usable or not, why, versions, device."""
    return [backends.probe(name) for name in backends.names()]


def floatx() -> str:
    """The default float dtype name for parameters and inputs ("float32")."""
    return _floatx


def set_floatx(name: str) -> None:
    global _floatx
    _floatx = one_of("set_floatx", "the float dtype (floatx)", name, FLOAT_DTYPES)


@contextlib.contextmanager
def use_floatx(name: str):
    """``with xdl.use_floatx("float64"):`` builds layers in float64 (gradient checks)."""
    previous = _floatx
    set_floatx(name)
    try:
        yield
    finally:
        set_floatx(previous)


_namespaces = {}


def namespace_of(x):
    """The array API namespace of the array ``x`` (array-api-compat's ``array_namespace``),
    remembered per array type: the lookup costs microseconds, and a training step asks for
    it in the loss and the optimizer."""
    xp = _namespaces.get(type(x))
    if xp is None:
        xp = _namespaces[type(x)] = array_namespace(x)
    return xp


def backend_of(x):
    """The backend holding the array ``x``, on its device; None for host data (lists, scalars)."""
    for be in (get_backend(), *_cache.values()):  # the active one, then any made before
        if be.owns(x) and be.same_device(x):
            return be
    for name in backends.names():
        if backends.adapter(name).is_array(x):
            return _create(name, getattr(x, "device", None), fallback=False)
    return None


def to_numpy(x):
    """A host (NumPy) copy of any backend's array."""
    return backends.to_numpy(x, copy=True)


def clip(xp, x, low, high):
    """``x`` limited to [low, high] for Python-number bounds, through ``where``: the namespace's
    ``clip`` copies scalar bounds to the device and, on CuPy, indexes with a mask, which waits
    for the GPU."""
    return xp.where(x < low, low, xp.where(x > high, high, x))


def convert(be, x, dtype=None, where=""):
    """``be.asarray(x, dtype)``, with errors that name ``where`` the data was going (a layer
    or an argument), what came and what was expected. ``dtype`` "string": text, kept on the
    host (xdl/text/strings.py)."""
    if is_string_dtype(dtype):
        return host_strings(x, where)
    if hasattr(x, "mask") and callable(getattr(x, "filled", None)):  # numpy.ma: the mask would be dropped
        raise InputError(f"{where}: got a masked array ({type(x).__name__}); xdl would ignore its mask. "
                         "Fill the masked values first (x.filled(value)) or drop those rows")
    try:
        return be.asarray(x, dtype=dtype)
    except backends.DeviceError as e:
        raise BackendError(f"{where}: {e} on {be.name}; move the data to that device first") from None
    except TypeError as e:
        raise ArgumentTypeError(f"{where}: {e}") from None
    except NotImplementedError as e:  # torch's 'meta' tensors: shapes without data
        device = getattr(x, "device", None)
        raise BackendError(f"{where}: cannot read the data of a {type(x).__name__} on device {device} ({e}); "
                           f"create it on a device {be.name} can read (cpu)") from None


def host_floats(backend, values) -> list:
    """Numbers and device arrays of any shape as host floats, flattened in order; the arrays
    cross in one transfer (as float64: every float and integer as it is). ``backend``: the
    arrays' (None: found from them)."""
    device = [v for v in values if not isinstance(v, (int, float))]
    moved = iter(())
    if device:
        backend = backend or backend_of(device[0])
        xp = backend.xp
        flat = xp.concat([xp.reshape(xp.astype(v, xp.float64), (-1,)) for v in device])
        moved = iter(backend.to_numpy(flat).tolist())
    out = []
    for v in values:
        if isinstance(v, (int, float)):
            out.append(float(v))
        else:
            out.extend(next(moved) for _ in range(math.prod(v.shape)))
    return out
