"""``xdl.config`` (Keras 3's ``keras.config``) and ``xdl.backend`` (Keras's ``keras.backend``):
the global settings a Keras program reads or sets, on xdl's own."""

from __future__ import annotations

from ..core import symbolic
from ..core.backend import floatx, get_backend, set_floatx
from ..core.checks import number
from ..errors import ArgumentError

_epsilon = 1e-7

__all__ = ["floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format", "set_image_data_format",
           "backend", "clear_session"]


def epsilon() -> float:
    """Keras's fuzz factor (1e-7), for users' own numerics; xdl's layers keep their own."""
    return _epsilon


def set_epsilon(value) -> None:
    global _epsilon
    _epsilon = number("set_epsilon", "value", value, low_open=True)


def image_data_format() -> str:
    """Always "channels_last": xdl's images are (N, H, W, C)."""
    return "channels_last"


def set_image_data_format(data_format) -> None:
    if data_format != "channels_last":
        raise ArgumentError(f"set_image_data_format: xdl's layers take channels last, got {data_format!r}")


def backend() -> str:
    """The active backend's name ("numpy", "torch", "cupy", "array_api_strict")."""
    return get_backend().name


def clear_session() -> None:
    """Keras's: start layer names afresh ("dense", "dense_1"... again); xdl keeps no graph."""
    symbolic.reset_names()
