"""Reader of the LevelDB table format ("SSTable"), which TensorFlow's V2 checkpoints use for their
`.index` file: sorted key -> value records in blocks, an index block pointing at the data blocks, and a
48-byte footer. Written from the format's published description; TensorFlow is not needed.

Layout, from the end of the file:
  footer (48 bytes): metaindex handle, index handle (each two varint64: offset, size), zero padding,
                     then the magic number 0xdb4775248b80fb57 as 8 little-endian bytes
  block:             records, then the restart offsets (uint32 each) and their count (uint32);
                     after the block: 1 byte compression type (0 none, 1 snappy) and the masked
                     crc32c of the block plus that byte
  record:            varint32 shared key bytes, varint32 unshared key bytes, varint32 value bytes,
                     the unshared key suffix, the value (keys are prefix-compressed between restarts)
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Iterator

import google_crc32c

from checkpoints.errors import CheckpointError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_BYTES = 48
BLOCK_TRAILER_BYTES = 5
NO_COMPRESSION, SNAPPY_COMPRESSION = 0, 1
_CRC_MASK_DELTA = 0xA282EAD8


def unmask_crc(masked: int) -> int:
    """LevelDB and TensorFlow store crc32c values 'masked' (rotated and offset), so that a crc computed
    over data that itself holds crcs does not degenerate; this undoes it."""
    rotated = (masked - _CRC_MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


def read_varint(data: bytes | memoryview, position: int) -> tuple[int, int]:
    """(value, position after it) of the base-128 varint at `position` (protobuf's and LevelDB's)."""
    value, shift = 0, 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def snappy_decompress(data: bytes) -> bytes:
    """Raw (unframed) snappy: a varint of the uncompressed length, then literal and copy elements.
    Only index blocks of TensorFlow 1.1 checkpoints are compressed (later releases write none), so the
    inputs are kilobytes and plain Python is fast enough."""
    length, position = read_varint(data, 0)
    out = bytearray()
    while position < len(data):
        tag = data[position]
        position += 1
        kind = tag & 0x3
        if kind == 0:  # literal: length-1 in the tag's upper 6 bits, or in the next 1-4 bytes
            size = tag >> 2
            if size >= 60:
                n_bytes = size - 59
                size = int.from_bytes(data[position:position + n_bytes], "little")
                position += n_bytes
            size += 1
            out += data[position:position + size]
            position += size
            continue
        if kind == 1:  # copy with a 1-byte offset: 3 bits of length-4, 11 bits of offset
            size = ((tag >> 2) & 0x7) + 4
            offset = ((tag >> 5) << 8) | data[position]
            position += 1
        else:  # copy with a 2- or 4-byte little-endian offset; length-1 in the tag's upper 6 bits
            n_bytes = 2 if kind == 2 else 4
            size = (tag >> 2) + 1
            offset = int.from_bytes(data[position:position + n_bytes], "little")
            position += n_bytes
        if offset == 0 or offset > len(out):
            raise ValueError(f"snappy copy reaches {offset} bytes back with only {len(out)} written")
        for _ in range(size):  # byte by byte: a copy may overlap the bytes it is writing
            out.append(out[-offset])
    if len(out) != length:
        raise ValueError(f"snappy block decompressed to {len(out)} bytes, its header says {length}")
    return bytes(out)


class SSTable:
    """All records of a LevelDB-format table file, in key order. The file is small (a checkpoint's index
    is kilobytes to a few megabytes), so it is read whole; every block's checksum is verified."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.data = self.path.read_bytes()
        if len(self.data) < FOOTER_BYTES:
            raise self._error(f"{len(self.data)} bytes is shorter than a table footer ({FOOTER_BYTES})")
        footer = self.data[-FOOTER_BYTES:]
        (magic,) = struct.unpack("<Q", footer[-8:])
        if magic != TABLE_MAGIC:
            raise self._error(f"no table magic number at its end (found {magic:#018x}); not a TensorFlow "
                              f"V2 checkpoint index (V1 checkpoints and SavedModels are other formats)")
        try:
            _, position = read_varint(footer, 0)  # the metaindex handle: TensorFlow writes no meta blocks
            _, position = read_varint(footer, position)
            index_offset, position = read_varint(footer, position)
            index_size, _ = read_varint(footer, position)
        except ValueError as e:
            raise self._error(f"unreadable footer: {e}") from e
        self.index_handle = (index_offset, index_size)

    def _error(self, message: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {message}")

    def block(self, offset: int, size: int) -> bytes:
        """The contents of the block at `offset` (its checksum checked, decompressed if it was)."""
        end = offset + size
        if end + BLOCK_TRAILER_BYTES > len(self.data):
            raise self._error(f"a block at bytes {offset}..{end} runs past the end of the file "
                              f"({len(self.data)} bytes): the file is truncated")
        contents = self.data[offset:end]
        compression = self.data[end]
        (stored,) = struct.unpack("<I", self.data[end + 1:end + BLOCK_TRAILER_BYTES])
        actual = google_crc32c.value(self.data[offset:end + 1])
        if unmask_crc(stored) != actual:
            raise self._error(f"checksum mismatch in the block at byte {offset}: the file is corrupt "
                              f"(download it again)")
        if compression == NO_COMPRESSION:
            return contents
        if compression == SNAPPY_COMPRESSION:
            try:
                return snappy_decompress(contents)
            except (ValueError, IndexError) as e:
                raise self._error(f"bad snappy data in the block at byte {offset}: {e}") from e
        raise self._error(f"block at byte {offset} has unknown compression type {compression}")

    def _records(self, contents: bytes) -> Iterator[tuple[bytes, bytes]]:
        if len(contents) < 4:
            raise self._error("a block too short to hold its restart count")
        (n_restarts,) = struct.unpack("<I", contents[-4:])
        records_end = len(contents) - 4 * (n_restarts + 1)
        if records_end < 0:
            raise self._error(f"a block claims {n_restarts} restart points, more than fit in it")
        key = b""
        position = 0
        while position < records_end:
            shared, position = read_varint(contents, position)
            unshared, position = read_varint(contents, position)
            value_size, position = read_varint(contents, position)
            if shared > len(key) or position + unshared + value_size > records_end:
                raise self._error("a block record runs past its block: the file is corrupt")
            key = key[:shared] + contents[position:position + unshared]
            position += unshared
            yield key, contents[position:position + value_size]
            position += value_size

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) of the table, in key order: the index block's values are the handles
        (varint64 offset, varint64 size) of the data blocks."""
        for _, handle in self._records(self.block(*self.index_handle)):
            offset, position = read_varint(handle, 0)
            size, _ = read_varint(handle, position)
            yield from self._records(self.block(offset, size))
