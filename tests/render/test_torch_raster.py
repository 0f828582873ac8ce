"""The torch rasteriser (the renderer where OpenGL cannot start) against known projections, and against
OpenGL's picture of the same body where both run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from render.backend import open_renderer
from render.overlay import front_meshes, place_people
from render.people import person_from_theta, with_vertices
from render.raster import TorchRenderer, rasterise
from train.params import mean_theta

BACKGROUND = (20, 20, 20)


def tensors(xy, depth, faces):
    return (torch.tensor(xy, dtype=torch.float64), torch.tensor(depth, dtype=torch.float64),
            torch.tensor(faces, dtype=torch.long))


def test_a_triangle_covers_exactly_the_pixel_centres_inside_it():
    # Corners (1, 1), (9, 1), (1, 9): the centre (c + 0.5, r + 0.5) is inside when c, r >= 1 and
    # c + r + 1 <= 10 (a centre on an edge counts).
    face, bary = rasterise(*tensors([[1, 1], [9, 1], [1, 9]], [2.0, 2.0, 2.0], [[0, 1, 2]]), 12, 12)
    rows, columns = np.mgrid[0:12, 0:12]
    expected = (columns >= 1) & (rows >= 1) & (columns + rows <= 9)
    np.testing.assert_array_equal(face.numpy() >= 0, expected)
    # Barycentrics of the centre (1.5, 1.5): 1/16 of the way along each leg.
    np.testing.assert_allclose(bary[1, 1].numpy(), [1 - 2 * 0.5 / 8, 0.5 / 8, 0.5 / 8])
    assert (bary.numpy()[~expected] == 0).all()


def test_a_triangle_off_the_image_or_without_area_draws_nothing():
    xy = [[-9, -9], [-2, -9], [-9, -2], [50, 1], [60, 1], [55, 5], [1, 1], [5, 5], [9, 9]]
    face, _ = rasterise(*tensors(xy, [1.0] * 9, [[0, 1, 2], [3, 4, 5], [6, 7, 8]]), 10, 10)
    assert (face == -1).all()


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_the_nearer_triangle_wins_and_crossing_ones_swap_at_their_intersection(order):
    # A big square-ish pair: triangle A at depth 1 everywhere; triangle B tilted from depth 0 (left) to 2 (right).
    a = ([[0, 0], [40, 0], [0, 40]], [1.0, 1.0, 1.0])
    b = ([[0, 0], [40, 0], [0, 40]], [0.0, 2.0, 0.0])
    triangles = [a, b]
    xy = np.concatenate([triangles[i][0] for i in order])
    depth = np.concatenate([triangles[i][1] for i in order])
    face, _ = rasterise(*tensors(xy, depth, [[0, 1, 2], [3, 4, 5]]), 40, 40)
    b_id = order.index(1)
    # B's depth at column c is 2 (c + 0.5) / 40: nearer than A (1) left of column 19.5, further right of it.
    assert (face[5, :15] == b_id).all() and (face[5, 21:34] == 1 - b_id).all()


def test_a_big_triangle_spanning_the_frame_is_drawn_whole():
    face, _ = rasterise(*tensors([[-100, -100], [500, -100], [-100, 500]], [1.0] * 3, [[0, 1, 2]]), 90, 160)
    assert (face == 0).all()


def test_torch_and_opengl_draw_the_same_body(body, faces, gl_opener):
    theta = mean_theta()[None]
    person = with_vertices(body, person_from_theta(5, 0, np.array([[200.0, 150.0, 1.0]]), theta))
    meshes = front_meshes(place_people([person], faces, 0, (400, 300), focal_px=400.0), faces, 1.0)
    frame = np.full((300, 400, 3), BACKGROUND, np.uint8)
    with gl_opener(samples=0) as gl:  # no antialiasing, as the torch one
        expected = gl.draw(frame, meshes, opacity=1.0)
    drawn = TorchRenderer(device="cpu").draw(frame, meshes, opacity=1.0)
    mask_gl, mask_torch = ((np.abs(d.astype(int) - BACKGROUND).sum(-1) > 0) for d in (expected, drawn))
    assert mask_gl.sum() > 2000
    assert (mask_gl & mask_torch).sum() / (mask_gl | mask_torch).sum() > 0.99
    both = mask_gl & mask_torch
    assert np.median(np.abs(expected[both].astype(int) - drawn[both]).max(-1)) <= 2  # the same shading


def test_the_renderer_choice(monkeypatch):
    monkeypatch.setenv("HMMR_RENDERER", "torch")
    assert isinstance(open_renderer(), TorchRenderer)
    with pytest.raises(ValueError, match="expected one of auto, gl, torch"):
        open_renderer("vulkan")
    # Where OpenGL cannot start (no libEGL on the machine: reproduced by making its start fail), 'auto' draws
    # with torch and 'gl' says why it cannot.
    import render.gl

    def no_egl(*args, **kwargs):
        raise render.gl.RendererUnavailable("no headless OpenGL (egl) context: libEGL.so.1 not found")

    monkeypatch.setattr(render.gl.MeshRenderer, "__init__", no_egl)
    assert isinstance(open_renderer("auto"), TorchRenderer)
    with pytest.raises(render.gl.RendererUnavailable, match="libEGL"):
        open_renderer("gl")
