"""The zip of a ``.keras`` file, read within bounds: the central directory's size from its end
record before ``zipfile`` parses it, then each of the three members Keras writes (``config.json``,
``metadata.json``, ``model.weights.h5``) by its entry's sizes (an absolute limit, and 100x
expansion, Keras's own rule, for a compressed member), read whole and checked against them.
"""

from __future__ import annotations

import os
import struct
import zipfile

from .bounded_json import parse_json
from .files import load_error
from .spec import short

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
MAX_MEMBERS = 1000  # zip entries (Keras writes three, and assets for some layers xdl does not read)
MAX_DIRECTORY = 2**20  # bytes of the zip's central directory
MAX_WEIGHTS = 2**34  # bytes of model.weights.h5 once decompressed
EXPANSION = 100  # a compressed member may expand this much (Keras's own rule), and to 64 MB whatever
LIMITS = {CONFIG: 4 * 2**20, METADATA: 2**20, WEIGHTS: MAX_WEIGHTS}
ZIP_MAGIC, HDF5_MAGIC = b"PK\x03\x04", b"\x89HDF\r\n\x1a\n"


def magic(path) -> bytes:
    """The file's first 8 bytes (b"" when it cannot be read: its loader then says why)."""
    try:
        with open(path, "rb") as f:
            return f.read(8)
    except OSError:
        return b""


def _directory_size(f, size, fail):
    """The central directory's entry count and size from the end record, before zipfile reads it."""
    tail_len = min(size, 65557)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        fail("not a zip file (a .keras file is Keras's zip of config.json, metadata.json and model.weights.h5)")
    entries, directory = struct.unpack("<HI", tail[at + 10:at + 16])
    if at >= 20 and tail[at - 20:at - 16] == b"PK\x06\x07":  # zip64: the sizes are in its own end record
        (offset,) = struct.unpack("<Q", tail[at - 12:at - 4])
        if offset + 56 > size:
            fail("a malformed zip64 end record")
        f.seek(offset)
        record = f.read(56)
        if record[:4] != b"PK\x06\x06":
            fail("a malformed zip64 end record")
        entries, directory = struct.unpack("<QQ", record[32:48])
    if entries > MAX_MEMBERS or directory > MAX_DIRECTORY:
        fail(f"a zip of {entries:,} entries ({directory:,} bytes of directory); a .keras file holds a few "
             f"(at most {MAX_MEMBERS} read)")


def read_zip(path, fail):
    """``{member: bytes}`` of the three members, each bounded before it is decompressed."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below: only its OSError is the load error)
    except OSError as e:
        raise load_error(path, e) from None
    with f:
        try:
            _directory_size(f, os.fstat(f.fileno()).st_size, fail)
            f.seek(0)
            archive = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error) as e:
            fail(f"not a readable zip file ({type(e).__name__}: {short(str(e), 200)})")
        with archive:
            infos = archive.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                fail("a zip naming one member twice")
            out = {}
            for member, limit in LIMITS.items():
                if member not in names:
                    fail(f"missing {member!r} (a .keras file holds {CONFIG}, {METADATA} and {WEIGHTS})")
                info = infos[names.index(member)]
                if info.flag_bits & 0x1:
                    fail(f"{member!r} is encrypted")
                if info.file_size > limit or (info.compress_type != zipfile.ZIP_STORED
                                              and info.file_size > max(64 * 2**20, EXPANSION * info.compress_size)):
                    fail(f"{member!r} expands to {info.file_size:,} bytes from {info.compress_size:,}; at most "
                         f"{limit:,} (and {EXPANSION}x when compressed) are read")
                try:
                    with archive.open(info) as stream:
                        data = stream.read(info.file_size + 1)
                except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError, RuntimeError) as e:
                    fail(f"{member!r} cannot be read ({type(e).__name__}: {short(str(e), 200)})")
                if len(data) != info.file_size:
                    fail(f"{member!r} holds {len(data):,} bytes, its entry says {info.file_size:,}")
                out[member] = data
    return out


def read_json(data, member, fail):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(f"{member!r} is not UTF-8 ({e.reason} at byte {e.start})")
    return parse_json(text, "model", lambda message: fail(f"{member!r} {message}"))
