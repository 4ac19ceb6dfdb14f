"""The string hashes Keras's Hashing and StringLookup bin tokens with, so that a token lands
where Keras puts it: FarmHash's Fingerprint64 (TensorFlow's ``to_hash_bucket_fast``) and
SipHash-2-4 under a 128-bit key (``to_hash_bucket_strong``, Hashing's ``salt``). Pure Python
on 64-bit words, run once per distinct string of a batch.
"""

from __future__ import annotations

import numpy

MASK = 2**64 - 1
K0, K1, K2 = 0xC3A5C85C97CB3127, 0xB492B66FBE98F273, 0x9AE16A3B2F90404F


def _rotate(v, shift):
    return ((v >> shift) | (v << (64 - shift))) & MASK


def _fetch(s, at, size=8):
    return int.from_bytes(s[at:at + size], "little")


def _shift_mix(v):
    return v ^ (v >> 47)


def _len16(u, v, mul):
    a = ((u ^ v) * mul) & MASK
    a ^= a >> 47
    b = ((v ^ a) * mul) & MASK
    b ^= b >> 47
    return (b * mul) & MASK


def _weak32(s, at, a, b):
    w, x, y, z = (_fetch(s, at + 8 * k) for k in range(4))
    a = (a + w) & MASK
    b = _rotate((b + a + z) & MASK, 21)
    c = a
    a = (a + x + y) & MASK
    b = (b + _rotate(a, 44)) & MASK
    return (a + z) & MASK, (b + c) & MASK


def _short(s, n):
    """FarmHash's hash of 0 to 64 bytes."""
    mul = (K2 + 2 * n) & MASK
    if n > 32:
        a, b = (_fetch(s, 0) * K2) & MASK, _fetch(s, 8)
        c, d = (_fetch(s, n - 8) * mul) & MASK, (_fetch(s, n - 16) * K2) & MASK
        y = (_rotate((a + b) & MASK, 43) + _rotate(c, 30) + d) & MASK
        z = _len16(y, (a + _rotate((b + K2) & MASK, 18) + c) & MASK, mul)
        e, f = (_fetch(s, 16) * mul) & MASK, _fetch(s, 24)
        g, h = ((y + _fetch(s, n - 32)) * mul) & MASK, ((z + _fetch(s, n - 24)) * mul) & MASK
        return _len16((_rotate((e + f) & MASK, 43) + _rotate(g, 30) + h) & MASK,
                      (e + _rotate((f + a) & MASK, 18) + g) & MASK, mul)
    if n > 16:
        a, b = (_fetch(s, 0) * K1) & MASK, _fetch(s, 8)
        c, d = (_fetch(s, n - 8) * mul) & MASK, (_fetch(s, n - 16) * K2) & MASK
        return _len16((_rotate((a + b) & MASK, 43) + _rotate(c, 30) + d) & MASK,
                      (a + _rotate((b + K2) & MASK, 18) + c) & MASK, mul)
    if n >= 8:
        a, b = (_fetch(s, 0) + K2) & MASK, _fetch(s, n - 8)
        c = (_rotate(b, 37) * mul + a) & MASK
        d = ((_rotate(a, 25) + b) * mul) & MASK
        return _len16(c, d, mul)
    if n >= 4:
        return _len16((n + (_fetch(s, 0, 4) << 3)) & MASK, _fetch(s, n - 4, 4), mul)
    if n > 0:
        y = s[0] + (s[n >> 1] << 8)
        z = n + (s[n - 1] << 2)
        return (_shift_mix(((y * K2) ^ (z * K0)) & MASK) * K2) & MASK
    return K2


def fingerprint64(data: bytes) -> int:
    """FarmHash's Fingerprint64 (farmhashna's Hash64) of ``data``, as TensorFlow computes it."""
    n = len(data)
    if n <= 64:
        return _short(data, n)
    x, y = 81, (81 * K1 + 113) & MASK
    z = (_shift_mix((y * K2 + 113) & MASK) * K2) & MASK
    v, w = (0, 0), (0, 0)
    x = (x * K2 + _fetch(data, 0)) & MASK
    end, last = ((n - 1) // 64) * 64, n - 64
    for at in range(0, end, 64):
        x = (_rotate((x + y + v[0] + _fetch(data, at + 8)) & MASK, 37) * K1) & MASK
        y = (_rotate((y + v[1] + _fetch(data, at + 48)) & MASK, 42) * K1) & MASK
        x ^= w[1]
        y = (y + v[0] + _fetch(data, at + 40)) & MASK
        z = (_rotate((z + w[0]) & MASK, 33) * K1) & MASK
        v = _weak32(data, at, (v[1] * K1) & MASK, (x + w[0]) & MASK)
        w = _weak32(data, at + 32, (z + w[1]) & MASK, (y + _fetch(data, at + 16)) & MASK)
        z, x = x, z
    mul = (K1 + ((z & 0xFF) << 1)) & MASK
    w = ((w[0] + ((n - 1) & 63)) & MASK, w[1])
    v = ((v[0] + w[0]) & MASK, v[1])
    w = ((w[0] + v[0]) & MASK, w[1])
    x = (_rotate((x + y + v[0] + _fetch(data, last + 8)) & MASK, 37) * mul) & MASK
    y = (_rotate((y + v[1] + _fetch(data, last + 48)) & MASK, 42) * mul) & MASK
    x ^= (w[1] * 9) & MASK
    y = (y + v[0] * 9 + _fetch(data, last + 40)) & MASK
    z = (_rotate((z + w[0]) & MASK, 33) * mul) & MASK
    v = _weak32(data, last, (v[1] * mul) & MASK, (x + w[0]) & MASK)
    w = _weak32(data, last + 32, (z + w[1]) & MASK, (y + _fetch(data, last + 16)) & MASK)
    z, x = x, z
    return _len16((_len16(v[0], w[0], mul) + _shift_mix(y) * K0 + z) & MASK,
                  (_len16(v[1], w[1], mul) + x) & MASK, mul)


def _sip_round(v0, v1, v2, v3):
    v0 = (v0 + v1) & MASK
    v1 = _rotate(v1, 64 - 13) ^ v0
    v0 = _rotate(v0, 32)
    v2 = (v2 + v3) & MASK
    v3 = _rotate(v3, 64 - 16) ^ v2
    v0 = (v0 + v3) & MASK
    v3 = _rotate(v3, 64 - 21) ^ v0
    v2 = (v2 + v1) & MASK
    v1 = _rotate(v1, 64 - 17) ^ v2
    v2 = _rotate(v2, 32)
    return v0, v1, v2, v3


def siphash24(key, data: bytes) -> int:
    """SipHash-2-4 of ``data`` under the 128-bit ``key`` (two 64-bit words)."""
    k0, k1 = key
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    n = len(data)
    tail = data[n - n % 8:] + bytes(7 - n % 8) + bytes([n & 0xFF])
    for m in [_fetch(data, at) for at in range(0, n - n % 8, 8)] + [int.from_bytes(tail, "little")]:
        v[3] ^= m
        v = list(_sip_round(*_sip_round(*v)))
        v[0] ^= m
    v[2] ^= 0xFF
    for _ in range(4):
        v = list(_sip_round(*v))
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def hash_buckets(strings, bins, key=None) -> numpy.ndarray:
    """Each string's bucket in ``[0, bins)``: Fingerprint64, or SipHash-2-4 under ``key``, of
    its UTF-8 bytes, modulo ``bins``; every distinct string hashed once."""
    distinct, where = numpy.unique(strings.reshape(-1), return_inverse=True)
    if key is None:
        hashed = [fingerprint64(s.encode("utf-8")) % bins for s in distinct.tolist()]
    else:
        hashed = [siphash24(key, s.encode("utf-8")) % bins for s in distinct.tolist()]
    return numpy.asarray(hashed, dtype=numpy.int64)[where].reshape(strings.shape)


def decimal_text(values) -> numpy.ndarray:
    """Host integers written in decimal, as TensorFlow's ``as_string`` writes them."""
    return numpy.asarray(values).astype(numpy.int64).astype(str)
