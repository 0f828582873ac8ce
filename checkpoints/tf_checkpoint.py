"""TensorFlow V2 checkpoints ("tensor bundles") read without TensorFlow.

A checkpoint `PREFIX` is `PREFIX.index` (an SSTable: under the empty key a BundleHeaderProto, under each
variable name a BundleEntryProto) and `PREFIX.data-00000-of-0000N` (each tensor's raw little-endian
bytes at the entry's offset, with the masked crc32c of those bytes in the entry). The few protobuf
fields needed are decoded here from the wire format, so no generated protobuf code is needed either.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import google_crc32c
import numpy as np

from checkpoints.errors import CheckpointError
from checkpoints.sstable import SSTable, read_varint, unmask_crc

# tensorflow/core/framework/types.proto: the numeric types a checkpoint of weights holds.
NUMPY_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
                10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
DT_STRING = 7
HEADER_KEY = b""
LITTLE_ENDIAN = 0
_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")


def proto_fields(message: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of every field of a serialized protobuf message, in order: varints and
    fixed-width numbers as ints, length-delimited fields (strings, sub-messages) as bytes."""
    fields: list[tuple[int, int | bytes]] = []
    position = 0
    while position < len(message):
        key, position = read_varint(message, position)
        number, wire_type = key >> 3, key & 0x7
        if wire_type == 0:
            value, position = read_varint(message, position)
        elif wire_type == 1:
            (value,) = struct.unpack_from("<Q", message, position)
            position += 8
        elif wire_type == 2:
            size, position = read_varint(message, position)
            value = bytes(message[position:position + size])
            position += size
        elif wire_type == 5:
            (value,) = struct.unpack_from("<I", message, position)
            position += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type} (field {number})")
        if position > len(message):
            raise ValueError(f"protobuf field {number} runs past the end of its message")
        fields.append((number, value))
    return fields


@dataclass(frozen=True)
class TensorEntry:
    """Where one variable's bytes are: BundleEntryProto's dtype (1), shape (2), shard_id (3), offset (4),
    size (5), crc32c (6, masked) and slices (7, set only for partitioned variables)."""

    name: str
    dtype_code: int
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    masked_crc32c: int
    sliced: bool

    @classmethod
    def parse(cls, name: str, message: bytes) -> TensorEntry:
        values: dict[int, int | bytes] = {}
        sliced = False
        for number, value in proto_fields(message):
            sliced |= number == 7
            values[number] = value
        shape = tuple(_dim_size(dim) for number, dim in proto_fields(values.get(2, b"")) if number == 2)
        return cls(name=name, dtype_code=int(values.get(1, 0)), shape=shape, shard=int(values.get(3, 0)),
                   offset=int(values.get(4, 0)), size=int(values.get(5, 0)), masked_crc32c=int(values.get(6, 0)),
                   sliced=sliced)


def _dim_size(dim: int | bytes) -> int:
    """TensorShapeProto.Dim's size (field 1; an int64, so -1 arrives as its two's complement)."""
    size = next((int(v) for number, v in proto_fields(bytes(dim)) if number == 1), 0)
    return size - (1 << 64) if size >= 1 << 63 else size


def checkpoint_prefix(path: str | Path) -> Path:
    """The checkpoint prefix from what a user may pass: the prefix itself (as TensorFlow's Saver takes
    it), its `.index` file, or one of its `.data-*` files."""
    text = str(path)
    text = text[:-len(".index")] if text.endswith(".index") else _DATA_SUFFIX.sub("", text)
    prefix = Path(text)
    if not prefix.with_name(prefix.name + ".index").is_file():
        raise CheckpointError(f"{path}: no TensorFlow checkpoint here: expected {prefix.name}.index and "
                              f"{prefix.name}.data-00000-of-00001 in {prefix.parent}/ (pass the prefix, e.g. "
                              f"models/hmr_noS5.ckpt-642561)")
    return prefix


class TFCheckpoint:
    """The variables of a TensorFlow V2 checkpoint: `names()`, `entry(name)`, `read(name)` (a numpy
    array, its checksum verified)."""

    def __init__(self, path: str | Path) -> None:
        self.prefix = checkpoint_prefix(path)
        table = SSTable(self.prefix.with_name(self.prefix.name + ".index"))
        self.entries: dict[str, TensorEntry] = {}
        header = None
        try:
            for key, value in table.items():
                if key == HEADER_KEY:
                    header = dict(proto_fields(value))
                else:
                    name = key.decode()
                    self.entries[name] = TensorEntry.parse(name, value)
        except (ValueError, UnicodeDecodeError, struct.error) as e:
            raise CheckpointError(f"{table.path}: unreadable entry ({e}); the file is corrupt") from e
        if header is None:
            raise CheckpointError(f"{table.path}: no bundle header (empty key); not a TensorFlow V2 checkpoint")
        self.n_shards = int(header.get(1, 1))
        if int(header.get(2, LITTLE_ENDIAN)) != LITTLE_ENDIAN:
            raise CheckpointError(f"{table.path}: written on a big-endian machine; only little-endian "
                                  f"checkpoints are read (load and save it again with TensorFlow there)")

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def entry(self, name: str) -> TensorEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise CheckpointError(f"{self.prefix}: no variable {name!r} in this checkpoint "
                                  f"({len(self.entries)} variables)") from None

    def data_path(self, shard: int) -> Path:
        return self.prefix.with_name(f"{self.prefix.name}.data-{shard:05d}-of-{self.n_shards:05d}")

    def read(self, name: str) -> np.ndarray:
        """The variable's value, shaped as TensorFlow stored it (e.g. conv kernels H x W x in x out)."""
        entry = self.entry(name)
        if entry.sliced:
            raise CheckpointError(f"{self.prefix}: {name!r} is a partitioned variable; partitioned "
                                  f"variables are not supported")
        dtype = NUMPY_DTYPES.get(entry.dtype_code)
        if dtype is None:
            kind = "string" if entry.dtype_code == DT_STRING else f"TensorFlow dtype code {entry.dtype_code}"
            raise CheckpointError(f"{self.prefix}: {name!r} is a {kind} tensor; only numeric tensors are read")
        expected = int(np.prod(entry.shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if entry.size != expected:
            raise CheckpointError(f"{self.prefix}: {name!r} has {entry.size} bytes for shape {entry.shape} "
                                  f"of {np.dtype(dtype).name} ({expected} expected); the index is corrupt")
        path = self.data_path(entry.shard)
        try:
            with open(path, "rb") as source:
                source.seek(entry.offset)
                data = source.read(entry.size)
        except FileNotFoundError:
            raise CheckpointError(f"{path}: missing; a checkpoint needs its .index and every .data-* file "
                                  f"(copy them together)") from None
        if len(data) != entry.size:
            raise CheckpointError(f"{path}: ends before {name!r} (bytes {entry.offset}..{entry.offset + entry.size}"
                                  f"); the file is truncated: download it again")
        if google_crc32c.value(data) != unmask_crc(entry.masked_crc32c):
            raise CheckpointError(f"{path}: checksum mismatch in {name!r}; the file is corrupt: download it again")
        return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(entry.shape).copy()
