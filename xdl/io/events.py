"""TensorFlow event files, written without TensorFlow (for the ``TensorBoard`` callback).

Event files are TFRecord files (each record: its length as a little-endian uint64, the masked
CRC-32C of those 8 bytes, the data, the masked CRC-32C of the data) whose records are
``tensorflow.Event`` protocol buffers, encoded here by hand:

- ``Event``: wall_time = 1 (double), step = 2 (int64), file_version = 3 (string),
  graph_def = 4 (bytes: a serialized ``GraphDef``), summary = 5 (``Summary``);
- ``Summary``: value = 1 (repeated ``Summary.Value``);
- ``Summary.Value``: tag = 1 (string), simple_value = 2 (float), histo = 5 (``HistogramProto``);
- ``HistogramProto``: min = 1, max = 2, num = 3, sum = 4, sum_squares = 5 (doubles),
  bucket_limit = 6, bucket = 7 (packed repeated doubles);
- ``GraphDef``: node = 1 (``NodeDef``: name = 1, op = 2, input = 3 repeated).

(Field numbers of tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto
and graph.proto / node_def.proto.) Files are host I/O: histograms are counted with NumPy.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import threading
import time

import numpy as np

# --- CRC-32C (Castagnoli), reflected polynomial 0x82F63B78 -----------------------------------

def _crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """``data`` framed as one TFRecord."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


# --- protocol buffer encoding ---------------------------------------------------------------

def _varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF  # int64 negatives as ten bytes, as protobuf does
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _double(field, value) -> bytes:
    return _key(field, 1) + struct.pack("<d", float(value))


def _float(field, value) -> bytes:
    return _key(field, 5) + struct.pack("<f", float(value))


def _int(field, value) -> bytes:
    return _key(field, 0) + _varint(int(value))


def _bytes(field, value) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _key(field, 2) + _varint(len(value)) + value


def event(wall_time, step=0, file_version=None, summary=None, graph_def=None) -> bytes:
    """A serialized ``Event``; ``summary`` a serialized ``Summary``."""
    out = _double(1, wall_time) + (_int(2, step) if step else b"")
    if file_version is not None:
        out += _bytes(3, file_version)
    if graph_def is not None:
        out += _bytes(4, graph_def)
    if summary is not None:
        out += _bytes(5, summary)
    return out


def scalar_value(tag, value) -> bytes:
    """A serialized ``Summary.Value`` holding a ``simple_value``."""
    return _bytes(1, tag) + _float(2, value)


def histogram_value(tag, values, buckets=30) -> bytes:
    """A serialized ``Summary.Value`` holding a ``HistogramProto`` of ``values``."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        v = np.zeros(1)
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(v, bins=buckets, range=(lo, hi))
    packed = lambda field, xs: _bytes(field, struct.pack(f"<{len(xs)}d", *map(float, xs)))
    histo = (_double(1, v.min()) + _double(2, v.max()) + _double(3, v.size) + _double(4, v.sum())
             + _double(5, float(np.dot(v, v))) + packed(6, edges[1:]) + packed(7, counts))
    return _bytes(1, tag) + _bytes(5, histo)


def summary(values) -> bytes:
    """A serialized ``Summary`` of serialized ``Summary.Value``s."""
    return b"".join(_bytes(1, v) for v in values)


def graph_def(nodes) -> bytes:
    """A serialized ``GraphDef`` of ``(name, op, [input names])``."""
    return b"".join(_bytes(1, _bytes(1, name) + _bytes(2, op) + b"".join(_bytes(3, i) for i in inputs))
                    for name, op, inputs in nodes)


# --- the writer -----------------------------------------------------------------------------

_file_counter = itertools.count()
_counter_lock = threading.Lock()


class EventFileWriter:
    """One event file in ``directory``, named as TensorFlow's summary writer names its files
    ("events.out.tfevents.<time>.<host>.<pid>.<n>.v2"); it starts with the file-version event."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        with _counter_lock:
            n = next(_file_counter)
        now = time.time()
        name = f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}.{os.getpid()}.{n}.v2"
        self.path = os.path.join(directory, name)
        self._file = open(self.path, "wb")  # noqa: SIM115 (open until close(): one write per event)
        self.write(event(now, file_version="brain.Event:2"))
        self.flush()

    def write(self, record: bytes):
        self._file.write(tfrecord(record))

    def scalars(self, pairs, step):
        """Write ``(tag, value)`` pairs as one event at ``step``."""
        values = [scalar_value(tag, value) for tag, value in pairs]
        if values:
            self.write(event(time.time(), step, summary=summary(values)))

    def histograms(self, pairs, step):
        values = [histogram_value(tag, value) for tag, value in pairs]
        if values:
            self.write(event(time.time(), step, summary=summary(values)))

    def graph(self, nodes):
        self.write(event(time.time(), 0, graph_def=graph_def(nodes)))

    def flush(self):
        self._file.flush()

    def close(self):
        if not self._file.closed:
            self._file.close()
