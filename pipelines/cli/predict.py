"""`hmmr-predict`: SMPL parameters per frame of a video file or of a tube, from a trained checkpoint."""
from __future__ import annotations

import mimetypes
from pathlib import Path

import click

from pipelines.cli.common import BadInput, dataset_root, exit_codes, pose_config, pose_options, root_option
from pipelines.cli.tracking_flags import tracking_config, tracking_options
from pipelines.cli.predict_outputs import output_options, output_request, write_outputs


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.argument("video_or_tube")
@root_option
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--out", default=None,
              help="A video: folder for one npz per tube [default: <video name>_hmmr/]. A tube: the npz to "
                   "write [default: <tube_id>.npz].")
@click.option("--encoder", default="resnet50", show_default=True, type=click.Choice(["resnet50", "hmr"]),
              help="A video: the image encoder the checkpoint was trained on features of (as `hmmr-train "
                   "features --encoder`; hmr for the released model).")
@click.option("--feature-weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A video: that encoder's weights (as `hmmr-train features --feature-weights`).")
@output_options
@pose_options
@tracking_options
@exit_codes
def main(video_or_tube, root, checkpoint, out, encoder, feature_weights, smpl_model_dir, render_path, render_frame,
         side_view, label, render_max_side, smooth, smooth_min_cutoff, smooth_beta, with_vertices, export_obj,
         no_progress, backend, openpose_model_folder, openpose_python_path, net_resolution, openpose_params, tile_px,
         fps, max_side_px, batch_frames, tracker_settings, tube_settings):
    """Predict per-frame SMPL (camera, pose, shape) with the temporal encoder, and each frame's
    past/present/future pose from that frame alone (the hallucinator).

    \b
    hmmr-predict clip.mp4 --checkpoint runs/hmmr/checkpoint.pt --feature-weights resnet50_hmr.pth
    hmmr-predict <tube_id> --root data --checkpoint runs/hmmr/checkpoint.pt
    hmmr-predict clip.mp4 ... --smpl-model-dir models/smpl --render clip_hmmr.mp4 --side-view --smooth
    hmmr-predict <tube_id> ... --smpl-model-dir models/smpl --render-frame 120 look.png --export-obj meshes/

    A VIDEO file is posed, tracked, cut into tubes and featured in this process, with the pipeline's own
    settings (the pose, --tracker and --tube options below); each tube's npz also holds its frames,
    keypoints and crop boxes.
    A TUBE id reads the features `hmmr-train features` made for it in ROOT.
    Every npz holds frames, fps, track_id, pose (axis-angle), betas, camera, bbox (see render/export.py).
    """
    from pipelines.visualise import RANDOM_FEATURES_LABEL, predict_root_tube
    from train.checkpoint import load_model

    request = output_request(smpl_model_dir, render_path, render_frame, side_view, label, render_max_side, smooth,
                             smooth_min_cutoff, smooth_beta, with_vertices, export_obj, no_progress)
    tracking = tracking_config(tracker_settings, tube_settings)
    model = load_model(Path(checkpoint)).model
    if Path(video_or_tube).is_file():
        _predict_video(model, Path(video_or_tube), out, encoder, feature_weights,
                       pose_config(backend, openpose_model_folder, openpose_python_path, net_resolution, openpose_params,
                                   tile_px, fps, max_side_px, batch_frames, local=True), tracking, request)
        return
    looks_like_a_file = (any(sep in video_or_tube for sep in "/\\")
                         or (mimetypes.guess_type(video_or_tube)[0] or "").startswith("video/"))
    if looks_like_a_file:
        raise BadInput(f"{video_or_tube}: no such video file (a tube id has no folder or extension)")
    try:
        tube, video = predict_root_tube(dataset_root(root), model, video_or_tube)
    except KeyError as e:  # the tube id the user gave is not in the root, or has no features
        raise BadInput(str(e.args[0])) from e
    write_outputs([tube], lambda tube_id: Path(out or f"{tube_id}.npz"), video.media_path, video.fps, request,
                  [RANDOM_FEATURES_LABEL] if video.random_features else [], whole_video=False)


def _predict_video(model, video: Path, out: str | None, encoder: str, feature_weights: str | None, pose, tracking,
                   request) -> None:
    from manifests import tube_id_of
    from media.probe import VideoError, probe_video
    from pipelines.predict import VideoPredictConfig, predict_video
    from pipelines.visualise import RANDOM_FEATURES_LABEL, predicted
    from train.features import FeatureConfig, JitterConfig

    config = VideoPredictConfig(pose=pose, tracking=tracking,
                                features=FeatureConfig(encoder=encoder, weights=feature_weights,
                                                       jitter=JitterConfig(views=0)))
    try:
        results = predict_video(model, video, config)
    except VideoError as e:  # the file the user gave is no readable video
        raise BadInput(str(e)) from e
    if not results:
        raise BadInput(f"{video}: no tube found (no person tracked for {config.tracking.tubes.min_frames} "
                       f"frames with enough joints seen); nothing to predict")
    folder = Path(out or f"{video.stem}_hmmr")
    folder.mkdir(parents=True, exist_ok=True)
    tubes = [predicted(tube_id_of(video.stem, tube.track_id, tube.start_frame), tube.track_id, tube.start_frame,
                       tube.bbox, arrays, tube.keypoints) for tube, arrays in results]
    write_outputs(tubes, lambda tube_id: folder / f"{tube_id}.npz", video, pose.decode.fps or probe_video(video).fps,
                  request, [] if feature_weights else [RANDOM_FEATURES_LABEL], whole_video=True)


if __name__ == "__main__":
    main()
