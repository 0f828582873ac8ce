"""The rasteriser: triangle meshes drawn with a z-buffer and Lambert shading, over a background frame.

moderngl on a headless EGL context: no display, no root, nothing but `pip install moderngl`, given the
system's libEGL (libglvnd), which every Linux with Mesa or an NVIDIA driver has. Without a GPU, Mesa's
llvmpipe rasterises on the CPU; with one, EGL picks the GPU's driver. Meshes are drawn in one pass into
an offscreen buffer (z-buffered, antialiased), then blended over the frame in a second pass, so that a
person hidden behind another never shows through, whatever the opacity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MESH_VERTEX = """
#version 330
uniform vec2 size_px;
uniform vec2 depth_range;
in vec2 in_xy;
in float in_depth;
in vec3 in_normal;
out vec3 normal;
void main() {
    // Image pixels -> clip space, row 0 at the bottom of GL's buffer, so a read-back comes out top row first.
    float z = 2.0 * (in_depth - depth_range.x) / (depth_range.y - depth_range.x) - 1.0;
    gl_Position = vec4(2.0 * in_xy.x / size_px.x - 1.0, 2.0 * in_xy.y / size_px.y - 1.0, z, 1.0);
    normal = in_normal;
}
"""
_MESH_FRAGMENT = """
#version 330
uniform vec3 colour;
uniform vec3 light;
in vec3 normal;
out vec4 out_colour;
void main() {
    // Two-sided Lambert with some ambient light: a face lit the same whichever way its winding turns.
    float lit = 0.35 + 0.65 * abs(dot(normalize(normal), light));
    out_colour = vec4(colour * lit, 1.0);
}
"""
_BLEND_VERTEX = """
#version 330
in vec2 in_corner;
void main() { gl_Position = vec4(in_corner, 0.0, 1.0); }
"""
_BLEND_FRAGMENT = """
#version 330
uniform sampler2D background;
uniform sampler2D people;
uniform float opacity;
out vec4 out_colour;
void main() {
    ivec2 at = ivec2(gl_FragCoord.xy);
    vec4 drawn = texelFetch(people, at, 0);
    vec3 under = texelFetch(background, at, 0).rgb;
    out_colour = vec4(mix(under, drawn.rgb, drawn.a * opacity), 1.0);
}
"""
LIGHT_DIRECTION = (0.0, -0.45, -1.0)  # towards the camera (z is away from it) and from above (y is down)


class RendererUnavailable(RuntimeError):
    """No OpenGL context could be made here."""


@dataclass(frozen=True)
class Mesh:
    """One triangle mesh placed in the image.

    xy_px: (V, 2) float32 pixel positions in the target image (x right, y down).
    depth: (V,) float32 distance from the camera in metres (nearer wins the z-buffer).
    normals: (V, 3) float32 unit normals in the camera's orientation (x right, y down, z away).
    faces: (F, 3) int32 vertex indices. colour: RGB 0..255.
    """

    xy_px: np.ndarray
    depth: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    colour: tuple[int, int, int]


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(..., V, 3) vertices, (F, 3) faces -> (..., V, 3) unit normals: the area-weighted mean of each vertex's
    faces' normals (a sparse incidence product; np.add.at is 20x slower)."""
    import scipy.sparse

    n_vertices = vertices.shape[-2]
    incidence = scipy.sparse.csr_matrix(
        (np.ones(faces.size, np.float32), (faces.ravel(), np.repeat(np.arange(len(faces)), 3))),
        shape=(n_vertices, len(faces)))
    a, b, c = (vertices[..., faces[:, k], :] for k in range(3))
    face_normals = np.cross(b - a, c - a)
    flat = face_normals.reshape(-1, len(faces), 3)
    summed = np.stack([incidence @ one for one in flat]).reshape(vertices.shape)
    return (summed / np.maximum(np.linalg.norm(summed, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


class MeshRenderer:
    """An offscreen OpenGL context; `draw` renders meshes over a frame. Make one, draw many frames.

    samples: multisample antialiasing (0 = none); backend: glcontext's backend ('egl' headless).
    """

    def __init__(self, samples: int = 4, backend: str = "egl") -> None:
        try:
            import moderngl

            self.ctx = moderngl.create_standalone_context(backend=backend)
        except Exception as e:  # glcontext raises a bare Exception when libEGL or a driver is missing
            raise RendererUnavailable(
                f"no headless OpenGL ({backend}) context: {e}. The renderer needs the system's libEGL.so.1 and a "
                f"driver: Mesa (Debian/Ubuntu: apt-get install libegl1 libgl1-mesa-dri; it renders on the CPU) or "
                f"a GPU's (NVIDIA's driver ships libEGL_nvidia)") from e
        self.moderngl = moderngl
        self.samples = samples
        self.mesh_program = self.ctx.program(vertex_shader=_MESH_VERTEX, fragment_shader=_MESH_FRAGMENT)
        self.blend_program = self.ctx.program(vertex_shader=_BLEND_VERTEX, fragment_shader=_BLEND_FRAGMENT)
        light = np.asarray(LIGHT_DIRECTION) / np.linalg.norm(LIGHT_DIRECTION)
        self.mesh_program["light"].value = tuple(-light)
        corners = self.ctx.buffer(np.array([-1, -1, 3, -1, -1, 3], np.float32).tobytes())
        self.blend_vao = self.ctx.vertex_array(self.blend_program, [(corners, "2f", "in_corner")])
        self.size: tuple[int, int] | None = None

    @property
    def description(self) -> str:
        return f"{self.ctx.info['GL_RENDERER']} ({self.ctx.info['GL_VERSION']})"

    def _buffers(self, width: int, height: int) -> None:
        if self.size == (width, height):
            return
        ctx = self.ctx
        self.drawn = ctx.framebuffer(color_attachments=[ctx.renderbuffer((width, height), 4, samples=self.samples)],
                                     depth_attachment=ctx.depth_renderbuffer((width, height), samples=self.samples))
        self.people = ctx.texture((width, height), 4)
        self.resolved = ctx.framebuffer(color_attachments=[self.people])
        self.background = ctx.texture((width, height), 3)
        self.background.alignment = 1
        self.out = ctx.framebuffer(color_attachments=[ctx.renderbuffer((width, height), 3)])
        self.size = (width, height)

    def draw(self, background: np.ndarray, meshes: list[Mesh], opacity: float = 0.9) -> np.ndarray:
        """background (H, W, 3) uint8 -> a new (H, W, 3) uint8 with every mesh drawn, nearest in front."""
        height, width = background.shape[:2]
        self._buffers(width, height)
        ctx, moderngl = self.ctx, self.moderngl
        self.drawn.use()
        self.drawn.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        if meshes:
            depths = np.concatenate([m.depth for m in meshes])
            near, far = float(depths.min()), float(depths.max())
            margin = max(1e-3, 0.01 * (far - near))
            self.mesh_program["size_px"].value = (float(width), float(height))
            self.mesh_program["depth_range"].value = (near - margin, far + margin)
            ctx.enable(moderngl.DEPTH_TEST)
            for mesh in meshes:
                self._draw_mesh(mesh)
            ctx.disable(moderngl.DEPTH_TEST)
        ctx.copy_framebuffer(self.resolved, self.drawn)
        self.background.write(np.ascontiguousarray(background, dtype=np.uint8).tobytes())
        self.out.use()
        self.background.use(0)
        self.people.use(1)
        self.blend_program["background"].value = 0
        self.blend_program["people"].value = 1
        self.blend_program["opacity"].value = float(opacity)
        self.blend_vao.render(moderngl.TRIANGLES)
        pixels = self.out.read(components=3, alignment=1)
        return np.frombuffer(pixels, np.uint8).reshape(height, width, 3).copy()

    def _draw_mesh(self, mesh: Mesh) -> None:
        data = np.concatenate([mesh.xy_px, mesh.depth[:, None], mesh.normals], axis=1).astype(np.float32)
        vertices = self.ctx.buffer(data.tobytes())
        indices = self.ctx.buffer(np.ascontiguousarray(mesh.faces, dtype=np.int32).tobytes())
        vao = self.ctx.vertex_array(self.mesh_program, [(vertices, "2f 1f 3f", "in_xy", "in_depth", "in_normal")],
                                    indices, index_element_size=4)
        self.mesh_program["colour"].value = tuple(c / 255.0 for c in mesh.colour)
        vao.render(self.moderngl.TRIANGLES)
        vao.release(), vertices.release(), indices.release()

    def close(self) -> None:
        self.ctx.release()

    def __enter__(self) -> MeshRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
