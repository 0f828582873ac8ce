"""Makes the TensorFlow checkpoints and reference outputs in this folder. Run ONCE, by hand, in a
throwaway environment; never at test time, and TensorFlow is never a dependency of hmmr:

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu tf-slim tf-keras cramjam
    /tmp/tfenv/bin/python tests/checkpoints/data/make_tf_fixtures.py

(made with tensorflow-cpu 2.21.0, tf-slim 1.1.0, tf-keras 2.21.0, cramjam 2.x, Python 3.11, in graph mode.)

Writes, each well under 1 MB:
- tiny_hmr.ckpt.{index,data-00000-of-00001}: TF-slim's own `resnet_v2` under the scope `resnet_v2_50`,
  with resnet_v2_50's structure (4 blocks of 3, 4, 6, 3 bottleneck_v2 units, strides on the last unit
  of blocks 1-3, the 64-channel 7x7 stem, postnorm) and tiny bottleneck widths (4, 4, 8, 8), so every
  released variable name is there with the released layout; plus variables a real HMR checkpoint holds
  and a converter must leave alone (HMR's regressor, `mean_param`, `global_step`, Adam slots);
- tiny_hmmr.ckpt.*: the released HMMR head's variable scopes (src/models.py): the temporal encoder
  (contrib group_norm + [3, 1] convs), the hallucinator `fc2_res`, the IEF `single_view_ief` and the
  delta regressors `single_view_ief_{past,future}5`, `mean_param`, at tiny widths (32 channels, 16 norm
  groups, 16 hidden units), plus a discriminator variable and `global_step` to be ignored;
- tf_outputs.npz: fixed inputs and what TensorFlow computed from them with these weights;
- snappy_block.npz: one of tiny_hmr's index blocks, and the same compressed by snappy (raw format),
  for the reader's decompressor (TensorFlow 1.1 wrote snappy-compressed index blocks).
Every weight is random (fixed seeds) so that a wrong layout or a swapped variable changes the outputs.
"""
from __future__ import annotations

import importlib
import struct
import sys
from pathlib import Path

import cramjam
import numpy as np
import tensorflow as tf
import tf_slim as slim
from tf_slim.nets import resnet_utils, resnet_v2

HERE = Path(__file__).resolve().parent
WIDTH, GROUPS, HIDDEN, N_THETA, N_POSE = 32, 16, 16, 85, 72
GN_EPSILON = 1e-6  # tf.contrib.layers.group_norm's default


def _legacy_layers_shim() -> None:
    """TF-slim's batch_norm reaches tf.layers, which TensorFlow 2.21 loads from
    `tf_keras.legacy_tf_layers`; tf-keras 2.21 keeps those modules under `tf_keras.src`."""
    for module in ("legacy_tf_layers", "legacy_tf_layers.normalization", "legacy_tf_layers.base"):
        sys.modules[f"tf_keras.{module}"] = importlib.import_module(f"tf_keras.src.{module}")


def randomise(session, rng: np.random.Generator) -> None:
    """Give every variable a random value whose scale keeps a deep net's activations finite."""
    for variable in tf.compat.v1.global_variables():
        name, shape = variable.op.name, variable.shape.as_list()
        leaf = name.rsplit("/", 1)[-1]
        if leaf in ("weights", "Adam", "Adam_1") and len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1]))
            value = rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape)
        elif leaf == "gamma":
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf == "moving_variance":
            value = rng.uniform(0.5, 2.0, shape)
        elif leaf in ("beta", "biases", "moving_mean"):
            value = rng.normal(0.0, 0.2, shape)
        elif name == "mean_param":
            value = np.concatenate([[0.9, 0.0, 0.0, np.pi], rng.normal(0.0, 0.2, N_THETA - 4)])[None]
        elif name == "global_step":
            value = np.int64(642561)
        else:
            value = rng.normal(0.0, 0.5, shape)
        variable.load(np.asarray(value, dtype=variable.dtype.as_numpy_dtype), session)


def hmr_fixture(rng: np.random.Generator) -> dict[str, np.ndarray]:
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, (None, None, None, 3))
        blocks = [resnet_v2.resnet_v2_block("block1", base_depth=4, num_units=3, stride=2),
                  resnet_v2.resnet_v2_block("block2", base_depth=4, num_units=4, stride=2),
                  resnet_v2.resnet_v2_block("block3", base_depth=8, num_units=6, stride=2),
                  resnet_v2.resnet_v2_block("block4", base_depth=8, num_units=3, stride=1)]
        with slim.arg_scope(resnet_utils.resnet_arg_scope()):  # HMR's Encoder_resnet uses this arg scope
            net, _ = resnet_v2.resnet_v2(images, blocks, num_classes=None, is_training=False, global_pool=True,
                                         scope="resnet_v2_50")
        features = tf.squeeze(net, axis=[1, 2])
        # What else hmr_noS5 holds: HMR's regressor and its mean, the step, an optimizer slot.
        tf.compat.v1.get_variable("3D_module/fc1/weights", (6, 4))
        tf.compat.v1.get_variable("mean_param", (1, N_THETA))
        tf.compat.v1.get_variable("global_step", (), tf.int64)
        tf.compat.v1.get_variable("resnet_v2_50/conv1/weights/Adam", (7, 7, 3, 64))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            randomise(session, rng)
            saver.save(session, str(HERE / "tiny_hmr.ckpt"), write_meta_graph=False, write_state=False)
            # An even size (as 224, where TF's SAME max pool pads only at the end) and an odd one.
            even = rng.uniform(-1.0, 1.0, (2, 64, 64, 3)).astype(np.float32)
            odd = rng.uniform(-1.0, 1.0, (1, 45, 59, 3)).astype(np.float32)
            return {"hmr_images_even": even, "hmr_features_even": session.run(features, {images: even}),
                    "hmr_images_odd": odd, "hmr_features_odd": session.run(features, {images: odd})}


def group_norm(x, scope: str):
    """tf.contrib.layers.group_norm(x, channels_axis=-1, reduction_axes=(-3, -2)) on N x T x 1 x C, as
    the released temporal encoder calls it: statistics over time and each group's channels."""
    with tf.compat.v1.variable_scope(scope):
        channels = x.shape[-1]
        beta = tf.compat.v1.get_variable("beta", (channels,), initializer=tf.zeros_initializer())
        gamma = tf.compat.v1.get_variable("gamma", (channels,), initializer=tf.ones_initializer())
        n, t = tf.shape(x)[0], tf.shape(x)[1]
        grouped = tf.reshape(x, (n, t, 1, GROUPS, channels // GROUPS))
        mean, variance = tf.nn.moments(grouped, axes=[1, 2, 4], keepdims=True)
        normed = tf.reshape((grouped - mean) * tf.math.rsqrt(variance + GN_EPSILON), (n, t, 1, channels))
        return normed * gamma + beta


def temporal_encoder(net):
    """src/models.py's az_fc2_groupnorm: 3 blocks of GN -> ReLU -> [3, 1] conv, twice, plus the input."""
    for i in range(3):
        name = f"block_{i}"
        x = tf.expand_dims(net, axis=2)
        x = slim.conv2d(tf.nn.relu(group_norm(x, "AZ_FC_block_preact_gn1" + name)), WIDTH, [3, 1],
                        padding="SAME", activation_fn=None, scope="AZ_FC_block2_conv1" + name)
        x = slim.conv2d(tf.nn.relu(group_norm(x, "AZ_FC_block_preact_gn2" + name)), WIDTH, [3, 1],
                        padding="SAME", activation_fn=None, scope="AZ_FC_block2_conv2" + name)
        net = tf.squeeze(x, axis=2) + net
    return net


def ief(phi, start, scope: str, n_out: int):
    """src/models.py's hmr_ief: 3 steps of theta += fc3(fc2(fc1([phi, theta]))) in scope/3D_module."""
    with tf.compat.v1.variable_scope(scope):
        theta = start
        for _ in range(3):
            with tf.compat.v1.variable_scope("3D_module", reuse=tf.compat.v1.AUTO_REUSE):
                x = slim.fully_connected(tf.concat([phi, theta], 1), HIDDEN, scope="fc1")
                x = slim.fully_connected(x, HIDDEN, scope="fc2")  # dropout is off at test time
                theta = theta + slim.fully_connected(x, n_out, activation_fn=None, scope="fc3")
    return theta


def heads(strip, mean):
    """theta (85) from the mean, then the -5 / +5 poses (72) from theta's pose, as call_hmr_ief."""
    flat = tf.reshape(strip, (-1, WIDTH))
    theta = ief(flat, tf.tile(mean, (tf.shape(flat)[0], 1)), "single_view_ief", N_THETA)
    past = ief(flat, theta[:, 3:3 + N_POSE], "single_view_ief_past5", N_POSE)
    future = ief(flat, theta[:, 3:3 + N_POSE], "single_view_ief_future5", N_POSE)
    shape = tf.shape(strip)[:2]
    return [tf.reshape(x, tf.concat([shape, [-1]], 0)) for x in (theta, past, future)]


def hmmr_fixture(rng: np.random.Generator) -> dict[str, np.ndarray]:
    graph = tf.Graph()
    with graph.as_default():
        phi = tf.compat.v1.placeholder(tf.float32, (None, None, WIDTH))
        mean = tf.compat.v1.get_variable("mean_param", (1, N_THETA))
        strip = temporal_encoder(phi)
        with tf.compat.v1.variable_scope("fc2_res"):  # src/models.py's fc2_res hallucinator
            x = slim.fully_connected(phi, WIDTH, scope="fc1")
            x = slim.fully_connected(x, WIDTH, scope="fc2")
            hallucinated = slim.fully_connected(x, WIDTH, activation_fn=None, scope="fc3") + phi
        outputs = heads(strip, mean) + heads(hallucinated, mean)
        tf.compat.v1.get_variable("D_pose/fc1/weights", (9, 4))
        tf.compat.v1.get_variable("global_step", (), tf.int64)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            randomise(session, rng)
            saver.save(session, str(HERE / "tiny_hmmr.ckpt"), write_meta_graph=False, write_state=False)
            features = rng.normal(0.0, 1.0, (2, 15, WIDTH)).astype(np.float32)
            values = session.run([strip, hallucinated] + outputs, {phi: features})
    names = ["movie_strip", "hallucinated_strip", "theta", "past_pose", "future_pose",
             "hallucinated_theta", "hallucinated_past_pose", "hallucinated_future_pose"]
    return {"hmmr_features": features, **{f"hmmr_{name}": value for name, value in zip(names, values)}}


def snappy_fixture() -> dict[str, np.ndarray]:
    index = (HERE / "tiny_hmr.ckpt.index").read_bytes()
    offset = 0  # the first data block starts the file; its size is in the index handle, but any
    size = 1000  # prefix of real table bytes is a fair input for the decompressor
    raw = index[offset:offset + size]
    compressed = bytes(cramjam.snappy.compress_raw(raw))
    assert bytes(cramjam.snappy.decompress_raw(compressed)) == raw
    return {"raw": np.frombuffer(raw, np.uint8), "compressed": np.frombuffer(compressed, np.uint8)}


def main() -> None:
    tf.compat.v1.disable_eager_execution()
    _legacy_layers_shim()
    rng = np.random.default_rng(22)
    outputs = {**hmr_fixture(rng), **hmmr_fixture(rng)}
    np.savez_compressed(HERE / "tf_outputs.npz", **outputs)
    np.savez_compressed(HERE / "snappy_block.npz", **snappy_fixture())
    for key, value in outputs.items():
        print(f"{key}: {value.shape} |max| {np.abs(value).max():.3g}")
    for path in sorted(HERE.iterdir()):
        print(f"{path.name}: {path.stat().st_size} bytes")
    assert struct.unpack("<Q", (HERE / "tiny_hmr.ckpt.index").read_bytes()[-8:])[0] == 0xDB4775248B80FB57


if __name__ == "__main__":
    main()
