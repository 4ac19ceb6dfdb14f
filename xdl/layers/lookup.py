"""Keras's IntegerLookup and StringLookup: tokens to indices of a vocabulary, given or learnt
by ``adapt``, as Keras numbers them.

Indices: in "int" mode a ``mask_token`` (when given) is 0; then ``num_oov_indices`` for
tokens outside the vocabulary (several: a token's hash picks one, as Keras's does); then the
vocabulary in order. In the other modes the mask has no index (its occurrences count for
nothing) and the OOV indices come first. Both layers look tokens up with one sorted search:
IntegerLookup on the device, StringLookup on the host (strings never reach the device), its
indices then moved to the device.
"""

from __future__ import annotations

import collections
import math
import os

from ..core.backend import convert, get_backend, to_numpy
from ..core.checks import as_int, one_of, positive_int, short
from ..text.hashes import hash_buckets
from ..text.strings import HOST_XP, STRING, host_strings, is_host_strings
from ..errors import ArgumentError, ArgumentTypeError, IndexRangeError, NotBuiltError
from .base import register_layer
from .preprocessing import _batches, _Encoding, _flag


class IndexLookup(_Encoding):
    """What IntegerLookup and StringLookup share (they give ``token(value, key)``, a checked
    token; ``host_tokens(batch)``, a batch for ``adapt`` as a host array; ``oov_buckets(xp,
    x)``, an out-of-vocabulary token's bucket among several): the vocabulary, its special indices, ``adapt``,
    the inverse lookup and the encodings, including "tf_idf" (counts times each index's inverse
    document frequency, ``log(1 + documents / (1 + documents holding the token))``, the OOV
    indices getting the mean, as Keras's)."""

    modes = ("int", "one_hot", "multi_hot", "count", "tf_idf")
    xp_of_tokens = None  # the namespace tokens are looked up with: the device's, or NumPy (text)

    def _configure(self, owner, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                   output_mode, sparse, pad_to_max_tokens):
        """The arguments both subclasses take, checked (a method, not a constructor: the
        layer's config keys are its subclass's constructor's)."""
        self.owner = owner
        self.max_tokens = positive_int(owner, "max_tokens", max_tokens, optional=True)
        if self.max_tokens is not None and self.max_tokens < 2:
            raise ArgumentError(f"{owner}: max_tokens must be greater than 1 (it counts the reserved indices too), "
                                f"got {self.max_tokens}")
        self.num_oov_indices = as_int(num_oov_indices)
        if self.num_oov_indices is None or self.num_oov_indices < 0:
            raise ArgumentError(f"{owner}: num_oov_indices must be an int >= 0, got {short(num_oov_indices)}")
        self.mask_token = None if mask_token is None else self.token(mask_token, "mask_token")
        self.oov_token = self.token(oov_token, "oov_token")
        self.invert = _flag(owner, "invert", invert)
        self.output_mode = one_of(owner, "output_mode", output_mode, self.modes)
        if self.invert and self.output_mode != "int":
            raise ArgumentError(f"{owner}: invert=True gives tokens: output_mode must be 'int'")
        if _flag(owner, "sparse", sparse):
            raise ArgumentError(f"{owner}: sparse=True is not supported (xdl has no sparse tensors)")
        self.pad_to_max_tokens = _flag(owner, "pad_to_max_tokens", pad_to_max_tokens)
        if self.pad_to_max_tokens and self.max_tokens is None:
            raise ArgumentError(f"{owner}: pad_to_max_tokens=True needs max_tokens")
        if idf_weights is not None and self.output_mode != "tf_idf":
            raise ArgumentError(f"{owner}: idf_weights are for output_mode 'tf_idf', got output_mode "
                                f"{self.output_mode!r}")
        if self.output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ArgumentError(f"{owner}: output_mode 'tf_idf' with a vocabulary needs its idf_weights")
        self.vocabulary, self.idf_weights, self._tables = None, None, {}
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # -- the vocabulary ----------------------------------------------------------------------
    @property
    def _oov_start(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    @property
    def _token_start(self):
        return self._oov_start + self.num_oov_indices

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Keras's: the tokens in index order (distinct; the special tokens may lead, in their
        order, or be left out), or the path of a text file holding one a line; for "tf_idf",
        one weight per token."""
        owner = self.owner
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = _read_lines(owner, vocabulary)
        if not isinstance(vocabulary, (list, tuple)) and getattr(vocabulary, "ndim", 0) != 1:
            raise ArgumentTypeError(f"{owner}: vocabulary must be a list of tokens or a file path, got "
                                    f"{short(vocabulary)}")
        tokens = [self.token(t, "vocabulary") for t in
                  (vocabulary.tolist() if hasattr(vocabulary, "tolist") else vocabulary)]
        special = [self.mask_token] * self._oov_start + [self.oov_token] * self.num_oov_indices
        given_special = bool(special) and tokens[:len(special)] == special
        if given_special:
            tokens = tokens[len(special):]
        repeated = sorted({t for t in tokens if tokens.count(t) > 1}, key=str) if len(set(tokens)) != len(tokens) \
            else []
        if repeated:
            raise ArgumentError(f"{owner}: the vocabulary repeats {short(repeated)}; give each token once")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ArgumentError(f"{owner}: the vocabulary holds the mask token {self.mask_token!r}; leave it out "
                                "(it is index 0)")
        if self.invert and self.oov_token in tokens:
            raise ArgumentError(f"{owner}: the vocabulary holds the OOV token {self.oov_token!r}; leave it out")
        if self.max_tokens is not None and len(tokens) + self._token_start > self.max_tokens:
            raise ArgumentError(f"{owner}: {len(tokens)} tokens and {self._token_start} reserved indices exceed "
                                f"max_tokens={self.max_tokens}")
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ArgumentError(f"{owner}: output_mode 'tf_idf' needs idf_weights with the vocabulary")
            weights = [float(w) for w in (idf_weights.tolist() if hasattr(idf_weights, "tolist") else idf_weights)]
            if len(weights) != len(tokens) + (self._token_start if given_special else 0) \
                    or not all(math.isfinite(w) for w in weights):
                raise ArgumentError(f"{owner}: idf_weights must be one finite number per vocabulary token, got "
                                    f"{len(weights)} for {len(tokens)} tokens")
            if not given_special:  # the OOV indices weigh the mean, as Keras's
                weights = [sum(weights) / len(weights) if weights else 0.0] * self._token_start + weights
            self.idf_weights = weights
        elif idf_weights is not None:
            raise ArgumentError(f"{owner}: idf_weights are for output_mode 'tf_idf'")
        self.vocabulary, self._tables = tokens, {}

    def get_vocabulary(self, include_special_tokens=True):
        """Keras's: every index's token, the reserved ones first."""
        special = [self.mask_token] * self._oov_start + [self.oov_token] * self.num_oov_indices
        return (special if include_special_tokens else []) + list(self.vocabulary or [])

    def vocabulary_size(self):
        return len(self.get_vocabulary())

    def _depth(self):
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def adapt(self, data, batch_size=None, steps=None):
        """The distinct tokens of ``data`` (an array, a list, or a stream of batches) by count,
        most frequent first (ties: the larger token first, as Keras's), at most ``max_tokens``
        indices in all; the mask and OOV tokens are left out. "tf_idf" also counts, per token,
        the samples holding it (a sample: a row; of a 1-D array, each element)."""
        def documents(batch):
            tokens = self.host_tokens(batch)
            return (tokens.reshape(-1, 1) if tokens.ndim == 1 else tokens.reshape(tokens.shape[0], -1)).tolist()

        self.adapt_documents(documents(b) for b in _batches(self, data, batch_size, steps, read=self.host_tokens))

    def adapt_documents(self, batches):
        """``adapt`` from batches of documents, each a list of tokens (TextVectorization's)."""
        counts, documents, n_documents = collections.Counter(), collections.Counter(), 0
        for batch in batches:
            for row in batch:
                counts.update(row)
            if self.output_mode == "tf_idf":
                n_documents += len(batch)
                for row in batch:
                    documents.update(set(row))
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        if not counts and not n_documents:
            raise ArgumentError(f"{self.describe()}: adapt got no data")
        ranked = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
        room = None if self.max_tokens is None else max(self.max_tokens - self._token_start, 0)
        tokens = ranked[:room]
        weights = None
        if self.output_mode == "tf_idf":
            weights = [math.log(1 + n_documents / (1 + documents[t])) for t in tokens]
        self.set_vocabulary(tokens, weights)

    # -- looking up ------------------------------------------------------------------------
    def _table(self, xp, dtype, device):
        """(sorted tokens, their indices), made once per dtype and device."""
        key = (str(dtype), str(device))
        if key not in self._tables:
            order = sorted(range(len(self.vocabulary)), key=self.vocabulary.__getitem__)
            keys = [self.vocabulary[k] for k in order]
            self._tables[key] = (xp.asarray(keys, dtype=dtype, device=device),
                                 xp.asarray([k + self._token_start for k in order], dtype=xp.int64, device=device))
        return self._tables[key]

    def lookup(self, xp, x):
        """``(indices, found)`` for tokens ``x`` in namespace ``xp``: each token's index and
        whether it is in the vocabulary; the mask token gets 0 ("int") or -1 (counts for
        nothing in the other modes)."""
        if not self.vocabulary:
            found = xp.zeros(x.shape, dtype=xp.bool, device=x.device)
            out = xp.full(x.shape, self._oov_start, dtype=xp.int64, device=x.device)
        else:
            keys, positions = self._table(xp, None if is_host_strings(x) else x.dtype, x.device)
            flat = xp.reshape(x, (-1,))
            at = xp.clip(xp.searchsorted(keys, flat), 0, keys.shape[0] - 1)
            found = xp.reshape(xp.take(keys, at) == flat, x.shape)
            out = xp.where(found, xp.reshape(xp.take(positions, at), x.shape), self._oov_start)
        if self.num_oov_indices > 1:
            out = xp.where(found, out, self.oov_buckets(xp, x) + self._oov_start)
        if self.mask_token is not None:
            out = xp.where(x == self.mask_token, 0 if self.output_mode == "int" else -1, out)
        return out, found

    def check_known(self, xp, x, found, where):
        """With no OOV index, a token outside the vocabulary is an error (one read per call)."""
        if self.num_oov_indices or self.invert or x.shape[0] == 0:
            return
        known = found if self.mask_token is None else found | (x == self.mask_token)
        if not bool(to_numpy(xp.all(known))):
            raise IndexRangeError(f"{where}: {self.describe()} got tokens outside its vocabulary, and has "
                                  "num_oov_indices=0")

    def encode(self, xp, indices):
        """Indices (on the device) in the output mode."""
        depth = self._depth()
        if self.output_mode != "tf_idf":
            return self._encode(xp, indices, depth)
        counts = self._encode(xp, indices, depth, "count")
        return counts * xp.asarray(self.idf_vector(depth), dtype=counts.dtype, device=counts.device)

    def idf_vector(self, depth):
        """"tf_idf"'s weight for each of ``depth`` indices (0 past the vocabulary, where
        ``pad_to_max_tokens`` pads), or None in the other modes."""
        return None if self.idf_weights is None else self.idf_weights + [0.0] * (depth - len(self.idf_weights))

    def inverse(self, xp, x, tokens):
        """Indices ``x`` back to tokens (``tokens``: every index's, as an array of ``xp``): an
        index outside the vocabulary gives the OOV token."""
        inside = (x >= self._token_start) & (x < tokens.shape[0])
        read = xp.reshape(xp.take(tokens, xp.reshape(xp.clip(x, 0, tokens.shape[0] - 1), (-1,))), x.shape)
        keep = inside | ((x == 0) & (self._oov_start == 1))  # the mask index gives the mask token back
        return xp.where(keep, read, self.oov_token)

    def require_vocabulary(self, where):
        if self.vocabulary is None:
            raise NotBuiltError(f"{where}: {self.describe()} has no vocabulary: give vocabulary= or call adapt")

    def output_shape(self, input_shape):
        return self._encoded_shape(input_shape, self._depth())

    def get_config(self):
        return {**super().get_config(), "max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
                "mask_token": self.mask_token, "oov_token": self.oov_token, "vocabulary": self.vocabulary,
                "idf_weights": None if self.idf_weights is None else self.idf_weights[self._token_start:],
                "invert": self.invert, "output_mode": self.output_mode, "pad_to_max_tokens": self.pad_to_max_tokens}


@register_layer
class IntegerLookup(IndexLookup):
    """Keras's: integer tokens to indices (module docstring), on the device. Several OOV
    indices: a token's is its value modulo their number (Keras's default ``oov_method``).
    ``invert=True`` maps indices back to tokens. With ``num_oov_indices=0`` a token outside the
    vocabulary is refused (one host read per call)."""

    input_kind = "int"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        one_of("IntegerLookup", "vocabulary_dtype", vocabulary_dtype, ("int64", "int32"))
        self._configure("IntegerLookup", max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights,
                        invert, output_mode, sparse, pad_to_max_tokens)

    def token(self, value, key):
        token = as_int(int(value) if isinstance(value, str) and value.strip().lstrip("-").isdigit() else value)
        if token is None:
            raise ArgumentTypeError(f"IntegerLookup: {key} must hold integers, got {short(value)}")
        return token

    def host_tokens(self, batch):
        be = get_backend()
        return to_numpy(be.xp.astype(convert(be, batch, None, f"{self.describe()}: adapt"), be.xp.int64))

    def oov_buckets(self, xp, x):
        return x % self.num_oov_indices

    def check_values(self, x, where):
        self.require_vocabulary(where)
        if not (self.num_oov_indices or self.invert):
            xp = self.backend.xp
            self.check_known(xp, x, self.lookup(xp, x)[1], where)

    def apply(self, x, training=False):
        self.require_vocabulary(self.describe())
        xp = self.backend.xp
        x = x if xp.isdtype(x.dtype, "integral") else xp.astype(x, xp.int64)
        if self.invert:
            tokens = xp.asarray(self.get_vocabulary(), dtype=xp.int64, device=x.device)
            return self.inverse(xp, x, tokens), lambda dy, need_dx=True: None
        return self.encode(xp, self.lookup(xp, x)[0]), lambda dy, need_dx=True: None


@register_layer
class StringLookup(IndexLookup):
    """Keras's: string tokens to indices (module docstring). The lookup runs on the host
    (text never goes to the device) and the indices, or their encoding, are made on the
    device. Several OOV indices: a token's is its FarmHash Fingerprint64 modulo their number,
    as Keras's. ``invert=True`` maps indices (on the device) back to strings: a NumPy array.
    ``encoding`` is UTF-8 only."""

    input_kind = STRING

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if str(encoding).lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise ArgumentError(f"StringLookup: encoding must be 'utf-8', got {short(encoding)}")
        self._configure("StringLookup", max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights,
                        invert, output_mode, sparse, pad_to_max_tokens)
        if self.invert:
            self.input_kind = "int"

    def token(self, value, key):
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if not isinstance(value, str):
            raise ArgumentTypeError(f"StringLookup: {key} must hold strings, got {short(value)}")
        return value

    def host_tokens(self, batch):
        return host_strings(batch, f"{self.describe()}: adapt")

    def oov_buckets(self, xp, x):
        return hash_buckets(x, self.num_oov_indices)

    def indices(self, x, where):
        """Host strings to host int64 indices, checked."""
        self.require_vocabulary(where)
        out, found = self.lookup(HOST_XP, x)
        self.check_known(HOST_XP, x, found, where)
        return out

    def apply(self, x, training=False):
        be = self.backend
        if self.invert:
            self.require_vocabulary(self.describe())
            tokens = HOST_XP.asarray(self.get_vocabulary(), dtype=str)
            indices = HOST_XP.astype(to_numpy(x), HOST_XP.int64)
            return self.inverse(HOST_XP, indices, tokens), lambda dy, need_dx=True: None
        codes = be.asarray(self.indices(x, self.describe()))
        return self.encode(be.xp, codes), lambda dy, need_dx=True: None


def _read_lines(owner, path):
    """A vocabulary file: one token a line (trailing empty lines dropped), read once, now."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ArgumentError(f"{owner}: cannot read the vocabulary file {os.fspath(path)!r}: {e}") from None
    while lines and lines[-1] == "":
        lines.pop()
    return lines
