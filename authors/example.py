"""tf.train.Example, the protobuf message inside each tfrecord, encoded and decoded without protobuf.

The message is small and fixed:
    Example  { Features features = 1; }
    Features { map<string, Feature> feature = 1; }      (map entry: key = 1, value = 2)
    Feature  { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }
    FloatList { repeated float value = 1 [packed]; }      (readers must also accept unpacked floats)
    Int64List { repeated int64 value = 1 [packed]; }      (and unpacked ints)
A feature decodes to a list of bytes, a float32 array or an int64 array.
"""
from __future__ import annotations

from typing import Mapping, Union

import numpy as np
from manifests.errors import InputError

FeatureValue = Union[list, np.ndarray]  # list[bytes] | float32 array | int64 array

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


class ExampleError(InputError, ValueError):
    """Bytes that are not a tf.train.Example."""


# ---------------------------------------------------------------- decoding


def _varint(data: bytes, at: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if at >= len(data):
            raise ExampleError("truncated varint")
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, at
        shift += 7
        if shift > 63:
            raise ExampleError("varint longer than 10 bytes")


def _fields(data: bytes):
    """(field number, wire type, value) for each field of one message; value is an int or a bytes slice."""
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        number, wire = tag >> 3, tag & 7
        if wire == _VARINT:
            value, at = _varint(data, at)
        elif wire == _LENGTH_DELIMITED:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise ExampleError(f"field {number} runs past the end of its message")
            value, at = data[at:at + length], at + length
        elif wire == _FIXED32:
            value, at = data[at:at + 4], at + 4
        elif wire == _FIXED64:
            value, at = data[at:at + 8], at + 8
        else:
            raise ExampleError(f"unknown wire type {wire} for field {number}")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _decode_packed_varints(data: memoryview) -> np.ndarray:
    """Every varint of a packed field at once (a tube has thousands of visibilities and centres)."""
    buf = np.frombuffer(data, np.uint8)
    if not len(buf):
        return np.zeros(0, np.int64)
    if buf[-1] & 0x80:
        raise ExampleError("truncated packed varint")
    ends = np.flatnonzero(buf < 0x80)  # the last byte of each varint has its high bit clear
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > 10:
        raise ExampleError("varint longer than 10 bytes")
    shift = (7 * (np.arange(len(buf)) - np.repeat(starts, lengths))).astype(np.uint64)
    groups = (buf & 0x7F).astype(np.uint64) << shift  # disjoint bits: their sum is their OR
    return np.add.reduceat(groups, starts).view(np.int64)


def _encode_packed_varints(values: np.ndarray) -> bytes:
    """Protobuf varints of int64 values (negative ones as ten bytes of two's complement), vectorised."""
    unsigned = np.asarray(values, np.int64).ravel().view(np.uint64)
    lengths = np.ones(len(unsigned), np.int64)
    for k in range(1, 10):
        lengths += (unsigned >> np.uint64(7 * k)) > 0
    out = np.zeros(int(lengths.sum()), np.uint8)
    starts = np.cumsum(lengths) - lengths
    for k in range(10):
        mine = lengths > k
        if not mine.any():
            break
        group = ((unsigned[mine] >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        more = (lengths[mine] > k + 1).astype(np.uint8) << 7
        out[starts[mine] + k] = group | more
    return out.tobytes()


def _decode_feature(data: bytes) -> FeatureValue:
    kind, body = None, b""
    for number, _, value in _fields(data):
        kind, body = number, value  # a oneof: the last one wins, as protobuf has it
    if kind == 1:
        return [bytes(value) for number, _, value in _fields(body) if number == 1]
    if kind == 2:
        parts = []
        for number, wire, value in _fields(body):
            if number == 1:
                parts.append(value)  # packed: many floats; unpacked: one 4-byte float
        return np.frombuffer(b"".join(parts), dtype="<f4").astype(np.float32)
    if kind == 3:
        arrays = []
        for number, wire, value in _fields(body):
            if number != 1:
                continue
            arrays.append(np.array([_signed(value)], np.int64) if wire == _VARINT else _decode_packed_varints(value))
        return np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
    return np.zeros(0, np.float32)  # an empty Feature: no kind set


def decode_example(data: bytes) -> dict[str, FeatureValue]:
    """{feature name: list of bytes | float32 array | int64 array} of one serialized Example."""
    features: dict[str, FeatureValue] = {}
    data = memoryview(data)  # slices of a memoryview are views: a 4 MB record is not copied per level
    try:
        for number, wire, value in _fields(data):
            if number != 1 or wire != _LENGTH_DELIMITED:
                continue
            for entry_number, entry_wire, entry in _fields(value):
                if entry_number != 1 or entry_wire != _LENGTH_DELIMITED:
                    continue
                key, feature = "", b""
                for part_number, _, part in _fields(entry):
                    if part_number == 1:
                        key = bytes(part).decode("utf-8")
                    elif part_number == 2:
                        feature = part
                features[key] = _decode_feature(feature)
    except (ExampleError, UnicodeDecodeError) as e:
        raise ExampleError(f"not a tf.train.Example: {e}") from e
    return features


# ---------------------------------------------------------------- encoding


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64: ten bytes of two's complement, as protobuf writes them
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _LENGTH_DELIMITED) + _encode_varint(len(payload)) + payload


def _encode_feature(value: FeatureValue) -> bytes:
    if isinstance(value, (list, tuple)):
        items = b"".join(_length_delimited(1, bytes(item)) for item in value)
        return _length_delimited(1, items)
    array = np.asarray(value)
    if array.dtype.kind == "f":
        packed = array.astype("<f4").ravel().tobytes()
        return _length_delimited(2, _length_delimited(1, packed) if packed else b"")
    if array.dtype.kind in "iub":
        packed = _encode_packed_varints(array)
        return _length_delimited(3, _length_delimited(1, packed) if packed else b"")
    raise TypeError(f"a feature is a list of bytes, or a float or integer array; got {array.dtype}")


def encode_example(features: Mapping[str, FeatureValue]) -> bytes:
    """Serialize {name: list of bytes | float array | integer array} as a tf.train.Example (keys sorted)."""
    entries = b"".join(
        _length_delimited(1, _length_delimited(1, name.encode("utf-8")) + _length_delimited(2, _encode_feature(value)))
        for name, value in sorted(features.items()))
    return _length_delimited(1, entries)

