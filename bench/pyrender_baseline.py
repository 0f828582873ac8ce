"""The renderer baseline for bench/render_bench.py, run by pyrender's own venv (bench/.venvs/pyrender):
the same meshes drawn with pyrender's OffscreenRenderer (EGL), lit, and blended over the same frame.

argv: scene.npz (frame (H, W, 3) uint8, vertices (n, V, 3) as x_px, y_px, depth_px; faces (F, 3)),
repeats. Prints frames/s (the best of `repeats` passes over the n frames) or FAILED: reason."""
from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import numpy as np  # noqa: E402


def main() -> None:
    scene_file, repeats = sys.argv[1], int(sys.argv[2])
    data = np.load(scene_file)
    frame, vertices, faces = data["frame"], data["vertices"], data["faces"]
    height, width = frame.shape[:2]
    try:
        import pyrender
        import trimesh

        renderer = pyrender.OffscreenRenderer(width, height)
    except Exception as e:  # report any failure to start as the measurement's result
        print(f"FAILED: {type(e).__name__}: {e}")
        return
    scene = pyrender.Scene(bg_color=[0, 0, 0, 0], ambient_light=[0.35, 0.35, 0.35])
    pose = np.eye(4)
    pose[2, 3] = 1000.0
    scene.add(pyrender.OrthographicCamera(xmag=width / 2, ymag=height / 2, znear=1.0, zfar=5000.0), pose=pose)
    scene.add(pyrender.DirectionalLight(intensity=3.0), pose=pose)
    material = pyrender.MetallicRoughnessMaterial(baseColorFactor=(0.24, 0.7, 0.3, 1.0))

    def draw(points: np.ndarray) -> np.ndarray:
        world = np.stack([points[:, 0] - width / 2, height / 2 - points[:, 1], -points[:, 2]], axis=1)
        node = scene.add(pyrender.Mesh.from_trimesh(trimesh.Trimesh(world, faces, process=False), material=material))
        rgba, _ = renderer.render(scene, flags=pyrender.RenderFlags.RGBA)
        scene.remove_node(node)
        alpha = rgba[..., 3:4] / 255.0 * 0.9
        return (frame * (1 - alpha) + rgba[..., :3] * alpha).astype(np.uint8)

    draw(vertices[0])
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for points in vertices:
            draw(points)
        best = min(best, time.perf_counter() - started)
    print(f"{len(vertices) / best:.3f}")


if __name__ == "__main__":
    main()
