"""Media files a hostile or careless site serves, made for the tests: a header claiming huge frames, and
phone clips stored sideways with rotation metadata.

`claim_frame_size` rewrites the sequence parameter set (the H.264 header that gives the frame size) of a
real baseline-profile stream, so a 40 KB file claims frames of, say, 16000x16000: the decoder allocates
what the header says before it finds the slices do not fit.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests_helpers import ffmpeg_exe

_START_CODE = re.compile(b"(\x00\x00\x00\x01|\x00\x00\x01)")


def _unescape(payload: bytes) -> bytes:
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(rbsp: bytes) -> bytes:
    """Insert H.264's emulation-prevention bytes (00 00 0x with x <= 3 -> 00 00 03 0x)."""
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self.bits = "".join(f"{byte:08b}" for byte in data)
        self.pos = 0

    def u(self, n: int) -> int:
        value = int(self.bits[self.pos:self.pos + n], 2)
        self.pos += n
        return value

    def ue(self) -> int:
        """An unsigned Exp-Golomb number."""
        n_zeros = 0
        while self.bits[self.pos] == "0":
            n_zeros += 1
            self.pos += 1
        self.pos += 1
        rest = self.u(n_zeros) if n_zeros else 0
        return (1 << n_zeros) - 1 + rest


def _ue(value: int) -> str:
    code = f"{value + 1:b}"
    return "0" * (len(code) - 1) + code


def _rewrite_sps(nal: bytes, width_px: int, height_px: int) -> bytes:
    """A baseline-profile SPS NAL with its frame size replaced (multiples of 16, no cropping)."""
    reader = _BitReader(_unescape(nal[1:]))
    profile = reader.u(8)
    reader.u(16)  # constraint flags, level
    reader.ue()  # seq_parameter_set_id
    if profile != 66:
        raise ValueError(f"a baseline-profile (66) stream is needed, got profile {profile}")
    reader.ue()  # log2_max_frame_num_minus4
    poc_type = reader.ue()
    if poc_type == 0:
        reader.ue()
    elif poc_type != 2:
        raise ValueError(f"picture order count type {poc_type} is not handled")
    reader.ue()  # max_num_ref_frames
    reader.u(1)  # gaps_in_frame_num_allowed
    head = reader.bits[:reader.pos]
    reader.ue(), reader.ue()  # the old width and height in macroblocks, minus one
    if reader.u(1) != 1:
        raise ValueError("interlaced streams are not handled")
    direct_8x8 = reader.u(1)
    if reader.u(1):  # frame cropping
        for _ in range(4):
            reader.ue()
    tail = reader.bits[reader.pos:].rstrip("0")  # VUI onwards, up to the stop bit
    bits = head + _ue(width_px // 16 - 1) + _ue(height_px // 16 - 1) + "1" + str(direct_8x8) + "0" + tail
    bits += "0" * (-len(bits) % 8)
    return nal[:1] + _escape(int(bits, 2).to_bytes(len(bits) // 8, "big"))


def claim_frame_size(out: Path, width_px: int = 16000, height_px: int = 16000, seconds: float = 1.0) -> Path:
    """An mp4 of a small real clip whose H.264 header claims frames of width_px x height_px."""
    small = out.with_suffix(".small.h264")
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x128:rate=25",
                    "-t", str(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-profile:v", "baseline",
                    "-preset", "ultrafast", "-f", "h264", str(small)], check=True)
    pieces = _START_CODE.split(small.read_bytes())
    rewritten = [_rewrite_sps(p, width_px, height_px) if p and not _START_CODE.fullmatch(p) and p[0] & 0x1F == 7
                 else p for p in pieces]
    claimed = out.with_suffix(".h264")
    claimed.write_bytes(b"".join(rewritten))
    # -max_pixels: FFmpeg would decode the claimed frames to learn the stream's parameters (seconds, GBs).
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "h264", "-framerate", "25", "-max_pixels", "1000",
                    "-i", str(claimed),
                    "-c", "copy", str(out)], check=True)
    small.unlink()
    claimed.unlink()
    return out


def portrait_clip_stored_sideways(out: Path, rotation_deg: int, size: str = "96x160") -> Path:
    """A portrait clip (`size` as shown) stored turned, with the display rotation that turns it back, as
    phones record: the stored frames are the shown ones turned `rotation_deg` clockwise."""
    transpose = {90: "transpose=clock", 180: "transpose=clock,transpose=clock", 270: "transpose=cclock"}[rotation_deg]
    stored = out.with_suffix(".stored.mp4")
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
                    "-t", "0.4", "-vf", transpose, "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                    str(stored)], check=True)
    # -display_rotation is counter-clockwise: it turns the stored frames back upright.
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-display_rotation", str(rotation_deg), "-i", str(stored),
                    "-c", "copy", str(out)], check=True)
    stored.unlink()
    return out
