"""TFRecord files: a sequence of length-prefixed records, each guarded by a masked CRC-32C.

Layout of one record (all little-endian):
    uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)
No TensorFlow: the framing is this small, and the CRC comes from google-crc32c (a C implementation;
a pure-Python CRC would take seconds per tube of 2048-D features).
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import google_crc32c

from manifests.atomic import write_atomic
from manifests.errors import InputError

_MASK_DELTA = 0xA282EAD8
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


class RecordError(InputError, ValueError):
    """A tfrecord file is truncated or corrupt."""


def masked_crc32c(data: bytes) -> int:
    """TFRecord's CRC: CRC-32C rotated right by 15 bits plus a constant (so CRCs of CRCs look random)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _read_exactly(source: BinaryIO, n: int, path: Path, index: int, what: str) -> bytes:
    data = source.read(n)
    if len(data) != n:
        raise RecordError(f"{path}: record {index} is truncated: expected {n} bytes of {what}, found {len(data)}; "
                          f"the file was cut short (copy it again)")
    return data


def read_records(path: Path, check_crc: bool = True) -> Iterator[bytes]:
    """Each record's bytes, in file order. Raises RecordError naming the record for a torn or corrupt file."""
    path = Path(path)
    with open(path, "rb") as source:
        index = 0
        while True:
            header = source.read(_LENGTH.size)
            if not header:
                return
            if len(header) != _LENGTH.size:
                raise RecordError(f"{path}: record {index} is truncated: {len(header)} bytes of its 8-byte length")
            (length,) = _LENGTH.unpack(header)
            (length_crc,) = _CRC.unpack(_read_exactly(source, _CRC.size, path, index, "length checksum"))
            if check_crc and length_crc != masked_crc32c(header):
                raise RecordError(f"{path}: record {index}: the length's checksum does not match; "
                                  f"this is not a tfrecord file, or it is corrupt")
            data = _read_exactly(source, length, path, index, "data")
            (data_crc,) = _CRC.unpack(_read_exactly(source, _CRC.size, path, index, "data checksum"))
            if check_crc and data_crc != masked_crc32c(data):
                raise RecordError(f"{path}: record {index}: the data checksum does not match (corrupt file)")
            yield data
            index += 1


def frame_record(data: bytes) -> bytes:
    """One record's bytes as they lie in a file."""
    header = _LENGTH.pack(len(data))
    return header + _CRC.pack(masked_crc32c(header)) + data + _CRC.pack(masked_crc32c(data))


def write_records(path: Path, records: Iterable[bytes]) -> Path:
    """Write a whole tfrecord file atomically (a reader never sees half of it)."""
    def write(sink: BinaryIO) -> None:
        for data in records:
            sink.write(frame_record(data))

    return write_atomic(Path(path), write)


def record_offsets(path: Path) -> list[int]:
    """The byte offset of each record, read from the length headers alone (seeking over the data), so a
    file of 50 tubes can be split into 50 units without reading their megabytes."""
    path = Path(path)
    offsets, size = [], path.stat().st_size
    with open(path, "rb") as source:
        at = 0
        while at < size:
            header = source.read(_LENGTH.size)
            if len(header) != _LENGTH.size:
                raise RecordError(f"{path}: record {len(offsets)} is truncated: {len(header)} bytes of its 8-byte length")
            (length,) = _LENGTH.unpack(header)
            offsets.append(at)
            at += _LENGTH.size + 2 * _CRC.size + length
            if at > size:
                raise RecordError(f"{path}: record {len(offsets) - 1} is truncated: it needs {at - size} more bytes")
            source.seek(at)
    return offsets


def read_record_at(path: Path, offset: int, index: int = 0) -> bytes:
    """The one record that starts at `offset` (from `record_offsets`), its checksums verified."""
    with open(path, "rb") as source:
        source.seek(offset)
        header = _read_exactly(source, _LENGTH.size, Path(path), index, "length")
        (length,) = _LENGTH.unpack(header)
        (length_crc,) = _CRC.unpack(_read_exactly(source, _CRC.size, Path(path), index, "length checksum"))
        data = _read_exactly(source, length, Path(path), index, "data")
        (data_crc,) = _CRC.unpack(_read_exactly(source, _CRC.size, Path(path), index, "data checksum"))
    if length_crc != masked_crc32c(header) or data_crc != masked_crc32c(data):
        raise RecordError(f"{path}: record {index}: a checksum does not match (corrupt file)")
    return data
