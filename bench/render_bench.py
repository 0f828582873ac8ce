"""Renderer speed (issue 25): SMPL-sized meshes (6890 vertices, 13776 faces) drawn over 640x360 frames."""
from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import Section

N_FRAMES, WIDTH, HEIGHT = 20, 640, 360
PYRENDER = Path(__file__).resolve().parent / ".venvs" / "pyrender" / "bin" / "python"


def _people(body, n_people: int):
    from render.people import person_from_theta, with_vertices
    from train.params import mean_theta

    people = []
    for k in range(n_people):
        theta = mean_theta().repeat(N_FRAMES, 1)
        theta[:, 6:75] += 0.3 * np.sin(0.3 * np.arange(N_FRAMES)[:, None] + np.arange(69))  # moving limbs
        bbox = np.tile([260.0 + 120 * k, 180.0, 0.9], (N_FRAMES, 1))
        people.append(with_vertices(body, person_from_theta(k, 0, bbox, theta)))
    return people


def _fps(draw, repeats: int = 3) -> float:
    draw(0)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for frame in range(N_FRAMES):
            draw(frame)
        best = min(best, time.perf_counter() - started)
    return N_FRAMES / best


def _pyrender_fps(frame: np.ndarray, people, faces: np.ndarray, folder: Path) -> str:
    """pyrender in its own venv (make bench-venvs), on the same vertices placed in pixels."""
    if not PYRENDER.is_file():
        return "not installed (make bench-venvs)"
    from render.projection import image_points, pixels_per_metre

    person = people[0]
    xy = image_points(person.vertices, person.camera, person.bbox)
    depth = person.vertices[..., 2:3] * pixels_per_metre(person.camera, person.bbox)[:, None, None]
    np.savez(folder / "scene.npz", frame=frame, vertices=np.concatenate([xy, depth], -1), faces=faces)
    result = subprocess.run([str(PYRENDER), str(Path(__file__).with_name("pyrender_baseline.py")),
                             str(folder / "scene.npz"), "3"], capture_output=True, text=True, timeout=600)
    lines = (result.stdout.strip() or result.stderr.strip() or "no output").splitlines()
    return lines[-1]


def run() -> list[Section]:
    from media.decode import DecodeConfig, open_stream
    from pseudolabel.draw import draw_people
    from render.gl import MeshRenderer
    from render.overlay import OverlayConfig, draw_frame, front_meshes, place_people
    from render.raster import TorchRenderer
    from train.body import BodyModel, write_test_smpl

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        write_test_smpl(folder / "SMPL_NEUTRAL.pkl")
        body = BodyModel(folder)
        faces = body.smpl.faces.astype(np.int32)
        clip = Path(__file__).resolve().parents[1] / "tests" / "data" / "people_a.mp4"
        _, frames = open_stream(clip, DecodeConfig(max_side_px=WIDTH))
        frame = np.ascontiguousarray(next(frames).rgb[:HEIGHT, :WIDTH])
        frame = np.pad(frame, ((0, HEIGHT - frame.shape[0]), (0, WIDTH - frame.shape[1]), (0, 0)))
        one, two = _people(body, 1), _people(body, 2)
        size = (WIDTH, HEIGHT)
        skeleton = np.zeros((25, 3), np.float32)
        skeleton[:, :2] = np.random.default_rng(0).uniform(100, 300, (25, 2))
        skeleton[:, 2] = 1.0
        with MeshRenderer() as renderer, MeshRenderer(samples=0) as plain, TorchRenderer("cpu") as torch_cpu:
            meshes = [front_meshes(place_people(one, faces, f, size, float(WIDTH)), faces, 1.0) for f in range(N_FRAMES)]
            rows = {
                "hmmr draw_frame, 1 person (normals, placement, raster, blend, read back)":
                    _fps(lambda f: draw_frame(renderer, frame, f, one, faces, size, OverlayConfig())),
                "hmmr draw_frame, 2 people": _fps(lambda f: draw_frame(renderer, frame, f, two, faces, size,
                                                                      OverlayConfig())),
                "hmmr draw_frame, 1 person and the side view":
                    _fps(lambda f: draw_frame(renderer, frame, f, one, faces, size, OverlayConfig(side_view=True))),
                "hmmr draw_frame, 1 person, no antialiasing":
                    _fps(lambda f: draw_frame(plain, frame, f, one, faces, size, OverlayConfig())),
                "hmmr MeshRenderer.draw alone (meshes placed beforehand)":
                    _fps(lambda f: renderer.draw(frame, meshes[f])),
                "hmmr torch rasteriser (the fallback without OpenGL), draw_frame, 1 person, CPU":
                    _fps(lambda f: draw_frame(torch_cpu, frame, f, one, faces, size, OverlayConfig())),
                "hmmr torch rasteriser, draw alone (meshes placed beforehand), CPU":
                    _fps(lambda f: torch_cpu.draw(frame, meshes[f])),
                "2D skeleton (pseudolabel.draw, what `show` draws)":
                    _fps(lambda f: draw_people(frame, [skeleton], ids=[0])),
            }
            gl = renderer.description
        pyrender = _pyrender_fps(frame, one, faces, folder)
    section = Section(
        "Renderer speed (issue 25)",
        f"Frames/s drawing SMPL-sized meshes (6890 vertices, 13776 faces: the mannequin `write_test_smpl` makes) "
        f"over a {WIDTH}x{HEIGHT} frame, {N_FRAMES} frames of moving limbs, best of 3. hmmr: moderngl on a headless "
        f"EGL context, here {gl}, 4x multisampling unless said; the torch rasteriser is the fallback where "
        f"no OpenGL context can be made (no antialiasing). Baseline in the same run: pyrender 0.1.45's "
        f"OffscreenRenderer (EGL) in its own venv, the same vertices, lit, blended over the frame with numpy, no "
        f"antialiasing (compare it with the no-antialiasing row). Ratio: the row's frames/s over pyrender's.",
        ["renderer", "frames/s", "ratio (row / pyrender)"])
    try:
        baseline = float(pyrender)
    except ValueError:
        baseline = None
    for name, fps in rows.items():
        section.rows.append([name, f"{fps:.1f}", f"{fps / baseline:.2f}x" if baseline else "-"])
    section.rows.append(["pyrender OffscreenRenderer (EGL), its own venv", f"{baseline:.1f}" if baseline else pyrender,
                         "1.00x" if baseline else "-"])
    return [section]
