"""Argument checks shared by constructors and ``fit``: fail early, quoting the value."""

from __future__ import annotations

import math


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(owner, name, value, optional=False):
    """``value`` if it is an int >= 1 (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not _is_int(value) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return value


def int_at_least(owner, name, value, minimum):
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return value


def number(owner, name, value, low=0.0, high=math.inf, low_open=False, high_open=False) -> float:
    """``value`` as a float, checked against [low, high] (each end open on request)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        if high_open:
            kind = f"a number in {'(' if low_open else '['}{low:g}, {high:g})"
        else:
            kind = "a positive number" if low_open and low == 0 else f"a number {'>' if low_open else '>='} {low:g}"
            kind += f" and <= {high:g}" if high < math.inf else ""
        raise ValueError(f"{owner}: {name} must be {kind}, got {value!r}")
    return float(value)
