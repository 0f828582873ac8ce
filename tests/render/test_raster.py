"""The renderer draws what the camera model projects: a posed mannequin covers the pixels its vertices
project to and nothing far from them; the nearer of two overlapping people wins, whatever the draw order."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_dilation, binary_erosion

from render.gl import vertex_normals
from render.overlay import OverlayConfig, draw_frame, front_meshes, place_people
from render.people import person_from_theta, with_vertices
from render.projection import image_points, person_depth, pixels_per_metre
from train.params import CAMERA, mean_theta

BACKGROUND = (20, 20, 20)


def standing(track_id: int, centre_x: float, centre_y: float, scale: float, n_frames: int = 1):
    """A person in the model's mean pose (facing the camera, upright) in a crop box centred at (x, y)."""
    theta = mean_theta().repeat(n_frames, 1)
    bbox = np.tile([centre_x, centre_y, scale], (n_frames, 1))
    return person_from_theta(track_id, 0, bbox, theta)


def test_the_weak_perspective_camera_lands_where_the_crop_says():
    camera = np.array([0.9, 0.1, -0.2])
    bbox = np.array([300.0, 200.0, 0.5])  # the 224 crop covers 448 image pixels
    points = np.array([[-0.1, 0.2, 0.0], [0.0, 0.0, 5.0], [1 / 0.9 - 0.1, 0.2, 0.0]])
    pixels = image_points(points, camera, bbox)
    # The first point sits at the crop's centre (X + t = 0), the last at its right edge (crop unit 1 = 224 px).
    np.testing.assert_allclose(pixels[0], [300.0, 200.0])
    np.testing.assert_allclose(pixels[2], [300.0 + 224.0, 200.0])
    np.testing.assert_allclose(pixels_per_metre(camera, bbox), 0.9 * 112 / 0.5)
    # Depth does not move a point in the image (orthographic), and a person drawn larger is nearer.
    np.testing.assert_allclose(pixels[1], [300.0 + 0.1 * 201.6, 200.0 - 0.2 * 201.6])
    assert person_depth(np.array([1.2, 0, 0]), bbox, 640.0) < person_depth(camera, bbox, 640.0)


def test_a_rendered_body_covers_its_projected_vertices_and_no_far_corner(body, faces, renderer):
    person = with_vertices(body, standing(3, 200.0, 150.0, 1.0))
    height, width = 300, 400
    meshes = front_meshes(place_people([person], faces, 0, (width, height), focal_px=400.0), faces, 1.0)
    drawn = renderer.draw(np.full((height, width, 3), BACKGROUND, np.uint8), meshes, opacity=1.0)
    covered = (np.abs(drawn.astype(int) - BACKGROUND).sum(-1) > 30)
    pixels = image_points(person.vertices[0], person.camera[0], person.bbox[0])
    used = np.unique(faces[faces[:, 0] != faces[:, 1]])  # vertices of real faces (the rest is SMPL-count padding)
    columns, rows = np.floor(pixels[used]).astype(int).T
    inside = (columns >= 0) & (columns < width) & (rows >= 0) & (rows < height)
    assert inside.all()
    # Every vertex's pixel is drawn, to within one pixel (a silhouette vertex's own pixel is partly covered).
    assert binary_dilation(covered, iterations=1)[rows, columns].all()
    assert covered[rows, columns].mean() > 0.9
    # Nothing is drawn far from the body: every covered pixel is within a few pixels of a vertex's.
    ys, xs = np.nonzero(covered)
    nearest = np.min(np.abs(xs[:, None] - columns[None]) + np.abs(ys[:, None] - rows[None]), axis=1)
    assert nearest.max() <= 6
    for corner in ((0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1)):
        assert tuple(drawn[corner]) == BACKGROUND
    # The person is drawn in its track's colour (the 2D `show` palette), shaded by Lambert's law.
    from pseudolabel.draw import colour_of

    colours = drawn[covered].astype(float)
    hue = colours / colours.sum(-1, keepdims=True)
    expected = np.asarray(colour_of(3), float) / sum(colour_of(3))
    assert np.median(np.abs(hue - expected).sum(-1)) < 0.08


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_the_nearer_of_two_overlapping_people_is_in_front_whatever_the_order(body, faces, renderer, order):
    far = with_vertices(body, standing(1, 210.0, 150.0, 1.0))  # drawn smaller: further away
    near = with_vertices(body, standing(2, 190.0, 150.0, 0.7))
    near_camera = near.camera.copy()
    near_camera[:, CAMERA.start] = 1.2  # and larger again: the nearest
    near = type(near)(**{**near.__dict__, "camera": near_camera})
    people = [(far, near)[i] for i in order]
    placed = place_people(people, faces, 0, (400, 300), focal_px=400.0)
    meshes = front_meshes(placed, faces, 1.0)
    drawn = renderer.draw(np.full((300, 400, 3), BACKGROUND, np.uint8), meshes, opacity=1.0)
    alone = [renderer.draw(np.full((300, 400, 3), BACKGROUND, np.uint8), [m], opacity=1.0) for m in meshes]
    masks = {placed[i].track_id: np.abs(a.astype(int) - BACKGROUND).sum(-1) > 30 for i, a in enumerate(alone)}
    overlap = binary_erosion(masks[1], iterations=2) & binary_erosion(masks[2], iterations=2)  # not antialiased edges
    assert overlap.sum() > 200  # they do overlap
    # Where both are, the near person's own pixels show, not the far one's.
    near_alone = alone[[p.track_id for p in placed].index(2)]
    assert (np.abs(drawn[overlap].astype(int) - near_alone[overlap]).sum(-1) < 10).mean() > 0.97


def test_the_renderer_checks_nothing_and_draws_nothing_without_meshes(renderer):
    frame = np.random.default_rng(0).integers(0, 255, (37, 53, 3), np.uint8)  # odd sizes: row alignment
    np.testing.assert_array_equal(renderer.draw(frame, []), frame)


def test_vertex_normals_of_a_flat_square_face_the_same_way():
    square = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    np.testing.assert_allclose(vertex_normals(square, faces), np.tile([0, 0, 1], (4, 1)), atol=1e-6)


def test_the_side_view_puts_the_nearer_person_nearer_the_camera_side(body, faces, renderer):
    near = with_vertices(body, standing(1, 120.0, 150.0, 1.0))
    far = with_vertices(body, standing(2, 280.0, 150.0, 2.0))  # half the size: twice as far
    drawn = draw_frame(renderer, np.full((300, 400, 3), BACKGROUND, np.uint8), 0, [near, far], faces, (400, 300),
                       OverlayConfig(side_view=True, label="RANDOM WEIGHTS"))
    assert drawn.shape == (300, 800, 3)
    side = drawn[:, 400:].astype(int)
    from pseudolabel.draw import colour_of

    def columns_of(track_id):
        colour = np.asarray(colour_of(track_id), float)
        hue = side / np.maximum(side.sum(-1, keepdims=True), 1)
        mask = (np.abs(hue - colour / colour.sum()).sum(-1) < 0.08) & (side.sum(-1) > 60)
        mask[:40] = False  # the panel's caption
        return np.nonzero(mask)[1]

    # Depth runs left to right: the near person (about 4 m away) left of the far one (about 8 m).
    assert columns_of(1).size > 100 and columns_of(2).size > 100
    assert columns_of(1).max() < columns_of(2).min()
    # The label is written on the frame itself (yellow on a dark band, top left).
    top_left = drawn[:12, :60].astype(int)
    assert ((top_left[..., 0] > 200) & (top_left[..., 2] < 120)).any()


def test_a_long_label_wraps_instead_of_running_off_the_frame():
    from render.overlay import stamp

    frame = np.full((300, 200, 3), 128, np.uint8)
    label = "make demo: random weights | RANDOM-INIT FEATURES: not a real prediction"
    stamped = stamp(frame, [label])
    def band_rows(image):  # the dark band's height, read in its left margin (no text there)
        return int((image[:, :3] == 0).all(-1).all(-1).sum())

    assert band_rows(stamped) >= 2 * band_rows(stamp(frame, ["short"]))  # three lines (one line: 19 rows, three: 45)
    yellow = (stamped[..., 0] > 200) & (stamped[..., 2] < 120)
    assert yellow.sum() > 0 and yellow[:, -4:].sum() == 0  # the text ends inside the frame, not cut at its edge
