"""Argument checks shared by constructors and ``fit``: fail early, quoting the value."""

from __future__ import annotations

import math
import sys


def short(value, limit=100) -> str:
    """``repr(value)`` cut to ``limit`` characters: a hostile file's value may be megabytes."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(owner, name, value, optional=False):
    """``value`` if it is an int >= 1 (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not _is_int(value) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {short(value)}")
    return value


def boolean(owner, name, value, optional=False):
    """``value`` if it is a bool (or None when ``optional``): "yes" or 1 is refused, not read as True."""
    if (value is None and optional) or isinstance(value, bool):
        return value
    raise ValueError(f"{owner}: {name} must be True or False{' or None' if optional else ''}, got {short(value)}")


def int_at_least(owner, name, value, minimum):
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {short(value)}")
    return value


def number(owner, name, value, low=0.0, high=math.inf, low_open=False, high_open=False) -> float:
    """``value`` as a float, checked against [low, high] (each end open on request); never
    NaN or infinite (an unbounded end still means a finite value), and an int must fit a float."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and -sys.float_info.max <= value <= sys.float_info.max  # False for NaN and inf
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
        finite = not isinstance(value, (int, float)) or -sys.float_info.max <= value <= sys.float_info.max
        raise ValueError(f"{owner}: {name} must be {kind}" + ("" if finite else " (finite)") + f", got {short(value)}")
    return float(value)
