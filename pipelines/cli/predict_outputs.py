"""What `hmmr-predict` writes from its predictions: an npz per tube, and on request smoothing, a rendered
mp4 or still, and OBJ sequences. The options, and one function that writes everything asked for."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click

from pipelines.cli.common import BadInput


def output_options(function: Callable) -> Callable:
    options = [
        click.option("--smpl-model-dir", type=click.Path(exists=True, file_okay=False), default=None,
                     help="Folder of the SMPL model (as `hmmr-train --smpl-model-dir`): needed by --render, "
                          "--render-frame, --export-obj, --vertices and --smooth."),
        click.option("--render", "render_path", type=click.Path(dir_okay=False), default=None,
                     help="Write an mp4 of the video with every tube's mesh drawn over it (a colour per track, as "
                          "`hmmr-pseudolabel show`)."),
        click.option("--render-frame", nargs=2, type=(int, click.Path(dir_okay=False)), default=None,
                     metavar="N OUT.png", help="Write one still: video frame N with the meshes drawn."),
        click.option("--side-view", is_flag=True, help="Put a side view of the people beside each rendered frame."),
        click.option("--label", default="", help="Text written on every rendered frame."),
        click.option("--render-max-side", type=int, default=1280, show_default=True,
                     help="Downscale rendered frames so the longer side is at most this (0 = the video's size)."),
        click.option("--smooth", is_flag=True,
                     help="One-euro filter on pose and camera over time (VIBE's; off by default); prints the "
                          "joints' acceleration before and after."),
        click.option("--smooth-min-cutoff", type=float, default=0.004, show_default=True,
                     help="--smooth: cutoff at rest, cycles per frame (lower = smoother)."),
        click.option("--smooth-beta", type=float, default=0.7, show_default=True,
                     help="--smooth: how fast the cutoff rises with speed (higher = less lag)."),
        click.option("--vertices", "with_vertices", is_flag=True,
                     help="Also store SMPL vertices (n, 6890, 3), faces and joints in each npz."),
        click.option("--export-obj", type=click.Path(file_okay=False), default=None,
                     help="Folder for one OBJ per frame of every tube (<folder>/<tube_id>/), for Blender."),
        click.option("--no-progress", is_flag=True, help="No progress bar while rendering."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@dataclass(frozen=True)
class OutputRequest:
    smpl_model_dir: Path | None
    render_path: Path | None
    render_frame: tuple[int, Path] | None
    side_view: bool
    label: str
    render_max_side: int | None
    smooth: bool
    smooth_min_cutoff: float
    smooth_beta: float
    with_vertices: bool
    export_obj: Path | None
    progress: bool

    @property
    def renders(self) -> bool:
        return self.render_path is not None or self.render_frame is not None

    @property
    def needs_body(self) -> bool:
        return self.renders or self.smooth or self.with_vertices or self.export_obj is not None


def output_request(smpl_model_dir, render_path, render_frame, side_view, label, render_max_side, smooth,
                   smooth_min_cutoff, smooth_beta, with_vertices, export_obj, no_progress) -> OutputRequest:
    request = OutputRequest(
        smpl_model_dir=Path(smpl_model_dir) if smpl_model_dir else None,
        render_path=Path(render_path) if render_path else None,
        render_frame=(int(render_frame[0]), Path(render_frame[1])) if render_frame else None,
        side_view=side_view, label=label, render_max_side=render_max_side or None, smooth=smooth,
        smooth_min_cutoff=smooth_min_cutoff, smooth_beta=smooth_beta, with_vertices=with_vertices,
        export_obj=Path(export_obj) if export_obj else None, progress=not no_progress)
    if request.needs_body and request.smpl_model_dir is None:
        raise click.UsageError("--render, --render-frame, --export-obj, --vertices and --smooth need "
                               "--smpl-model-dir (the SMPL model the checkpoint was trained with)")
    return request


def write_outputs(tubes: list, npz_path: Callable[[str], Path], media_path: Path | None, fps: float,
                  request: OutputRequest, warnings: list[str], whole_video: bool) -> None:
    """tubes: pipelines.visualise.PredictedTube. Writes each tube's npz at npz_path(tube_id), then what
    `request` asks for; media_path: the video the tubes are in (None: nothing to render on); whole_video:
    render every frame of it (else only the frames the tubes span); warnings: said, and written on renders."""
    from dataclasses import replace

    import numpy as np

    from render.export import person_arrays, write_npz, write_obj_sequence
    from render.overlay import OverlayConfig
    from render.people import posed_body, with_vertices
    from render.smoothing import SmoothingConfig, joint_acceleration_mm, smooth_person
    from render.video import FramesPastTheEnd, VideoRenderConfig, people_span, render_still, render_video, write_png

    body = faces = None
    if request.needs_body:
        from train.body import BodyModel

        body = BodyModel(request.smpl_model_dir)
        faces = body.smpl.faces.astype(np.int32)
    people = []
    for tube in tubes:
        person, joints = tube.person, None
        if request.smooth:
            before = posed_body(body, person)[1]
            person = smooth_person(person, SmoothingConfig(min_cutoff=request.smooth_min_cutoff,
                                                           beta=request.smooth_beta))
            joints = posed_body(body, person)[1]
            click.echo(f"{tube.tube_id}: smoothed; joint acceleration {joint_acceleration_mm(before):.2f} -> "
                       f"{joint_acceleration_mm(joints):.2f} mm/frame^2")
        if body is not None and (request.renders or request.with_vertices or request.export_obj):
            person = with_vertices(body, person)
            if request.with_vertices and joints is None:
                joints = posed_body(body, person)[1]
        stored = person if request.with_vertices else replace(person, vertices=None)
        target = write_npz(npz_path(tube.tube_id), person_arrays(
            stored, fps, smoothed=request.smooth, faces=faces, joints=joints if request.with_vertices else None,
            extra=tube.extra))
        click.echo(f"{target}: frames {person.frames[0]}..{person.frames[-1]}, track {person.track_id}")
        if request.export_obj is not None:
            size = _video_size(media_path)
            paths = write_obj_sequence(request.export_obj / tube.tube_id, person, faces, size)
            click.echo(f"{request.export_obj / tube.tube_id}: {len(paths)} OBJ files")
        people.append(person)
    if not request.renders:
        return
    if media_path is None:
        raise BadInput("nothing to render on: the tube's video is not in the root's videos table")
    for warning in warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    label = " | ".join(line for line in (request.label, *warnings) if line)
    config = VideoRenderConfig(overlay=OverlayConfig(side_view=request.side_view, label=label),
                               max_side_px=request.render_max_side)
    try:
        if request.render_path is not None:
            span = None if whole_video else people_span(people)
            n = render_video(media_path, fps, people, faces, request.render_path, replace(config, frames=span),
                             progress=request.progress)
            click.echo(f"{request.render_path}: {n} frames rendered")
        if request.render_frame is not None:
            frame, path = request.render_frame
            write_png(path, render_still(media_path, fps, people, faces, frame, config))
            click.echo(f"{path}: frame {frame}")
    except FramesPastTheEnd as e:  # the user asked for frames the video does not have
        raise BadInput(str(e)) from e


def _video_size(media_path: Path | None) -> tuple[int, int]:
    from media.probe import probe_video

    if media_path is None:
        raise BadInput("--export-obj places people with the video's size; the tube's video is not in "
                                   "the root's videos table")
    info = probe_video(media_path)
    return int(info.width), int(info.height)
