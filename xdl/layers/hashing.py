"""Keras's ``Hashing`` layer: strings (or integers) to bins, hashed on the host as Keras
hashes them (xdl/text/hashes.py), once per distinct value of a batch; the bins go to the
device."""

from __future__ import annotations

from ..core.backend import to_numpy
from ..core.checks import as_int, one_of, positive_int, short
from ..text.hashes import decimal_text, hash_buckets
from ..text.strings import HOST_XP, STRING, host_strings, is_host_strings, is_text
from ..errors import ArgumentError, ArgumentTypeError
from .base import register_layer
from .preprocessing import _Encoding, _flag

def as_text(x):
    """Host strings as they come, or integers (device or host) written in decimal, as
    TensorFlow's ``as_string`` writes them before hashing."""
    if is_host_strings(x):
        return x
    values = to_numpy(x)
    if values.dtype.kind not in "iub":
        raise ArgumentTypeError(f"Hashing: takes strings or integers, got an array of dtype {values.dtype}")
    return decimal_text(values)


@register_layer
class Hashing(_Encoding):
    """Keras's: each string (or integer, hashed as its decimal text) to one of ``num_bins``
    bins, as Keras and TensorFlow bin it: FarmHash's Fingerprint64 modulo ``num_bins``, or,
    with a ``salt`` (an int, or two), SipHash-2-4 keyed by it. ``mask_value``: that value
    gets bin 0 and the others the remaining ``num_bins - 1``. ``output_mode`` "int" (the
    bin), or "one_hot", "multi_hot", "count" over the bins. Strings are hashed on the host;
    integers on the device are read to the host once per call."""

    input_kind = STRING
    modes = ("int", "one_hot", "multi_hot", "count")

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, *, name=None,
                 dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.num_bins = positive_int("Hashing", "num_bins", num_bins)
        if mask_value is not None and self.num_bins < 2:
            raise ArgumentError("Hashing: with a mask_value, num_bins must be at least 2 (bin 0 is the mask's)")
        if mask_value is not None and not isinstance(mask_value, str) and as_int(mask_value) is None:
            raise ArgumentTypeError(f"Hashing: mask_value must be a string or an int, got {short(mask_value)}")
        self.mask_value = mask_value
        self.salt = _salt(salt)
        self.output_mode = one_of("Hashing", "output_mode", output_mode, self.modes)
        if _flag("Hashing", "sparse", sparse):
            raise ArgumentError("Hashing: sparse=True is not supported (xdl has no sparse tensors)")

    def _accept_one(self, be, x):  # strings, or integers (hashed as their decimal text)
        if is_text(x):
            x = host_strings(x, self.describe())
        elif not be.owns(x):
            x = be.asarray(x)
        if x.ndim < 1:
            raise ArgumentError(f"{self.describe()}: expected an array with a batch axis, got a scalar")
        return x

    def output_shape(self, input_shape):
        return self._encoded_shape(input_shape, self.num_bins)

    def bins(self, x):
        """The bins of ``x`` (host strings, or integers) as a host int64 array."""
        text = as_text(x)
        key = None if self.salt is None else tuple(self.salt)
        if self.mask_value is None:
            return hash_buckets(text, self.num_bins, key)
        return HOST_XP.where(text == str(self.mask_value), 0, hash_buckets(text, self.num_bins - 1, key) + 1)

    def apply(self, x, training=False):
        be = self.backend
        codes = be.asarray(self.bins(x))
        return self._encode(be.xp, codes, self.num_bins), lambda dy, need_dx=True: None

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "mask_value": self.mask_value,
                "salt": self.salt, "output_mode": self.output_mode}


def _salt(salt):
    """Keras's ``salt``: None, an int (both key words), or two ints."""
    if salt is None:
        return None
    parts = list(salt) if isinstance(salt, (list, tuple)) else [salt, salt]
    words = [as_int(p) for p in parts]
    if len(words) != 2 or any(w is None or not 0 <= w < 2**64 for w in words):
        raise ArgumentError(f"Hashing: salt must be an int or a pair of ints in [0, 2**64), got {short(salt)}")
    return words
