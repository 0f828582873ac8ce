"""A mannequin in SMPL's format, for tests and the demo, which cannot download the real model.

SMPL's own numbers of vertices (6890) and faces (13776), its 24 joints in its rest T-pose, a closed
surface (one capsule per body part, so a render looks like a person and covers what its vertices
cover), each part skinned to the joint that moves it, and the same vertex at the top of the head
(`HEAD_TOP_VERTEX`). Not SMPL: its proportions are rough and its shape space has two directions
(size and girth).
"""
from __future__ import annotations

import numpy as np

from train.body import HEAD_TOP_VERTEX  # the vertex the head-top joint is read from

N_VERTICES, N_FACES = 6890, 13776

# SMPL's 24 joints in its rest pose (metres; +x is the body's left, +y up, +z forward), roughly.
REST_JOINTS = np.array([
    (0.0, 0.0, 0.0), (0.06, -0.09, 0.0), (-0.06, -0.09, 0.0), (0.0, 0.11, -0.01),  # pelvis, hips, spine1
    (0.10, -0.47, 0.0), (-0.10, -0.47, 0.0), (0.0, 0.24, 0.0),  # knees, spine2
    (0.09, -0.87, -0.04), (-0.09, -0.87, -0.04), (0.0, 0.30, 0.0),  # ankles, spine3
    (0.11, -0.93, 0.08), (-0.11, -0.93, 0.08), (0.0, 0.51, -0.02),  # feet, neck
    (0.07, 0.42, -0.02), (-0.07, 0.42, -0.02), (0.0, 0.60, 0.01),  # collars, head
    (0.17, 0.45, -0.02), (-0.17, 0.45, -0.02), (0.43, 0.44, -0.04), (-0.43, 0.44, -0.04),  # shoulders, elbows
    (0.68, 0.44, -0.03), (-0.68, 0.44, -0.03), (0.76, 0.44, -0.03), (-0.76, 0.44, -0.03),  # wrists, hands
])
SMPL_PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21])

# Body parts: (start point, end point, radius across, radius front-to-back, the joint that moves it,
# share of the vertices). The torso and head are fat capsules; the limbs run joint to joint.
_PARTS = (
    ((0.0, -0.12, 0.0), (0.0, 0.47, -0.02), 0.16, 0.11, None, 0.22),  # torso: skinned by height, below
    ((0.0, 0.56, 0.01), (0.0, 0.70, 0.01), 0.09, 0.10, 15, 0.08),  # head (its top pole is HEAD_TOP_VERTEX)
    *(part for side in (0, 1) for part in (
        (REST_JOINTS[16 + side], REST_JOINTS[18 + side], 0.05, 0.05, 16 + side, 0.06),  # upper arm
        (REST_JOINTS[18 + side], REST_JOINTS[20 + side], 0.04, 0.04, 18 + side, 0.05),  # forearm
        (REST_JOINTS[20 + side], REST_JOINTS[22 + side] + (0.05 - 0.1 * side, 0, 0), 0.035, 0.02, 20 + side, 0.03),
        (REST_JOINTS[1 + side], REST_JOINTS[4 + side], 0.075, 0.075, 1 + side, 0.07),  # thigh
        (REST_JOINTS[4 + side], REST_JOINTS[7 + side], 0.05, 0.05, 4 + side, 0.05),  # shin
        (REST_JOINTS[7 + side] + (0, 0, -0.04), REST_JOINTS[10 + side] + (0, 0, 0.06), 0.04, 0.035, 7 + side,
         0.025),  # foot
    )),
)
_TORSO_JOINTS = (0, 3, 6, 9, 12)  # pelvis, spine1..3, neck: the torso's vertices go to the nearest in height


def _capsule(start: np.ndarray, end: np.ndarray, radius_x: float, radius_z: float, n_vertices: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """A closed UV-sphere surface stretched from `start` to `end` (poles at both), n_vertices = 2 + rings *
    segments (rounded down to that form; the caller pads). Returns vertices (n, 3) and faces (2n - 4, 3)."""
    segments = max(6, int(round(np.sqrt((n_vertices - 2) / 2))))
    rings = max(2, (n_vertices - 2) // segments)
    polar = np.linspace(0, np.pi, rings + 2)[1:-1]
    around = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    p, a = np.meshgrid(polar, around, indexing="ij")
    direction = (end - start) / np.linalg.norm(end - start)
    # Overlap the neighbouring parts at the joints instead of pinching to a point there.
    start, end = start - direction * 0.6 * radius_x, end + direction * 0.6 * radius_x
    length = np.linalg.norm(end - start)
    side = np.cross(direction, (0.0, 0.0, 1.0))
    side = side / np.linalg.norm(side) if np.linalg.norm(side) > 1e-6 else np.array([1.0, 0.0, 0.0])
    front = np.cross(side, direction)
    # Along the axis: cos of the polar angle, squashed so the middle is a cylinder and the ends are round.
    along = (0.5 - 0.5 * np.sign(np.cos(p)) * np.abs(np.cos(p)) ** 0.5)[..., None] * length
    girth = np.sin(p)[..., None] ** 0.5
    ring = girth * (radius_x * np.cos(a)[..., None] * side + radius_z * np.sin(a)[..., None] * front)
    middle = (np.asarray(start, float) + along * direction + ring).reshape(-1, 3)
    vertices = np.concatenate([[start], middle, [end]])
    last = len(vertices) - 1

    def index(r: int, s: int) -> int:
        return 1 + r * segments + s % segments

    faces = [(0, index(0, s + 1), index(0, s)) for s in range(segments)]
    faces += [(last, index(rings - 1, s), index(rings - 1, s + 1)) for s in range(segments)]
    faces += [face for r in range(rings - 1) for s in range(segments) for face in (
        (index(r, s), index(r, s + 1), index(r + 1, s)), (index(r, s + 1), index(r + 1, s + 1), index(r + 1, s)))]
    return vertices, np.asarray(faces, np.int64)


def mannequin(seed: int = 0) -> dict[str, np.ndarray]:
    """The arrays of an SMPL model file (without the sparse J_regressor's type): v_template (6890, 3),
    f (13776, 3), weights (6890, 24), J_regressor (24, 6890) dense, kintree_table, shapedirs (6890, 3, 10),
    posedirs (6890, 3, 207)."""
    rng = np.random.default_rng(seed)
    budget = [int(share * N_VERTICES) for *_, share in _PARTS]
    budget[0] += N_VERTICES - sum(budget)
    vertices, faces, owners = [], [], []
    for (start, end, radius_x, radius_z, joint, _), n in zip(_PARTS, budget):
        part, part_faces = _capsule(np.asarray(start, float), np.asarray(end, float), radius_x, radius_z, n)
        offset = sum(len(v) for v in vertices)
        vertices.append(part)
        faces.append(part_faces + offset)
        owners.append(np.full(len(part), -1 if joint is None else joint))
    v_template, f, owner = np.concatenate(vertices), np.concatenate(faces), np.concatenate(owners)
    # The rounding above leaves a few vertices over: extra copies of the torso's bottom pole, in no face.
    spare = N_VERTICES - len(v_template)
    v_template = np.concatenate([v_template, np.repeat(v_template[:1], spare, 0)])
    owner = np.concatenate([owner, np.full(spare, -1)])
    torso = owner == -1
    heights = REST_JOINTS[list(_TORSO_JOINTS), 1]
    owner[torso] = np.asarray(_TORSO_JOINTS)[np.argmin(np.abs(v_template[torso, 1:2] - heights[None]), axis=1)]
    # Put the head's top pole at HEAD_TOP_VERTEX, as in SMPL.
    head_top = int(np.argmax(np.where(owner == 15, v_template[:, 1], -np.inf)))
    order = np.arange(N_VERTICES)
    order[[head_top, HEAD_TOP_VERTEX]] = order[[HEAD_TOP_VERTEX, head_top]]
    v_template, owner = v_template[order], owner[order]
    f = np.argsort(order)[f]
    # SMPL's face count: pad with degenerate faces (they draw nothing).
    f = np.concatenate([f, np.zeros((N_FACES - len(f), 3), np.int64)])

    weights = np.zeros((N_VERTICES, 24))
    weights[np.arange(N_VERTICES), owner] = 1.0
    # Each joint regressed from the 30 vertices nearest it: they surround it, so their mean is near it.
    nearest = np.argsort(((v_template[None] - REST_JOINTS[:, None]) ** 2).sum(-1), axis=1)[:, :30]
    regressor = np.zeros((24, N_VERTICES))
    np.put_along_axis(regressor, nearest, 1.0 / 30, axis=1)
    shapedirs = np.zeros((N_VERTICES, 3, 10))
    shapedirs[:, :, 0] = 0.05 * v_template  # beta 0: overall size
    shapedirs[:, 0, 1], shapedirs[:, 2, 1] = 0.1 * (v_template[:, 0] - REST_JOINTS[owner, 0]), \
        0.1 * (v_template[:, 2] - REST_JOINTS[owner, 2])  # beta 1: girth
    shapedirs[:, :, 2:] = rng.normal(0, 0.002, (N_VERTICES, 3, 8))
    return {
        "v_template": v_template, "f": f.astype(np.uint32), "weights": weights, "J_regressor": regressor,
        "kintree_table": np.stack([np.where(SMPL_PARENTS < 0, 4294967295, SMPL_PARENTS), np.arange(24)]).astype(np.int64),
        "shapedirs": shapedirs, "posedirs": rng.normal(0, 0.0005, (N_VERTICES, 3, 207)),
    }
