"""TextVectorization's host side: strings to token lists (standardized, split, n-grams
joined), and token indices to the arrays the device gets: padded index rows, or one count
vector a string."""

from __future__ import annotations

import string

import numpy

STANDARDIZERS = (None, "lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLITTERS = (None, "whitespace", "character")
_PUNCTUATION = str.maketrans("", "", string.punctuation)  # Keras's strip pattern: ASCII punctuation


def token_rows(text, standardize, split, ngrams, check_text, check_tokens):
    """Each string of ``text`` (host strings (N,)) as a list of tokens. ``standardize`` and
    ``split``: a name of STANDARDIZERS / SPLITTERS, or a function of one string (its result
    passed through ``check_text`` / ``check_tokens``); ``ngrams``: None or the gram sizes."""
    if standardize in ("lower", "lower_and_strip_punctuation"):
        text = numpy.char.lower(text)
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = numpy.char.translate(text, _PUNCTUATION)
    strings = [check_text(standardize(s)) for s in text.tolist()] if callable(standardize) else text.tolist()
    if split is None:
        return [[s] for s in strings]
    if split == "whitespace":
        rows = [s.split() for s in strings]
    elif split == "character":
        rows = [list(s) for s in strings]
    else:
        rows = [check_tokens(split(s)) for s in strings]
    if ngrams is None:
        return rows
    return [[" ".join(row[i:i + n]) for n in ngrams for i in range(len(row) - n + 1)] for row in rows]


def flat_tokens(rows, length=None):
    """All tokens of ``rows`` (each cut to ``length``) as one host array, and each row's count."""
    kept = [row[:length] if length is not None else row for row in rows]
    flat = [t for row in kept for t in row]
    return numpy.asarray(flat, dtype=str) if flat else numpy.zeros(0, dtype="<U1"), [len(r) for r in kept]


def padded(codes, lengths, length):
    """(N, length) int64: row i holds its ``lengths[i]`` codes (from flat ``codes``), then 0s."""
    out = numpy.zeros((len(lengths), length), dtype=numpy.int64)
    out[numpy.arange(length)[None, :] < numpy.asarray(lengths, dtype=numpy.int64)[:, None]] = codes
    return out


def bag(codes, lengths, depth, mode, weights=None):
    """(N, depth) float64 per string: counts of its codes ("count"), whether each occurs
    ("multi_hot"), or counts times ``weights`` ("tf_idf", one per index); code -1 (the mask)
    counts nothing."""
    row = numpy.repeat(numpy.arange(len(lengths)), lengths)
    counts = numpy.zeros((len(lengths), depth), dtype=numpy.float64)
    numpy.add.at(counts, (row[codes >= 0], codes[codes >= 0]), 1.0)
    if mode == "multi_hot":
        return (counts > 0).astype(numpy.float64)
    if mode == "tf_idf":
        return counts * numpy.asarray(weights)
    return counts
