"""A z-buffered triangle rasteriser in torch: the renderer where no OpenGL context can be made (no libEGL,
no driver), so that rendering needs nothing but pip's wheels. Same drawing as render/gl.py (pixel centres
sampled, nearest surface wins, two-sided Lambert, blended over the frame) without antialiasing.

Vectorised over (triangle, candidate pixel) pairs: triangles are grouped by the size of their pixel box
(an SMPL body's are a few pixels wide), each group tests a K x K block of pixels per triangle, and one
scatter-min per frame keeps the nearest surface of each pixel.
"""
from __future__ import annotations

import numpy as np
import torch

from render.gl import LIGHT_DIRECTION, Mesh

_CHUNK = 1 << 22  # (triangle, pixel) pairs tested at once: bounds the memory a frame takes


def rasterise(xy: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, height: int, width: int
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """xy (V, 2) pixel positions (x right, y down; pixel (r, c) spans [c, c+1] x [r, r+1]), depth (V,)
    (smaller is nearer), faces (F, 3) -> face (H, W) long, the face seen at each pixel centre or -1, and
    barycentrics (H, W, 3) of the centre in that face (0 where none)."""
    n_pixels = height * width
    a, b, c = xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]
    corners = torch.stack([a, b, c])
    # The pixel centres (i + 0.5) inside each triangle's box, clipped to the image.
    first = torch.ceil(corners.amin(0) - 0.5).clamp(min=0).long()
    last = torch.floor(corners.amax(0) - 0.5)
    last = torch.minimum(last, torch.tensor([width - 1, height - 1], dtype=last.dtype, device=last.device)).long()
    extent = last - first + 1
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    keep = (extent > 0).all(1) & (area.abs() > 1e-12)
    pixels, depths, face_ids, weights = [], [], [], []
    size = extent.amax(1)
    block = 2
    while True:
        in_group = keep & (size <= block) & (size > block // 2) if block > 2 else keep & (size <= block)
        group = torch.nonzero(in_group).squeeze(1)
        for ids in torch.split(group, max(1, _CHUNK // (block * block))) if len(group) else ():
            found = _cover(ids, block, first, extent, corners, area, depth, faces, width)
            for out, value in zip((pixels, depths, face_ids, weights), found):
                out.append(value)
        if block >= max(height, width):
            break
        block *= 2
    face = torch.full((n_pixels,), -1, dtype=torch.long, device=xy.device)
    bary = torch.zeros((n_pixels, 3), dtype=xy.dtype, device=xy.device)
    if pixels:
        pixel, z, face_id, weight = (torch.cat(values) for values in (pixels, depths, face_ids, weights))
        if len(pixel):
            nearest = torch.full((n_pixels,), float("inf"), dtype=z.dtype, device=z.device)
            nearest = nearest.scatter_reduce(0, pixel, z, "amin")
            front = torch.nonzero(z <= nearest[pixel]).squeeze(1)
            # Ties (a shared edge) go to one candidate, the same one every run.
            chosen = torch.full((n_pixels,), -1, dtype=torch.long, device=z.device)
            chosen = chosen.scatter_reduce(0, pixel[front], front, "amax")
            seen = chosen >= 0
            face[seen] = face_id[chosen[seen]]
            bary[seen] = weight[chosen[seen]]
    return face.view(height, width), bary.view(height, width, 3)


def _cover(ids, block, first, extent, corners, area, depth, faces, width):
    """The (pixel, depth, face, barycentrics) of every pixel centre inside triangles `ids`, K x K blocks."""
    offsets = torch.arange(block, device=ids.device)
    ox, oy = offsets.repeat(block), offsets.repeat_interleave(block)
    valid = (ox[None] < extent[ids, 0:1]) & (oy[None] < extent[ids, 1:2])
    px, py = first[ids, 0:1] + ox[None], first[ids, 1:2] + oy[None]
    cx, cy = px.to(corners.dtype) + 0.5, py.to(corners.dtype) + 0.5
    a, b, c = (corners[k, ids] for k in range(3))

    def edge(p, q):  # twice the signed area of (p, q, centre), per candidate
        return (q[:, 0:1] - p[:, 0:1]) * (cy - p[:, 1:2]) - (q[:, 1:2] - p[:, 1:2]) * (cx - p[:, 0:1])

    weight = torch.stack([edge(b, c), edge(c, a), edge(a, b)], -1) / area[ids, None, None]
    inside = valid & (weight >= -1e-6).all(-1)
    candidate, slot = torch.nonzero(inside, as_tuple=True)
    weight = weight[candidate, slot]
    face_id = ids[candidate]
    z = (weight * depth[faces[face_id]]).sum(-1)
    return py[candidate, slot] * width + px[candidate, slot], z, face_id, weight


class TorchRenderer:
    """`draw` as render.gl.MeshRenderer's, on torch (the GPU when there is one). No context to hold."""

    def __init__(self, device: str | torch.device | None = None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        light = np.asarray(LIGHT_DIRECTION, np.float32)
        self.light = torch.from_numpy(-light / np.linalg.norm(light)).to(self.device)

    @property
    def description(self) -> str:
        return f"hmmr's torch rasteriser on {self.device} (no antialiasing)"

    def draw(self, background: np.ndarray, meshes: list[Mesh], opacity: float = 0.9) -> np.ndarray:
        """background (H, W, 3) uint8 -> a new (H, W, 3) uint8 with every mesh drawn, nearest in front."""
        if self.device.type != "cpu":
            return self._draw(background, meshes, opacity)
        # One thread: a frame is many small tensor ops, whose fork/join across threads costs more than it
        # saves (measured on 2 cores: 0.07 s a 640x360 frame on one thread, 0.9-1.4 s on two when the
        # machine is busy). Restored after, for the caller's own torch work.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._draw(background, meshes, opacity)
        finally:
            torch.set_num_threads(threads)

    @torch.no_grad()
    def _draw(self, background: np.ndarray, meshes: list[Mesh], opacity: float) -> np.ndarray:
        height, width = background.shape[:2]
        if not meshes:
            return np.array(background, dtype=np.uint8, copy=True)
        offsets = np.cumsum([0] + [len(m.xy_px) for m in meshes[:-1]])

        def as_tensor(arrays, dtype):
            return torch.from_numpy(np.concatenate(arrays).astype(dtype)).to(self.device)

        xy = as_tensor([m.xy_px for m in meshes], np.float64)
        depth = as_tensor([m.depth for m in meshes], np.float64)
        normals = as_tensor([m.normals for m in meshes], np.float32)
        faces = as_tensor([m.faces + o for m, o in zip(meshes, offsets)], np.int64)
        colours = as_tensor([np.tile(np.asarray(m.colour, np.float32) / 255, (len(m.faces), 1)) for m in meshes],
                            np.float32)
        face, bary = rasterise(xy, depth, faces, height, width)
        seen = face >= 0
        out = torch.from_numpy(np.ascontiguousarray(background)).to(self.device).float() / 255
        if seen.any():
            hit = face[seen]
            normal = (bary[seen].float()[..., None] * normals[faces[hit]]).sum(1)
            lit = 0.35 + 0.65 * (torch.nn.functional.normalize(normal, dim=-1) @ self.light).abs()
            out[seen] = torch.lerp(out[seen], colours[hit] * lit[:, None], float(opacity))
        return (out * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()

    def close(self) -> None:
        pass

    def __enter__(self) -> TorchRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
