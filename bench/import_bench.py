"""Imported frames as video: the MJPEG remux `hmmr-import` does, against copying the JPEG files and against
re-encoding them to H.264; and what each costs the features stage to decode."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageFilter

from bench.report import Section, best_of_interleaved
from media.decode import DecodeConfig, open_stream
from published.media import remux_jpegs

N_FRAMES = 60
SIZE = (1080, 1920)  # 3DPW's portrait frames (width, height)


def photo_like_frames(folder: Path) -> list[Path]:
    """JPEGs of 3DPW's size and roughly its bytes per frame: smooth shapes over a textured background that moves."""
    rng = np.random.default_rng(0)
    width, height = SIZE
    texture = Image.fromarray(rng.integers(0, 255, (height // 4, width // 4, 3), dtype=np.uint8)).resize(SIZE)
    texture = np.asarray(texture.filter(ImageFilter.GaussianBlur(3)), dtype=np.int16)
    paths = []
    for i in range(N_FRAMES):
        frame = np.roll(texture, 4 * i, axis=1).copy()
        frame[600 + 3 * i:1300 + 3 * i, 300:700] += 60  # a person-sized bright block walking down
        path = folder / f"image_{i:05d}.jpg"
        Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def encode_h264(frames: list[Path], out: Path, fps: int = 30) -> None:
    with av.open(str(out), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        for path in frames:
            image = av.VideoFrame.from_image(Image.open(path))
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def decode_all(path: Path) -> int:
    _, frames = open_stream(path, DecodeConfig(fps=30.0))
    return sum(1 for _ in frames)


def run() -> list[Section]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "src").mkdir()
        frames = photo_like_frames(folder / "src")
        jpeg_bytes = sum(p.stat().st_size for p in frames)
        remuxed, encoded, copies = folder / "remux.mp4", folder / "h264.mp4", folder / "copy"

        def copy() -> None:
            shutil.rmtree(copies, ignore_errors=True)
            copies.mkdir()
            for p in frames:
                shutil.copyfile(p, copies / p.name)

        write = best_of_interleaved(3, {"copy": copy, "remux": lambda: remux_jpegs(frames, remuxed, 30.0),
                                        "h264": lambda: encode_h264(frames, encoded)})
        read = best_of_interleaved(3, {"remux": lambda: decode_all(remuxed), "h264": lambda: decode_all(encoded)})
        sizes = {"copy": jpeg_bytes, "remux": remuxed.stat().st_size, "h264": encoded.stat().st_size}
    note = (f"{N_FRAMES} JPEG frames of {SIZE[0]}x{SIZE[1]} (3DPW's size; {jpeg_bytes / N_FRAMES / 1e3:.0f} KB each, "
            f"quality 90), made into one video: `remux` = what `hmmr-import` does (the JPEG bytes as MJPEG packets in "
            f"MP4, nothing decoded), `h264` = decode + libx264 crf 18 veryfast (PyAV), `copy` = copying the files "
            f"(the floor). Decode: every frame through `media.decode` as the features stage reads it. Best of 3, "
            f"interleaved. Ratios against the remux.")
    section = Section("Imported frames as video (issue 23)", note,
                      ["way", "write ms/frame", "write ratio", "MB per 1000 frames", "decode ms/frame", "decode ratio"])
    for way in ("copy", "remux", "h264"):
        decode = read.get(way)
        section.rows.append([way, f"{1000 * write[way] / N_FRAMES:.1f}", f"{write[way] / write['remux']:.2f}x",
                             f"{sizes[way] / N_FRAMES * 1000 / 1e6:.0f}",
                             "-" if decode is None else f"{1000 * decode / N_FRAMES:.1f}",
                             "-" if decode is None else f"{decode / read['remux']:.2f}x"])
    return [section]


if __name__ == "__main__":
    print(run()[0].markdown())
