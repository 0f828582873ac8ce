"""The TensorFlow V2 checkpoint reader on checkpoints TensorFlow itself wrote (data/make_tf_fixtures.py),
and on damaged copies of them."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from checkpoints.errors import CheckpointError
from checkpoints.sstable import snappy_decompress
from checkpoints.tf_checkpoint import TFCheckpoint

DATA = Path(__file__).parent / "data"
TINY_HMR = DATA / "tiny_hmr.ckpt"


def copy_checkpoint(tmp_path: Path, prefix: Path = TINY_HMR) -> Path:
    for file in prefix.parent.glob(prefix.name + ".*"):
        shutil.copy(file, tmp_path / file.name)
    return tmp_path / prefix.name


def test_every_variable_with_its_dtype_shape_and_value():
    checkpoint = TFCheckpoint(TINY_HMR)
    names = checkpoint.names()
    # 16 units of 16 variables, 2 projection shortcuts, stem, postnorm; HMR's regressor, mean, step, an Adam slot.
    assert len(names) == 16 * 16 + 2 * 2 + 2 + 4 + 4
    assert "resnet_v2_50/block3/unit_6/bottleneck_v2/conv2/BatchNorm/moving_variance" in names
    assert "resnet_v2_50/block1/unit_1/bottleneck_v2/shortcut/biases" in names
    assert "resnet_v2_50/block1/unit_2/bottleneck_v2/shortcut/weights" not in names  # identity shortcut
    assert checkpoint.entry("resnet_v2_50/conv1/weights").shape == (7, 7, 3, 64)
    stem = checkpoint.read("resnet_v2_50/conv1/weights")
    assert stem.dtype == np.float32 and stem.shape == (7, 7, 3, 64) and 0.05 < stem.std() < 0.2
    assert checkpoint.read("global_step") == 642561  # an int64 scalar
    mean = checkpoint.read("mean_param")
    assert mean.shape == (1, 85) and np.allclose(mean[0, :4], [0.9, 0.0, 0.0, np.pi])


def test_the_prefix_its_index_or_its_data_file_name_the_same_checkpoint():
    via_index = TFCheckpoint(str(TINY_HMR) + ".index")
    via_data = TFCheckpoint(str(TINY_HMR) + ".data-00000-of-00001")
    assert via_index.prefix == via_data.prefix == TINY_HMR
    assert np.array_equal(via_index.read("resnet_v2_50/postnorm/gamma"), via_data.read("resnet_v2_50/postnorm/gamma"))


def test_a_flipped_byte_in_a_tensor_fails_its_checksum(tmp_path):
    prefix = copy_checkpoint(tmp_path)
    checkpoint = TFCheckpoint(prefix)
    entry = checkpoint.entry("resnet_v2_50/block2/unit_3/bottleneck_v2/conv2/weights")
    data = Path(str(prefix) + ".data-00000-of-00001")
    raw = bytearray(data.read_bytes())
    raw[entry.offset + 5] ^= 0x10
    data.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum mismatch in 'resnet_v2_50/block2/unit_3"):
        checkpoint.read(entry.name)
    checkpoint.read("resnet_v2_50/conv1/weights")  # the other tensors are still good


def test_a_damaged_index_is_refused_with_the_file_named(tmp_path):
    prefix = copy_checkpoint(tmp_path)
    index = Path(str(prefix) + ".index")
    raw = bytearray(index.read_bytes())
    raw[100] ^= 0x01  # inside the first data block
    index.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"tiny_hmr\.ckpt\.index: checksum mismatch in the block at byte 0"):
        TFCheckpoint(prefix)
    index.write_bytes(bytes(raw[:-3]))  # cut short: the footer's magic number is gone
    with pytest.raises(CheckpointError, match="no table magic number"):
        TFCheckpoint(prefix)


def test_missing_files_say_what_a_checkpoint_is_made_of(tmp_path):
    with pytest.raises(CheckpointError, match=r"expected model\.ckpt\.index and model\.ckpt\.data-00000-of-00001"):
        TFCheckpoint(tmp_path / "model.ckpt")
    prefix = copy_checkpoint(tmp_path)
    Path(str(prefix) + ".data-00000-of-00001").unlink()
    checkpoint = TFCheckpoint(prefix)  # the index alone still lists the variables
    with pytest.raises(CheckpointError, match="missing; a checkpoint needs its .index and every .data"):
        checkpoint.read("mean_param")
    with pytest.raises(CheckpointError, match="no variable 'resnet_v2_101/conv1/weights'"):
        checkpoint.entry("resnet_v2_101/conv1/weights")


def test_snappy_blocks_of_old_checkpoints_decompress():
    # A real index block compressed by the snappy library (data/make_tf_fixtures.py).
    vectors = np.load(DATA / "snappy_block.npz")
    assert snappy_decompress(vectors["compressed"].tobytes()) == vectors["raw"].tobytes()
    # Hand-made: literal "abcd", then a 1-byte-offset copy of 6 bytes from 4 back (overlapping itself).
    assert snappy_decompress(bytes([10, 3 << 2]) + b"abcd" + bytes([(6 - 4) << 2 | 1, 4])) == b"abcdabcdab"
    with pytest.raises(ValueError, match="decompressed to 4 bytes, its header says 5"):
        snappy_decompress(bytes([5, 3 << 2]) + b"abcd")
