"""Argument checks shared by constructors and ``fit``: fail early, naming the argument, quoting
the value and saying what is allowed. NumPy's scalars count as the Python numbers they hold
(``batch_size=np.int64(4)`` is 4); bools are not numbers here (``units=True`` is refused)."""

from __future__ import annotations

import math
import os
import numbers
import sys

from ..errors import ArgumentError, ArgumentTypeError

#: the largest size a layer or a batch may have: what 32-bit indices reach, far beyond memory
MAX_SIZE = 2**31 - 1


def short(value, limit=100) -> str:
    """``repr(value)`` cut to ``limit`` characters: a hostile file's value may be megabytes."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def as_int(value):
    """``value`` as a Python int if it is an integer (NumPy's included, bools not), else None."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and type(value).__name__ != "bool_":
        return int(value)
    return None


def _refuse(owner, name, value, allowed, kind_ok):
    cls = ArgumentError if kind_ok else ArgumentTypeError
    return cls(f"{owner}: {name} must be {allowed}, got {short(value)}")


def int_at_least(owner, name, value, minimum, maximum=None, optional=False):
    """``value`` as an int in [minimum, maximum] (or None when ``optional``)."""
    if value is None and optional:
        return None
    n = as_int(value)
    if n is None or n < minimum or (maximum is not None and n > maximum):
        allowed = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        allowed += f" <= {maximum}" if n is not None and maximum is not None and n > maximum else ""
        raise _refuse(owner, name, value, allowed + (" or None" if optional else ""), n is not None)
    return n


def positive_int(owner, name, value, optional=False):
    """``value`` as an int in [1, MAX_SIZE] (or None when ``optional``): a size or a count."""
    return int_at_least(owner, name, value, 1, MAX_SIZE, optional)


def boolean(owner, name, value, optional=False):
    """``value`` if it is a bool (NumPy's too; or None when ``optional``): "yes" or 1 is refused,
    not read as True."""
    if (value is None and optional) or isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_":
        return bool(value)
    raise ArgumentTypeError(f"{owner}: {name} must be True or False{' or None' if optional else ''}, "
                            f"got {short(value)}")


def one_of(owner, name, value, allowed):
    """``value`` if it equals one of ``allowed`` (compared by value and type: 1 is not True)."""
    for choice in allowed:
        if type(choice) is type(value) and choice == value:
            return value
        n = as_int(value)
        if isinstance(choice, int) and not isinstance(choice, bool) and n is not None and n == choice:
            return n
    kind_ok = any(isinstance(value, type(choice)) for choice in allowed)
    raise _refuse(owner, name, value, f"one of {', '.join(map(repr, allowed))}", kind_ok)


def number(owner, name, value, low=0.0, high=math.inf, low_open=False, high_open=False) -> float:
    """``value`` as a float, checked against [low, high] (each end open on request); never
    NaN or infinite (an unbounded end still means a finite value), and an int must fit a float."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"
    ok = real and -sys.float_info.max <= value <= sys.float_info.max  # False for NaN and inf
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        if low == -math.inf and high == math.inf:
            kind = "a finite number"
        elif high_open:
            kind = f"a number in {'(' if low_open else '['}{low:g}, {high:g})"
        else:
            kind = "a positive number" if low_open and low == 0 else f"a number {'>' if low_open else '>='} {low:g}"
            kind += f" and <= {high:g}" if high < math.inf else ""
        finite = not real or -sys.float_info.max <= value <= sys.float_info.max
        raise _refuse(owner, name, value, kind + ("" if finite else " (finite)"), real)
    return float(value)



def text(owner, name, value, optional=False):
    """``value`` if it is a non-empty str (or None when ``optional``)."""
    if (value is None and optional) or (isinstance(value, str) and value):
        return value
    raise _refuse(owner, name, value, "a non-empty str" + (" or None" if optional else ""), isinstance(value, str))


def file_path(owner, name, value) -> str:
    """``value`` as a str path: a str or an ``os.PathLike`` (``pathlib.Path``); an empty one is
    left to the file functions, which name what is wrong with each path."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
        value = os.fsdecode(value) if isinstance(value, bytes) else value
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{owner}: {name} must be a file path (a str or pathlib.Path), got {short(value)}")
    return value


# -- Keras's keywords beside xdl's ------------------------------------------------------------------
def either(owner, name, value, default, old, old_value, check=None):
    """One argument under two names: Keras's ``name`` (``value``, which defaults to ``default``)
    and xdl's ``old`` (``old_value``; None when not given), e.g. ``strides`` and ``stride``.
    Both given and different is refused. ``check(key, value)``, when given, checks and converts
    a value that is not None, its errors naming the key the caller used."""
    key = name
    if value is None and old_value is None:
        return default  # given as None (a config's null): Keras's default
    if old_value is not None:
        if value is not None and not _same(value, default) and not _same(value, old_value):
            raise ArgumentError(f"{owner}: {name}={short(value)} and {old}={short(old_value)} disagree; "
                                "give one of them")
        value, key = old_value, old
    return value if check is None else check(key, value)


def _same(a, b) -> bool:
    try:
        return bool(a == b) or (isinstance(a, (tuple, list)) and isinstance(b, (int, tuple, list))
                                and tuple(a) == (tuple(b) if isinstance(b, (tuple, list)) else (b,) * len(a)))
    except Exception:  # noqa: BLE001 (a hostile value's __eq__): not the same
        return False


def channels_last(owner, data_format) -> None:
    """Keras's ``data_format``: xdl's images and sequences are channels-last."""
    if data_format is None or (isinstance(data_format, str) and data_format == "channels_last"):
        return
    if isinstance(data_format, str) and data_format == "channels_first":
        raise ArgumentError(f"{owner}: data_format='channels_first' is not supported: xdl's layers take channels "
                            "last, (N, H, W, C); move the axis first, e.g. x.transpose(0, 2, 3, 1)")
    raise ArgumentError(f"{owner}: data_format must be 'channels_last' or None, got {short(data_format)}")


def no_constraints(owner, **constraints) -> None:
    """Keras's weight constraints (``kernel_constraint=``...): only None, since xdl has none."""
    for key, value in constraints.items():
        if value is not None:
            raise ArgumentError(f"{owner}: {key} is not supported (xdl has no weight constraints), got "
                                f"{short(value)}; leave it None")
