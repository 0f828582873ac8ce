"""One video frame with every person's mesh drawn where the model put it, and optionally beside it the
same people seen from the side (a 90-degree turn about the vertical axis through the scene's centre)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pseudolabel.draw import colour_of
from render.backend import Renderer
from render.gl import Mesh, vertex_normals
from render.people import PersonSequence
from render.projection import camera_space, image_points, person_depth

SIDE_BACKGROUND = (236, 236, 236)


@dataclass(frozen=True)
class OverlayConfig:
    """side_view: a side view to the right of the frame; opacity: of the meshes over the video (the far
    side of a person is never seen through the near side, nor one person through another); focal_px: the
    focal length, in original pixels, of the perspective camera that orders people in depth (None = the
    frame's longer side; see render/projection.py); label: text written on every frame (e.g. that the
    weights are random)."""

    side_view: bool = False
    opacity: float = 0.9
    focal_px: float | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if not 0.0 < self.opacity <= 1.0:
            raise ValueError(f"OverlayConfig.opacity must be in (0, 1], got {self.opacity}")
        if self.focal_px is not None and self.focal_px <= 0:
            raise ValueError(f"OverlayConfig.focal_px must be > 0, got {self.focal_px}")


@dataclass(frozen=True)
class PlacedPerson:
    """A person in one frame: vertices in camera space (metres) and in image pixels, and its colour."""

    track_id: int
    points: np.ndarray  # (V, 3) camera space
    xy_px: np.ndarray  # (V, 2) original image pixels
    depth: np.ndarray  # (V,) metres
    normals: np.ndarray  # (V, 3)


def place_people(people: list[PersonSequence], faces: np.ndarray, frame: int, image_size: tuple[int, int],
                 focal_px: float) -> list[PlacedPerson]:
    """Every person present at video frame `frame` (their vertices must be filled), placed in the image."""
    placed = []
    for person in people:
        i = person.index_of(frame)
        if i is None:
            continue
        if person.vertices is None:
            raise ValueError(f"track {person.track_id}: vertices are not computed (render.people.with_vertices)")
        vertices, camera, bbox = person.vertices[i], person.camera[i], person.bbox[i]
        placed.append(PlacedPerson(
            track_id=person.track_id, points=camera_space(vertices, camera, bbox, image_size, focal_px),
            xy_px=image_points(vertices, camera, bbox),
            depth=person_depth(camera, bbox, focal_px) + vertices[:, 2], normals=vertex_normals(vertices, faces)))
    return placed


def front_meshes(placed: list[PlacedPerson], faces: np.ndarray, display_scale: float) -> list[Mesh]:
    """As the camera saw them. display_scale: original pixels per pixel of the frame drawn on."""
    return [Mesh(xy_px=p.xy_px / display_scale, depth=p.depth, normals=p.normals, faces=faces,
                 colour=colour_of(p.track_id)) for p in placed]


def side_meshes(placed: list[PlacedPerson], faces: np.ndarray, size_px: tuple[int, int], focal_px: float,
                display_scale: float) -> list[Mesh]:
    """Seen from the camera's right: camera depth runs left to right across the panel, height stays."""
    if not placed:
        return []
    width, height = size_px
    roots = np.array([p.points.mean(axis=0) for p in placed])
    centre_depth = float(roots[:, 2].mean())
    # Pixels per metre at the scene's depth in the drawn frame, so heights match the front view.
    k = focal_px / centre_depth / display_scale
    meshes = []
    for p in placed:
        x, y, z = p.points[:, 0], p.points[:, 1], p.points[:, 2]
        xy = np.stack([width / 2 + (z - centre_depth) * k, height / 2 + y * k], axis=1)
        normals = np.stack([p.normals[:, 2], p.normals[:, 1], -p.normals[:, 0]], axis=1)  # the same turn
        meshes.append(Mesh(xy_px=xy, depth=-x, normals=normals, faces=faces, colour=colour_of(p.track_id)))
    return meshes


def stamp(rgb: np.ndarray, lines: list[str], corner: str = "top-left") -> np.ndarray:
    """`lines` of text on a dark band, big enough to read on a video (1/30 of the frame's height); a line
    wider than the frame wraps at spaces, so a warning is never cut off at the frame's edge."""
    if not lines:
        return rgb
    image = Image.fromarray(rgb)
    pen = ImageDraw.Draw(image)
    size = max(10, rgb.shape[0] // 30)
    font = ImageFont.load_default(size=size)
    lines = [part for line in lines for part in _wrap(pen, line, font, rgb.shape[1] - size)]
    boxes = [pen.textbbox((0, 0), line, font=font) for line in lines]
    band_w = max(b[2] for b in boxes) + size
    band_h = (size + size // 3) * len(lines) + size // 2
    x0 = 0 if corner.endswith("left") else rgb.shape[1] - band_w
    pen.rectangle([x0, 0, x0 + band_w, band_h], fill=(0, 0, 0))
    for n, line in enumerate(lines):
        pen.text((x0 + size // 2, size // 4 + n * (size + size // 3)), line, fill=(255, 230, 80), font=font)
    return np.asarray(image)


def _wrap(pen: ImageDraw.ImageDraw, line: str, font, width_px: int) -> list[str]:
    words, out = line.split(" "), []
    for word in words:
        if out and pen.textlength(f"{out[-1]} {word}", font=font) <= width_px:
            out[-1] = f"{out[-1]} {word}"
        else:
            out.append(word)
    return out or [line]


def draw_frame(renderer: Renderer, rgb: np.ndarray, frame: int, people: list[PersonSequence],
               faces: np.ndarray, original_size: tuple[int, int], config: OverlayConfig,
               display_scale: float = 1.0) -> np.ndarray:
    """rgb (H, W, 3) of video frame `frame` -> (H, W or 2W, 3) with every person present drawn.

    original_size: (width, height) of the video in the pixels the boxes are in; display_scale: original
    pixels per pixel of `rgb` (the decoder's downscale)."""
    focal_px = config.focal_px or float(max(original_size))
    placed = place_people(people, faces, frame, original_size, focal_px)
    drawn = renderer.draw(rgb, front_meshes(placed, faces, display_scale), opacity=config.opacity)
    for p in placed:  # the track id above each person, as `hmmr-pseudolabel show` labels skeletons
        x, y = p.xy_px[:, 0].mean() / display_scale, p.xy_px[:, 1].min() / display_scale
        drawn = _label(drawn, str(p.track_id), (x, y), colour_of(p.track_id))
    drawn = stamp(drawn, [config.label] if config.label else [])
    if not config.side_view:
        return drawn
    height, width = rgb.shape[:2]
    panel = np.empty_like(rgb)
    panel[:] = SIDE_BACKGROUND
    side = renderer.draw(panel, side_meshes(placed, faces, (width, height), focal_px, display_scale), opacity=1.0)
    side = stamp(side, ["side view (from the camera's right)"], corner="top-right")
    return np.concatenate([drawn, side], axis=1)


def _label(rgb: np.ndarray, text: str, at: tuple[float, float], colour: tuple[int, int, int]) -> np.ndarray:
    image = Image.fromarray(rgb)
    size = max(10, rgb.shape[0] // 30)
    ImageDraw.Draw(image).text((at[0], max(0, at[1] - size * 1.3)), text, fill=colour, anchor="mt",
                               font=ImageFont.load_default(size=size))
    return np.asarray(image)

