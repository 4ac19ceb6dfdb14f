"""Strict, bounded JSON for the metadata of model files: a hostile file cannot make parsing
cost memory, recursion, NaN or silently repeated keys."""

from __future__ import annotations

import json
import math
import re

import numpy

from .spec import MAX_DEPTH, short


# Bounds on the JSON metadata, checked before it is parsed: a 10,000-layer architecture is
# a few MB and a few dozen levels deep; anything beyond is refused before it costs memory
# (parsed JSON takes many times its text) or recursion (every later check walks it).
MAX_JSON_CHARS = {"model": 4 * 2**20, "training": 2**20}
MAX_JSON_DEPTH = 4 * MAX_DEPTH + 16  # a nested model adds 3 levels: {"config": {"layers": [{...
MAX_JSON_INT = 2**64  # counters and seeds; sizes are bounded far lower by their checks
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')


class _NotJSON(ValueError):
    pass


def _no_constant(name):
    raise _NotJSON(f"{name} is not a JSON number")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise _NotJSON(f"{short(text)} overflows a float")
    return value


def _bounded_int(text):
    if len(text) > 21 or abs(int(text)) > MAX_JSON_INT:
        raise _NotJSON(f"the integer {short(text, 40)} is larger than 2**64")
    return int(text)


def _unique_keys(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise _NotJSON(f"the key {short(k)} appears twice in one object")
        seen[k] = v
    return seen


def _depth(text) -> int:
    """How deeply ``text``'s arrays and objects nest (brackets inside strings left out)."""
    raw = numpy.frombuffer(_STRINGS.sub('""', text).encode("utf-8", "surrogatepass"), dtype=numpy.uint8)
    steps = (numpy.isin(raw, (ord("["), ord("{"))).astype(numpy.int64)
             - numpy.isin(raw, (ord("]"), ord("}"))).astype(numpy.int64))
    return int(numpy.cumsum(steps).max(initial=0))


def parse_json(text, key, fail):
    """``text`` (metadata entry ``key``) as strict JSON within the bounds above: no NaN or
    Infinity, no float overflowing to inf, no integer beyond 2**64, no key twice in an object;
    ``fail(message)`` (which raises) otherwise."""
    if not isinstance(text, str):
        fail(f"is not text: {short(text)}")
    limit = MAX_JSON_CHARS.get(key, 2**20)
    if len(text) > limit:
        fail(f"is {len(text):,} characters, more than the {limit:,} an xdl file writes")
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int,
                           object_pairs_hook=_unique_keys)
    except _NotJSON as e:
        fail(f"not JSON: {e}")
    except RecursionError:
        fail(f"nests more than {MAX_JSON_DEPTH} levels deep (beyond the JSON parser's limit)")
    except ValueError as e:
        fail(f"not JSON: {type(e).__name__}: {short(str(e))}")
    depth = _depth(text)  # after parsing: on valid JSON the string pattern runs in linear time
    if depth > MAX_JSON_DEPTH:
        fail(f"nests more than {MAX_JSON_DEPTH} levels deep ({depth})")
    return value
