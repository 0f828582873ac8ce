"""`hmmr-train`: features for the tubes, the temporal HMMR trainer, and its evaluation."""
from __future__ import annotations

import click

from manifests.tables import CROP_PX, N_SMPL_POSE, N_SMPL_SHAPE
from pipelines.cli.common import (BadInput, cluster_config, cluster_options, dataset_root, exit_codes, from_flags,
                                  report, root_option, runner_config, runner_options, setup_logging)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
DEFAULT_STEPS = 560_000  # train.config.DEFAULT_STEPS (not imported here: --help stays instant without torch)


def _train_options(function):
    options = [
        root_option,
        click.option("--datasets", default="insta,vlog", show_default=True, help="Datasets to train on (names in the tubes table)."),
        click.option("--snapshot", default=None,
                     help="Train on exactly the tubes of this snapshot (`hmmr-dataset snapshot NAME`) [default: the "
                          "live tubes; their fingerprint is recorded in config.json and --resume refuses others]."),
        click.option("--mix", default="3d=0.5", show_default=True,
                     help="Each batch's share of windows with 3D supervision (the paper's split-balanced half), and "
                          "optional dataset weights within each half, e.g. 3d=0.5,insta=2,vlog=1."),
        click.option("--smpl-model-dir", type=click.Path(exists=True), default=None,
                     help="Folder with neutral_smpl_with_cocoplustoesankles_reg.pkl (the released model's joints) or "
                          "SMPL_NEUTRAL.pkl / the official basicModel_neutral_*.pkl, and optionally "
                          "neutral_smpl_meanwjoints.h5."),
        click.option("--mean-params", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="HMR's neutral_smpl_meanwjoints.h5, when it is not in --smpl-model-dir."),
        click.option("--mocap", type=click.Path(exists=True, dir_okay=False), default=None,
                     help=f"npz of real SMPL poses (N, {N_SMPL_POSE}) and betas (N, {N_SMPL_SHAPE}): the adversarial "
                          "prior's real poses (required unless --no-adversarial)."),
        click.option("--no-adversarial", is_flag=True, help="Train without the adversarial pose prior (not the paper's)."),
        click.option("--out", "out_dir", default="runs/train", show_default=True, help="Checkpoints and logs."),
        click.option("--steps", default=DEFAULT_STEPS, show_default=True,
                     help="Optimiser steps (the released model: 559,908 at batch 8)."),
        click.option("--batch-size", default=8, show_default=True, help="Windows per step (per process under torchrun)."),
        click.option("--window", default=20, show_default=True, help="Frames per training sequence."),
        click.option("--augment/--no-augment", default=True, show_default=True,
                     help="Draw windows from the jittered and mirrored views the features stage made."),
        click.option("--lr", "learning_rate", default=1e-5, show_default=True, help="Adam learning rate of the model."),
        click.option("--lr-schedule", default="constant", show_default=True, type=click.Choice(["constant", "cosine"]),
                     help="constant (the paper's) or a cosine decay to a tenth at the last step."),
        click.option("--d-lr", "discriminator_learning_rate", default=1e-4, show_default=True,
                     help="Adam learning rate of the pose discriminator."),
        click.option("--bf16", "mixed_precision", is_flag=True,
                     help="bf16 autocast of the network's forward on a GPU (the body model and losses stay float32)."),
        click.option("--width", default=2048, show_default=True, help="Temporal encoder channels (paper: 2048)."),
        click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt (same model and data settings)."),
        click.option("--stop-after", "stop_after_steps", type=int, default=None,
                     help="Leave after this many steps of this run, with a checkpoint (a job's time limit); "
                          "--resume continues the same schedule."),
        click.option("--device", default="auto", show_default=True),
        click.option("--loader-workers", default=2, show_default=True,
                     help="Processes reading windows from the training store ahead of the step (0: in this one)."),
        click.option("--store", "store_dir", default=None,
                     help="The training store, kept up to date from the manifests by every run [default: ROOT/store]."),
        click.option("-v", "--verbose", is_flag=True),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@_train_options
@click.pass_context
@exit_codes
def main(ctx, root, datasets, snapshot, mix, smpl_model_dir, mean_params, mocap, no_adversarial, out_dir, steps,
         batch_size, window, augment, learning_rate, lr_schedule, discriminator_learning_rate, mixed_precision, width,
         resume, stop_after_steps, device, loader_workers, store_dir, verbose):
    """Train temporal HMMR on the tubes of ROOT (needs their features: `hmmr-train features` first), with
    the released code's objective, optimiser and defaults (see the README for every departure).

    \b
    hmmr-train features --root data --feature-weights resnet50.pth   # GPU stage, incremental
    hmmr-train --root data --datasets insta,vlog --smpl-model-dir models/ --mocap cmu_poses.npz
    torchrun --nproc_per_node 4 $(which hmmr-train) --root data ...   # several GPUs (DDP)
    hmmr-train eval --root data --checkpoint runs/train/checkpoint.pt --datasets 3dpw,h36m,penn --split test
    """
    if ctx.invoked_subcommand is not None:
        return
    from dataclasses import replace

    from train.config import TrainConfig
    from train.data import DataError
    from train.losses import ObjectiveConfig
    from train.loop import train
    from train.mixing import parse_mix
    from train.model import ModelConfig
    from train.smpl_io import SMPLFormatError

    setup_logging(verbose)
    if not smpl_model_dir:
        raise click.UsageError("--smpl-model-dir is required (see the README: how to get SMPL)")
    objective = ObjectiveConfig()
    if no_adversarial:
        objective = replace(objective, adversarial=0.0, discriminator=0.0)
    config = from_flags(TrainConfig, root=root, smpl_model_dir=smpl_model_dir, out_dir=out_dir,
                        datasets=tuple(d for d in datasets.split(",") if d), mix=from_flags(parse_mix, mix),
                        mocap=mocap, mean_params=mean_params, snapshot=snapshot, steps=steps, batch_size=batch_size,
                        window=window, augment=augment, learning_rate=learning_rate, learning_rate_schedule=lr_schedule,
                        discriminator_learning_rate=discriminator_learning_rate, mixed_precision=mixed_precision,
                        device=device, loader_workers=loader_workers, store_dir=store_dir,
                        model=from_flags(ModelConfig, width=width), objective=objective)
    try:
        losses = train(config, resume=resume, stop_after_steps=stop_after_steps)
    except (DataError, SMPLFormatError) as e:  # the dataset root's tubes, the SMPL file the user gave
        raise BadInput(str(e)) from e
    click.echo(f"trained to step {steps}: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(losses.items())))


@main.command(context_settings=CONTEXT)
@root_option
@click.option("--encoder", default="resnet50", show_default=True, type=click.Choice(["resnet50", "hmr"]),
              help="resnet50: torchvision's ResNet-50 layout, ImageNet normalisation. hmr: HMR's ResNet-v2-50, "
                   "pixels in [-1, 1], the encoder the released HMMR model was trained on.")
@click.option("--feature-weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The encoder's weights: a torchvision-layout ResNet-50 state dict (resnet50), or the file "
                   "`hmmr-convert-checkpoint hmr hmr_noS5.ckpt-642561` writes (hmr) [default: random init, warned].")
@click.option("--batch-frames", default=64, show_default=True)
@click.option("--jitter-views", default=2, show_default=True,
              help="Augmented copies of each tube besides its own crops (each costs a backbone pass per frame; "
                   "0 turns augmentation off).")
@click.option("--jitter-scale-log2", default=0.3, show_default=True,
              help="Each crop is scaled by 2^U(-x, x) (the released scale_max).")
@click.option("--jitter-shift", default=20.0, show_default=True,
              help=f"Largest shift, in pixels of the {CROP_PX} crop (the released trans_max).")
@click.option("--jitter-per-tube", is_flag=True,
              help="One scale and shift for a whole copy instead of a fresh draw per frame (the released code's).")
@click.option("--flip-probability", default=0.5, show_default=True,
              help="Chance that a copy is mirrored left-right, its targets with it (the released code's 0.5).")
@click.option("--imported", is_flag=True,
              help="Also the tubes imported with `hmmr-import tfrecords` (from their stand-in videos of crops): "
                   "this extractor's features replace the file's image/phis.")
@cluster_options
@runner_options
@exit_codes
def features(root, encoder, feature_weights, batch_frames, jitter_views, jitter_scale_log2, jitter_shift,
             jitter_per_tube, flip_probability, imported, address, n_workers, threads_per_worker, retry_failed, limit,
             lock_wait, flush_every, no_progress, verbose):
    """Compute 2048-D features (ResNet-50, or HMR's ResNet-v2-50 with --encoder hmr) of every tube, in
    its own crop boxes and in --jitter-views augmented copies, for every video that has none at these
    settings (GPU workers when present). A video is decoded once for all its tubes; one tracked or
    imported again since is done again.

    \b
    hmmr-convert-checkpoint hmr models/hmr_noS5.ckpt-642561 --out models/hmr_encoder.pt
    hmmr-train features --root data --encoder hmr --feature-weights models/hmr_encoder.pt
    """
    from pipelines.cluster import connect
    from pipelines.features import extract_features
    from train.features import FeatureConfig, JitterConfig

    setup_logging(verbose)
    config = from_flags(FeatureConfig, encoder=encoder, weights=feature_weights, batch_frames=batch_frames,
                        jitter=from_flags(JitterConfig, views=jitter_views, scale_log2=jitter_scale_log2,
                                          shift_px=jitter_shift, per_frame=not jitter_per_tube,
                                          flip_probability=flip_probability))
    with connect(cluster_config(address, n_workers, threads_per_worker)) as client:
        stats = extract_features(client, dataset_root(root), config,
                                 runner_config(retry_failed, limit, lock_wait, flush_every, no_progress),
                                 imported=imported)
    report([stats])


@main.command("eval", context_settings=CONTEXT)
@root_option
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--datasets", default="", help="Datasets to evaluate, e.g. 3dpw,h36m,penn [default: the checkpoint's].")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--smpl-model-dir", type=click.Path(exists=True), default=None,
              help="SMPL model folder [default: the one the checkpoint trained with].")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="JSON results [default: eval_<split>_<datasets>.json beside the checkpoint].")
@click.option("--device", default="auto", show_default=True)
@click.option("-v", "--verbose", is_flag=True)
@exit_codes
def evaluate_command(root, checkpoint, datasets, split, smpl_model_dir, out, device, verbose):
    """The paper's evaluation of a checkpoint on whole tubes, as the authors' released eval computes it.

    \b
    hmmr-import 3dpw /data/3DPW --root data --split test --smpl-model-dir models/smpl   # once per dataset
    hmmr-train features --root data
    hmmr-train eval --root data --checkpoint runs/hmmr/checkpoint.pt --datasets 3dpw,h36m,penn --split test

    \b
    Rows: movie (the temporal model's present), hallucinated (one frame alone), past_5 / future_5 (the
    hallucinator's poses 5 frames away, against the truth there) and their constant baselines.
    Columns: accel (mm/frame^2, predicted joints), accel_error (vs the truth), kp / kp_pa (px of the 224
    crop, before / after the best scale and translation), pck (within 0.05 x 224 px), mpjpe / pa_mpjpe (mm,
    14 LSP joints, pelvis-aligned; datasets with 3D only). Our own datasets work too (2D metrics only).
    """
    from train.evaluate import EvalConfig, evaluate_checkpoint, format_table

    setup_logging(verbose)
    config = EvalConfig(root=root, checkpoint=checkpoint, datasets=tuple(d for d in datasets.split(",") if d),
                        split=split, smpl_model_dir=smpl_model_dir, device=device, out=out)
    results, written = evaluate_checkpoint(config)
    click.echo(format_table(results))
    click.echo(f"written: {written}")


if __name__ == "__main__":
    main()
