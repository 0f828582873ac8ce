"""Make `hmmr_tubes.tfrecord` with TensorFlow, as the HMMR authors' writer lays its keys out, and
check tfrecords that hmmr wrote with TensorFlow's own parser. Run once, by hand, in a throwaway venv;
neither TensorFlow nor this script is needed by the tests:

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    /tmp/tfvenv/bin/python tests/data/authors/make_tfrecord_fixture.py write tests/data/authors
    /tmp/tfvenv/bin/python tests/data/authors/make_tfrecord_fixture.py check OUR.tfrecord EXPECTED.npz

`write` makes two tubes: a training-layout one (augmented crops, keypoints normalised to the crop,
precomputed features, no 3D) and a test-layout one (keypoints in crop pixels, meta/time_pts, SMPL and
3D joints, scalar scale factors, no cams), and saves the arrays it gave TensorFlow in
`hmmr_tubes_expected.npz`. Records are serialized deterministically (map keys sorted), so a writer of the
same message can be compared byte for byte.
`check` parses every record of OUR.tfrecord with the feature spec of the authors' training reader
(src/util/data_utils.py, parse_example_proto_temporal, in TF2 names) and compares with EXPECTED.npz.
"""
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf


def _ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in np.ravel(values)]))


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in np.ravel(values)]))


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _crop(n, seed):
    """n smooth 224x224 RGB crops (gradients that shift per frame), JPEG-encoded by TensorFlow."""
    y, x = np.mgrid[0:224, 0:224]
    images = []
    for i in range(n):
        rgb = np.stack([(x + 7 * i + seed) % 256, (y * 2 + 3 * i) % 256, (x + y) // 2 % 256], -1).astype(np.uint8)
        images.append(tf.io.encode_jpeg(rgb, quality=90).numpy())
    return images


def _train_tube(rng):
    n = 3
    xy = rng.uniform(-0.9, 0.9, (n, 2, 25)).astype(np.float32)
    vis = (rng.random((n, 25)) > 0.25).astype(np.float32)
    vis[:, 13] = 0  # the head slot is never seen in OpenPose data
    labels = np.concatenate([xy * vis[:, None], vis[:, None]], axis=1)  # (n, 3, 25), unseen joints all zero
    arrays = dict(
        N=n, labels=labels, jpegs=_crop(n, 0), phis=rng.normal(0, 1, (n, 2048)).astype(np.float32),
        filenames=[f"/data/frames_raw/golf/45291523_465543033968251_8758165089434992640_n/{i + 1:06d}.jpg".encode()
                   for i in range(n)],
        heightwidths=np.full((n, 2), 224), centers=rng.integers(100, 200, (n, 2)),
        scale_factors=rng.uniform(0.5, 2, (n, 2)).astype(np.float32), crop_pts=rng.integers(0, 400, (n, 2)),
        cams=np.zeros((n, 3), np.float32), poses=-np.ones((n, 72), np.float32), shape=-np.ones(10, np.float32),
        gt3ds=np.zeros((n, 14, 3), np.float32), has_3d=0, has_3d_joints=0)
    return arrays


def _test_tube(rng):
    n = 2
    xy = rng.uniform(0, 224, (n, 2, 25)).astype(np.float32)
    vis = (rng.random((n, 25)) > 0.2).astype(np.float32)
    labels = np.concatenate([xy, vis[:, None]], axis=1)
    return dict(
        N=n, labels=labels, jpegs=_crop(n, 50), phis=None,
        filenames=[f"/data/3DPW/imageFiles/downtown_walking_00/image_{i:05d}.jpg".encode() for i in range(n)],
        heightwidths=np.full((n, 2), 224), centers=np.full((n, 2), 112), scale_factors=np.array([1.25, 1.3], np.float32),
        crop_pts=rng.integers(0, 900, (n, 2)), cams=np.zeros(0, np.float32),
        poses=rng.normal(0, 0.3, (n, 72)).astype(np.float32), shape=rng.normal(0, 1, 10).astype(np.float32),
        gt3ds=rng.normal(0, 0.5, (n, 14, 3)).astype(np.float32), has_3d=1, has_3d_joints=1,
        time_pts=np.array([7, 7 + n]))


def _example(t):
    labels = t["labels"]
    feature = {
        "meta/N": _ints([t["N"]]), "meta/has_3d": _ints([t["has_3d"]]), "meta/has_3d_joints": _ints([t["has_3d_joints"]]),
        "image/filenames": _bytes(t["filenames"]), "image/heightwidths": _ints(t["heightwidths"]),
        "image/xys": _floats(labels[:, 0:2, :14]), "image/visibilities": _ints(labels[:, 2, :14]),
        "image/face_pts": _floats(labels[:, :, 14:19]), "image/toe_pts": _floats(labels[:, :, 19:25]),
        "image/centers": _ints(t["centers"]), "image/scale_factors": _floats(t["scale_factors"]),
        "image/crop_pts": _ints(t["crop_pts"]), "image/cams": _floats(t["cams"]),
        "mosh/gt3ds": _floats(t["gt3ds"]), "mosh/poses": _floats(t["poses"]), "mosh/shape": _floats(t["shape"]),
        "image/encoded": _bytes(t["jpegs"]),
    }
    if t["phis"] is not None:
        feature["image/phis"] = _floats(t["phis"])
    if "time_pts" in t:
        feature["meta/time_pts"] = _ints(t["time_pts"])
    return tf.train.Example(features=tf.train.Features(feature=feature))


def write(folder):
    rng = np.random.default_rng(22)
    tubes = [_train_tube(rng), _test_tube(rng)]
    with tf.io.TFRecordWriter(str(Path(folder) / "hmmr_tubes.tfrecord")) as writer:
        for tube in tubes:
            writer.write(_example(tube).SerializeToString(deterministic=True))
    expected = {}
    for i, tube in enumerate(tubes):
        for key, value in tube.items():
            if value is None:
                continue
            if key == "jpegs":  # no pickled objects: the bytes end to end, and each one's length
                expected[f"{i}/jpeg_bytes"] = np.frombuffer(b"".join(value), np.uint8)
                expected[f"{i}/jpeg_lengths"] = np.array([len(v) for v in value])
            elif key == "filenames":
                expected[f"{i}/{key}"] = np.array(value, dtype=bytes)
            else:
                expected[f"{i}/{key}"] = np.asarray(value)
    np.savez(Path(folder) / "hmmr_tubes_expected.npz", **expected)


def check(path, expected_path):
    """Parse with the authors' training feature spec and compare each record with the expected arrays."""
    spec = {
        "meta/N": tf.io.FixedLenFeature((), tf.int64),
        "image/heightwidths": tf.io.VarLenFeature(tf.int64), "image/filenames": tf.io.VarLenFeature(tf.string),
        "image/centers": tf.io.VarLenFeature(tf.int64), "image/visibilities": tf.io.VarLenFeature(tf.int64),
        "image/xys": tf.io.VarLenFeature(tf.float32), "image/face_pts": tf.io.VarLenFeature(tf.float32),
        "image/toe_pts": tf.io.VarLenFeature(tf.float32),
        "meta/has_3d": tf.io.FixedLenFeature(1, tf.int64, default_value=0),
        "meta/has_3d_joints": tf.io.FixedLenFeature(1, tf.int64, default_value=0),
        "mosh/shape": tf.io.FixedLenFeature((10,), tf.float32), "mosh/poses": tf.io.VarLenFeature(tf.float32),
        "mosh/gt3ds": tf.io.VarLenFeature(tf.float32), "image/phis": tf.io.VarLenFeature(tf.float32),
        "image/encoded": tf.io.VarLenFeature(tf.string),
    }
    expected = np.load(expected_path)
    n_records = 0
    for i, record in enumerate(tf.data.TFRecordDataset(str(path))):
        parsed = tf.io.parse_single_example(record, spec)
        n = int(parsed["meta/N"])
        dense = {k: tf.sparse.to_dense(v).numpy() if isinstance(v, tf.SparseTensor) else v.numpy()
                 for k, v in parsed.items()}
        labels = np.concatenate([np.concatenate([dense["image/xys"].reshape(n, 2, 14),
                                                 dense["image/visibilities"].reshape(n, 1, 14)], 1),
                                 dense["image/face_pts"].reshape(n, 3, 5), dense["image/toe_pts"].reshape(n, 3, 6)], 2)
        np.testing.assert_allclose(labels, expected[f"{i}/labels"], atol=1e-6)
        images = [tf.io.decode_jpeg(b).numpy() for b in dense["image/encoded"]]
        assert all(image.shape == (224, 224, 3) for image in images), [image.shape for image in images]
        if f"{i}/phis" in expected:
            np.testing.assert_allclose(dense["image/phis"].reshape(n, 2048), expected[f"{i}/phis"], rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(dense["mosh/poses"].reshape(n, 72), expected[f"{i}/poses"], atol=1e-6)
        print(f"record {i}: {n} frames, labels {labels.shape}, {len(images)} JPEG crops, "
              f"phis {dense['image/phis'].size // max(n, 1)}-D, has_3d {int(dense['meta/has_3d'][0])}: as expected")
        n_records += 1
    print(f"{path}: {n_records} records read by TensorFlow {tf.__version__} with the authors' spec")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        check(sys.argv[2], sys.argv[3])
