"""The authors' tfrecords: read against a fixture TensorFlow wrote, written byte-compatibly with it,
imported through the real runner as a dataset, and exported back (import(export(x)) == x)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from authors.example import _fields, decode_example, encode_example
from authors.hmmr_records import HmmrRecordError, example_features_of, hmmr_tube_of
from authors.tfrecord import RecordError, frame_record, read_records, record_offsets
from authors.tfrecord_import import TfrecordImportConfig
from manifests import FEATURES, TARGETS, TUBES, VIDEOS, read_table
from media.jpeg_stream import read_jpeg_packets
from pipelines.authors_import import export_tfrecords, import_tfrecords
from pipelines.runner import RunnerConfig

DATA = Path(__file__).resolve().parents[1] / "data" / "authors"
FIXTURE = DATA / "hmmr_tubes.tfrecord"  # written by TensorFlow: make_tfrecord_fixture.py
RUNNER = RunnerConfig(progress=False)


@pytest.fixture(scope="module")
def expected():
    return np.load(DATA / "hmmr_tubes_expected.npz")


def jpegs_of(expected, i):
    lengths = expected[f"{i}/jpeg_lengths"]
    data = expected[f"{i}/jpeg_bytes"].tobytes()
    ends = np.cumsum(lengths)
    return [data[end - n:end] for n, end in zip(lengths, ends)]


def map_entries(record: bytes) -> dict[str, bytes]:
    """{feature name: the serialized map entry} of one Example: protobuf maps are unordered, entries are not."""
    (_, _, features), = list(_fields(record))
    entries = {}
    for _, _, entry in _fields(features):
        key = next(bytes(v) for number, _, v in _fields(entry) if number == 1).decode()
        entries[key] = bytes(entry)
    return entries


def test_reads_the_fixture_tensorflow_wrote_as_the_authors_writer_lays_it_out(expected):
    records = list(read_records(FIXTURE))
    assert len(records) == 2
    train = hmmr_tube_of(decode_example(records[0]), "fixture#0")
    labels = expected["0/labels"]  # (N, 3, 25): x row, y row, visibility row, as their writer takes labels
    assert train.layout == "train" and train.n_frames == 3
    np.testing.assert_array_equal(train.keypoints, labels.transpose(0, 2, 1))
    np.testing.assert_array_equal(train.phis, expected["0/phis"])
    assert train.jpegs == jpegs_of(expected, 0)
    assert train.poses is None and train.shape is None and train.joints_3d is None  # has_3d 0: -1 placeholders
    np.testing.assert_array_equal(train.scale_factors, expected["0/scale_factors"])
    assert train.filenames[0].endswith("/golf/45291523_465543033968251_8758165089434992640_n/000001.jpg")

    test = hmmr_tube_of(decode_example(records[1]), "fixture#1")
    assert test.layout == "test" and test.n_frames == 2 and test.phis is None
    np.testing.assert_array_equal(test.keypoints, expected["1/labels"].transpose(0, 2, 1))
    np.testing.assert_array_equal(test.joints_3d, expected["1/gt3ds"])
    np.testing.assert_array_equal(test.poses, expected["1/poses"])
    np.testing.assert_array_equal(test.shape, expected["1/shape"])
    np.testing.assert_array_equal(test.time_pts, [7, 9])
    assert test.scale_factors.shape == (2, 1) and test.cams.shape == (0, 3)


def test_our_writer_makes_the_bytes_tensorflow_made():
    raw = FIXTURE.read_bytes()
    records = list(read_records(FIXTURE))
    assert b"".join(frame_record(r) for r in records) == raw  # framing and masked CRC-32C
    for record in records:
        ours = encode_example(example_features_of(hmmr_tube_of(decode_example(record), "fixture")))
        assert map_entries(ours) == map_entries(record)  # every feature serialized byte for byte alike


def test_unpacked_numbers_and_the_docs_key_spellings_are_read():
    # A FloatList / Int64List written unpacked (one tag per value) is legal protobuf; doc/datasets.md says
    # image/toes_pts and image/phi where the code writes image/toe_pts and image/phis.
    features = decode_example(next(read_records(FIXTURE)))
    features["image/toes_pts"] = features.pop("image/toe_pts")
    features["image/phi"] = features.pop("image/phis")
    tube = hmmr_tube_of(features, "renamed")
    assert tube.phis is not None and tube.keypoints[:, 19:, 2].any()
    def ld(number, payload):  # a length-delimited field (payloads here are under 128 bytes)
        return bytes([number << 3 | 2, len(payload)]) + payload

    unpacked_floats = b"".join(bytes([0x0D]) + np.float32(v).tobytes() for v in (2.5, -1.0))  # field 1, fixed32
    unpacked_ints = bytes([0x08, 0x05, 0x08]) + b"\xff" * 9 + b"\x01"  # field 1 varints: 5 and -1
    entries = (ld(1, ld(1, b"f") + ld(2, ld(2, unpacked_floats)))  # Feature.float_list = 2
               + ld(1, ld(1, b"i") + ld(2, ld(3, unpacked_ints))))  # Feature.int64_list = 3
    decoded = decode_example(ld(1, entries))
    np.testing.assert_array_equal(decoded["f"], [2.5, -1.0])
    np.testing.assert_array_equal(decoded["i"], [5, -1])


def test_a_torn_or_corrupt_file_is_refused_naming_the_record(tmp_path):
    raw = FIXTURE.read_bytes()
    torn = tmp_path / "torn.tfrecord"
    torn.write_bytes(raw[:-100])
    with pytest.raises(RecordError, match=r"torn.tfrecord: record 1 is truncated"):
        list(read_records(torn))
    with pytest.raises(RecordError, match=r"record 1 is truncated"):
        record_offsets(torn)
    flipped = bytearray(raw)
    flipped[200] ^= 0xFF
    corrupt = tmp_path / "corrupt.tfrecord"
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(RecordError, match=r"record 0: the data checksum does not match"):
        list(read_records(corrupt))
    features = decode_example(next(read_records(FIXTURE)))
    del features["image/xys"]
    with pytest.raises(HmmrRecordError, match=r"t#3: no 'image/xys'"):
        hmmr_tube_of(features, "t#3")


def authors_tree(tmp_path) -> Path:
    """The authors' layout: <rootdir>/<dataset>/<split>/*.tfrecord."""
    folder = tmp_path / "tf_datasets" / "insta_variety" / "train"
    folder.mkdir(parents=True)
    shutil.copy(FIXTURE, folder / "insta_variety_00_copy00_hmr_noS5.ckpt-642561.tfrecord")
    return tmp_path / "tf_datasets"


def imported(root):
    tubes = read_table(root, TUBES).sort_values("tube_id").reset_index(drop=True)
    targets = read_table(root, TARGETS).sort_values("tube_id").reset_index(drop=True)
    features = read_table(root, FEATURES).sort_values("tube_id").reset_index(drop=True)
    videos = read_table(root, VIDEOS).sort_values("video_id").reset_index(drop=True)
    return tubes, targets, features, videos


def test_import_makes_a_dataset_of_stand_in_videos_and_a_rerun_does_nothing(client, root, tmp_path, expected):
    stats = import_tfrecords(client, root, [authors_tree(tmp_path)], None, None, TfrecordImportConfig(), RUNNER)
    assert (stats.n_ok, stats.n_failed) == (2, 0), stats.failures
    tubes, targets, features, videos = imported(root)
    assert list(tubes["dataset"]) == ["insta_variety"] * 2 and list(tubes["split"]) == ["train"] * 2
    assert list(tubes["n_frames"]) == [3, 2] and list(videos["codec"]) == ["mjpeg"] * 2
    # The stand-in video holds the file's JPEG crops unchanged.
    assert read_jpeg_packets(root.path / videos["media_path"][0]) == jpegs_of(expected, 0)
    # Training layout: crop units -> crop pixels; unseen joints (0, 0, 0).
    labels = expected["0/labels"].transpose(0, 2, 1)
    pixels = np.stack(targets["keypoints"][0]).reshape(3, 25, 3)
    seen = labels[..., 2] > 0
    np.testing.assert_allclose(pixels[seen][:, :2], (labels[seen][:, :2] + 1) * 112, atol=1e-4)
    assert (pixels[~seen] == 0).all()
    # The trainer's crop units from the tube's box are the file's keypoints again.
    box = np.stack(tubes["bbox"][0])
    np.testing.assert_allclose(box, [[112, 112, 1]] * 3)
    np.testing.assert_allclose(((pixels[..., :2] - 112) / 112)[seen], labels[..., :2][seen], atol=1e-6)
    np.testing.assert_allclose(np.stack(features["features"][0]), expected["0/phis"], rtol=1e-3, atol=1e-3)
    assert features["extractor"][0] == "hmr_noS5.ckpt-642561" and len(features) == 1  # the test tube has no phis
    assert targets["joints_3d"][0] is None and targets["source"][0].endswith("copy00_hmr_noS5.ckpt-642561.tfrecord#0")
    np.testing.assert_allclose(np.stack(targets["joints_3d"][1]).reshape(2, 14, 3), expected["1/gt3ds"])
    np.testing.assert_allclose(np.asarray(targets["shape"][1]), expected["1/shape"])
    again = import_tfrecords(client, root, [authors_tree(tmp_path / "again")], None, None, TfrecordImportConfig(),
                             RUNNER)
    assert again.n_due == 0


def test_export_then_import_gives_the_same_dataset_and_the_same_records(client, root, tmp_path, expected):
    import_tfrecords(client, root, [authors_tree(tmp_path)], None, None, TfrecordImportConfig(), RUNNER)
    written = export_tfrecords(root, tmp_path / "out", progress=False)
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == \
        ["insta_variety/train/insta_variety_00_copy00.tfrecord"]
    # export(import(t)) == t: every feature of every record byte for byte (crops, paths, boxes, 3D, ...), but
    # the phis (float16 here) and the normalised keypoints (through pixels and back: a float32 ulp, and an
    # unseen joint's -0.0 written as 0.0).
    approximate = {"image/phis": 1e-2, "image/xys": 1e-6, "image/face_pts": 1e-6, "image/toe_pts": 1e-6}
    for ours, theirs in zip(read_records(written[0]), read_records(FIXTURE)):
        mine, original = map_entries(ours), map_entries(theirs)
        assert set(mine) == set(original)
        assert {k: v for k, v in mine.items() if k not in approximate} == \
            {k: v for k, v in original.items() if k not in approximate}
        mine, original = decode_example(ours), decode_example(theirs)
        for key, tolerance in approximate.items():
            if key in original:
                np.testing.assert_allclose(mine[key], original[key], atol=tolerance, rtol=1e-3, err_msg=key)
    # import(export(x)) == x
    again = type(root)(tmp_path / "again")
    import_tfrecords(client, again, [tmp_path / "out"], None, None, TfrecordImportConfig(), RUNNER)
    first, second = imported(root), imported(again)
    for a, b in zip(first[:3], second[:3]):
        for column in a.columns:
            if column in ("tube_id", "video_id", "source", "tubes_flush"):
                continue
            for x, y in zip(a[column], b[column]):
                if x is None or isinstance(x, str):
                    assert x == y, column
                else:
                    np.testing.assert_allclose(np.stack(x) if np.ndim(x) and len(x) and np.ndim(x[0]) else x,
                                               np.stack(y) if np.ndim(y) and len(y) and np.ndim(y[0]) else y,
                                               atol=1e-4, err_msg=column)
    for a, b in zip(first[3]["media_path"], second[3]["media_path"]):
        assert (root.path / a).read_bytes() == (again.path / b).read_bytes()


def test_the_stand_in_crops_feed_our_features_stage_on_request(client, root, tmp_path):
    from pipelines.features import extract_features
    from train.features import FeatureConfig, JitterConfig

    import_tfrecords(client, root, [authors_tree(tmp_path)], None, None, TfrecordImportConfig(), RUNNER)
    config = FeatureConfig(jitter=JitterConfig(views=0))
    assert extract_features(client, root, config, RUNNER).n_input == 0  # the authors' phis are left alone
    stats = extract_features(client, root, config, RUNNER, imported=True)
    assert (stats.n_ok, stats.n_failed) == (2, 0), stats.failures
    features = read_table(root, FEATURES).sort_values("tube_id")
    assert list(features["extractor"]) == ["resnet50"] * 2 and list(features["n_frames"]) == [3, 2]


def test_our_own_tubes_export_with_their_crops_keypoints_and_features(client, root, tmp_path):
    """A tube of a real video (a clip ffmpeg made), with two feature views: each copy holds that view's
    224x224 crops and keypoints in that view's crop units, as our trainer computes them."""
    import io

    import pandas as pd
    from PIL import Image

    from conftest import make_clip
    from manifests.joints import BODY_25, HMMR_25, convert_joints
    from media.decode import DecodeConfig, open_stream
    from manifests.rows import FeatureRows, TubeRows, VideoRows
    from manifests.status import UnitPayload, UnitResult
    from pipelines.runner import run_stage
    from pipelines.scheduler import InProcessScheduler
    from pipelines.stage import Stage
    from train.store_update import crop_coordinates
    from train.features import crop

    media = root.path / "media" / "clip-a.mp4"
    media.parent.mkdir(parents=True)
    make_clip(media, seconds=2.0, size="320x240", rate=10)
    n, rng = 12, np.random.default_rng(3)
    keypoints = np.zeros((n, 25, 3), np.float32)
    keypoints[..., 0] = rng.uniform(100, 220, (n, 25))
    keypoints[..., 1] = rng.uniform(40, 200, (n, 25))
    keypoints[..., 2] = rng.choice([0.05, 0.6, 0.9], (n, 25))
    boxes = [np.tile([160.0, 120.0, 1.2], (n, 1)).astype(np.float32),
             np.tile([170.0, 110.0, 1.5], (n, 1)).astype(np.float32)]
    vectors = [rng.normal(0, 1, (n, 2048)).astype(np.float16) for _ in boxes]

    def rows(payload, context):
        return UnitResult(rows=(
            VideoRows(video_id=["clip-a"], dataset=["mine"], query=["q"], url=["u"], webpage_url=[None],
                      media_path=["media/clip-a.mp4"], sha256=["0" * 64], n_bytes=[1], duration_s=[2.0], fps=[10.0],
                      width=[320], height=[240], codec=["h264"], uploader=[None], upload_date=[None], license=[None],
                      title=[None], harvested_at=[pd.Timestamp.now(tz="UTC")], split=["train"]),
            TubeRows(tube_id=["clip-a-t0-4"], video_id=["clip-a"], dataset=["mine"], split=["train"], track_id=[0],
                     shot=[0], start_frame=[4], end_frame=[4 + n], n_frames=[n], fps=[10.0],
                     keypoints=[keypoints.reshape(n, 75)], bbox=[boxes[0]], mean_confidence=[0.7],
                     mean_visible_joints=[15.0]),
            FeatureRows(tube_id=["clip-a-t0-4"] * 2, video_id=["clip-a"] * 2, view=[0, 1], n_frames=[n] * 2,
                        bbox=boxes, flipped=[False, False], features=vectors, extractor=["resnet50"] * 2, extractor_version=["1"] * 2,
                        tubes_flush=["f"] * 2)))

    run_stage(InProcessScheduler(), root, Stage("import", "test", (VIDEOS, TUBES, FEATURES), rows),
              [UnitPayload(unit_id="clip-a")], RUNNER)
    written = export_tfrecords(root, tmp_path / "out", views=2, progress=False)
    assert [p.name for p in written] == ["mine_00_copy00.tfrecord", "mine_00_copy01.tfrecord"]
    _, decoded = open_stream(media, DecodeConfig(fps=10.0))
    frames = [f.rgb for f in decoded][4:4 + n]
    for view, path in enumerate(written):
        (record,) = list(read_records(path))
        tube = hmmr_tube_of(decode_example(record), path.name)
        hmmr = convert_joints(keypoints, BODY_25, HMMR_25)
        units, _ = crop_coordinates(hmmr, boxes[view])  # what our trainer trains on
        seen = hmmr[..., 2] >= 0.1
        np.testing.assert_array_equal(tube.keypoints[..., 2], seen)
        np.testing.assert_allclose(tube.keypoints[..., :2][seen], units[seen], atol=1e-5)
        assert (tube.keypoints[..., :2][~seen] == 0).all()
        np.testing.assert_array_equal(tube.phis, vectors[view].astype(np.float32))
        for jpeg, rgb, box in zip(tube.jpegs, frames, boxes[view]):
            image = np.asarray(Image.open(io.BytesIO(jpeg)))
            assert image.shape == (224, 224, 3)
            assert np.abs(image.astype(int) - crop(rgb, *box).astype(int)).mean() < 4  # JPEG at quality 95
        assert tube.filenames[0] == "clip-a.mp4#4" and tube.poses is None
