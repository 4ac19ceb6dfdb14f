"""Keras's TextVectorization: raw strings to token indices or token counts, on the host (the
strings never reach the device); what it gives goes to the device.

Each string is standardized (lowercased and stripped of ASCII punctuation by default), split
into tokens (on whitespace by default), optionally joined into n-grams, then looked up in a
vocabulary (a StringLookup with "" as its mask token, as Keras's): "int" gives the indices
(0 pads, 1 is out-of-vocabulary), "multi_hot", "count" and "tf_idf" a vector per string.
"""

from __future__ import annotations

from ..core.checks import as_int, one_of, positive_int, short
from ..core.registry import get_registered_name, get_registered_object
from ..text.strings import STRING, host_strings, one_string_a_sample
from ..text.tokens import SPLITTERS, STANDARDIZERS, bag, flat_tokens, padded, token_rows
from ..errors import ArgumentError, ArgumentTypeError, ShapeError, shape_str
from .base import Layer, register_layer
from .lookup import StringLookup
from .preprocessing import _batches, _flag

@register_layer
class TextVectorization(Layer):
    """Keras's: ``TextVectorization(max_tokens=None, standardize="lower_and_strip_punctuation",
    split="whitespace", ngrams=None, output_mode="int", output_sequence_length=None,
    pad_to_max_tokens=False, vocabulary=None, idf_weights=None)``.

    Input: strings, (N,) or (N, 1) (a list, a NumPy array, or ``Input(shape=(1,),
    dtype="string")`` in a model). ``standardize`` and ``split`` may be functions of one
    string (giving a string, and a list of tokens); a model holding them saves when they are
    registered (``xdl.saving.register_keras_serializable``). ``ngrams``: n (1- to n-grams) or a
    tuple of sizes, the tokens of a gram joined by a space. Output: "int" (N, T) int64, T being
    ``output_sequence_length`` (padded with 0 or cut) or the batch's longest; "multi_hot",
    "count", "tf_idf" (N, vocabulary size, or ``max_tokens`` with ``pad_to_max_tokens``)
    floats. ``adapt(data)`` learns the vocabulary from strings (arrays, lists or a stream of
    batches): the most frequent tokens first, at most ``max_tokens`` indices with the two
    reserved ones. The vocabulary (and IDF weights) are saved in the layer's config.
    """

    input_kind = STRING
    modes = ("int", "multi_hot", "count", "tf_idf")

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", *, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        owner = "TextVectorization"
        self.standardize = _step(owner, "standardize", standardize, STANDARDIZERS)
        self.split = _step(owner, "split", split, SPLITTERS)
        self.ngrams = _ngrams(ngrams)
        if self.ngrams is not None and self.split is None:
            raise ArgumentError(f"{owner}: ngrams need split (tokens to join); got split=None")
        self.output_mode = one_of(owner, "output_mode", output_mode, self.modes)
        self.output_sequence_length = positive_int(owner, "output_sequence_length", output_sequence_length,
                                                   optional=True)
        if self.output_sequence_length is not None and self.output_mode != "int":
            raise ArgumentError(f"{owner}: output_sequence_length is for output_mode 'int', got output_mode "
                                f"{self.output_mode!r}")
        for key, value in (("sparse", sparse), ("ragged", ragged)):
            if _flag(owner, key, value):
                raise ArgumentError(f"{owner}: {key}=True is not supported (xdl has dense arrays only)")
        if positive_int(owner, "max_tokens", max_tokens, optional=True) == 1:
            raise ArgumentError(f"{owner}: max_tokens must be greater than 1 (it counts the padding and OOV "
                                "indices too), got 1")
        self.lookup = StringLookup(max_tokens=max_tokens, mask_token="", vocabulary=vocabulary,
                                   idf_weights=idf_weights, output_mode=self.output_mode,
                                   pad_to_max_tokens=pad_to_max_tokens, encoding=encoding,
                                   name=f"{self.name}.lookup", dtype=dtype)
        self.max_tokens, self.pad_to_max_tokens = self.lookup.max_tokens, self.lookup.pad_to_max_tokens

    # -- the vocabulary ----------------------------------------------------------------------
    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (and, for "tf_idf", the IDF weights) from strings."""
        where = f"{self.describe()}: adapt"
        documents = (self.tokens(self._strings(b, where)) for b in
                     _batches(self, data, batch_size, steps, read=lambda d: self._strings(d, where)))
        self.lookup.adapt_documents(documents)

    def get_vocabulary(self, include_special_tokens=True):
        return self.lookup.get_vocabulary(include_special_tokens)

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self.lookup.set_vocabulary(vocabulary, idf_weights)

    def vocabulary_size(self):
        return self.lookup.vocabulary_size()

    # -- text to tokens ----------------------------------------------------------------------
    def _strings(self, x, where):
        """Host strings, (N,) or (N, 1), as (N,)."""
        text = one_string_a_sample(host_strings(x, where), ())
        if text.ndim != 1:
            raise ShapeError(f"{where}: takes one string a sample, (N,) or (N, 1), got {shape_str(text.shape)}")
        return text

    def tokens(self, text):
        """Each string's tokens (a list of lists): standardized, split, n-grams joined."""
        return token_rows(text, self.standardize, self.split, self.ngrams,
                          lambda s: _text(self, "standardize", s), lambda t: _token_list(self, t))

    # -- the layer ---------------------------------------------------------------------------
    def check_input_shape(self, input_shape):
        shape = tuple(input_shape)
        if shape not in ((), (1,)):
            raise ShapeError(f"{self.describe()}: takes one string a sample, per-sample shape () or (1,), got "
                             f"{shape_str(shape)}")

    def output_shape(self, input_shape):
        self.check_input_shape(input_shape)
        if self.output_mode == "int":
            return (self.output_sequence_length,)
        return (self.lookup._depth(),)

    def apply(self, x, training=False):
        be = self.backend
        rows = self.tokens(self._strings(x, self.describe()))
        if self.output_mode == "int":
            length = self.output_sequence_length or max((len(r) for r in rows), default=0)
            flat, lengths = flat_tokens(rows, length)
            out = be.asarray(padded(self.lookup.indices(flat, self.describe()), lengths, length))
        else:
            flat, lengths = flat_tokens(rows)
            depth = self.lookup._depth()
            counts = bag(self.lookup.indices(flat, self.describe()), lengths, depth, self.output_mode,
                         self.lookup.idf_vector(depth))
            out = be.asarray(counts, dtype=self.dtype or be.dtype(self.dtype_name))
        return out, lambda dy, need_dx=True: None

    def get_config(self):
        lookup = self.lookup
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "standardize": _saved(self, "standardize", self.standardize),
                "split": _saved(self, "split", self.split), "ngrams": self.ngrams, "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length, "pad_to_max_tokens": self.pad_to_max_tokens,
                "vocabulary": lookup.get_vocabulary() if lookup.vocabulary is not None else None,
                "idf_weights": lookup.idf_weights}


def _step(owner, key, value, names):
    """A built-in step's name, a function, or a registered function's name."""
    if value is None or callable(value):
        return value
    if isinstance(value, str) and value in names:
        return value
    if isinstance(value, str):
        found = get_registered_object(value)
        if callable(found):
            return found
    raise ArgumentError(f"{owner}: {key} must be one of {list(names)}, a function of one string, or the name of a "
                        f"registered function, got {short(value)}")


def _saved(layer, key, value):
    if not callable(value):
        return value
    name = get_registered_name(value)
    if get_registered_object(name) is not value:
        raise ArgumentError(f"{layer.describe()}: its {key} function {name!r} is code, which xdl saves by name only: "
                            "register it with @xdl.saving.register_keras_serializable()")
    return name


def _ngrams(ngrams):
    if ngrams is None:
        return None
    if as_int(ngrams) is not None:
        n = positive_int("TextVectorization", "ngrams", ngrams)
        return list(range(1, n + 1))
    if isinstance(ngrams, (list, tuple)) and ngrams and all(as_int(n) is not None and as_int(n) >= 1
                                                              for n in ngrams):
        return [as_int(n) for n in ngrams]
    raise ArgumentError(f"TextVectorization: ngrams must be None, an int >= 1 or a tuple of them, got {short(ngrams)}")


def _text(layer, key, value):
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{layer.describe()}: its {key} function must return a string, got {short(value)}")
    return value


def _token_list(layer, value):
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) for t in value):
        raise ArgumentTypeError(f"{layer.describe()}: its split function must return a list of strings, got "
                                f"{short(value)}")
    return list(value)

