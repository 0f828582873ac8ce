"""`hmmr-train`: features for the tubes, the temporal HMMR trainer, and its evaluation."""
from __future__ import annotations

import click

from pipelines.cli.common import (cluster_config, cluster_options, dataset_root, friendly_errors, report, root_option,
                                  runner_config, runner_options, setup_logging)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _train_options(function):
    options = [
        root_option,
        click.option("--datasets", default="insta,vlog", show_default=True, help="Datasets to train on (names in the tubes table)."),
        click.option("--mix", default="", help="Share of windows per dataset, e.g. insta=2,vlog=1 [default: equal]."),
        click.option("--smpl-model-dir", type=click.Path(exists=True), default=None,
                     help="Folder with SMPL_NEUTRAL.pkl (or the official basicModel_neutral_*.pkl)."),
        click.option("--mocap", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="npz of real SMPL poses (N, 72) and betas (N, 10) for the adversarial prior [default: off]."),
        click.option("--out", "out_dir", default="runs/train", show_default=True, help="Checkpoints and logs."),
        click.option("--steps", default=100_000, show_default=True),
        click.option("--batch-size", default=8, show_default=True),
        click.option("--window", default=20, show_default=True, help="Frames per training sequence."),
        click.option("--augment/--no-augment", default=True, show_default=True,
                     help="Draw windows from the scale/shift-jittered views the features stage made."),
        click.option("--lr", "learning_rate", default=1e-4, show_default=True),
        click.option("--width", default=2048, show_default=True, help="Temporal encoder channels (paper: 2048)."),
        click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt."),
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
@friendly_errors
def main(ctx, root, datasets, mix, smpl_model_dir, mocap, out_dir, steps, batch_size, window, augment, learning_rate, width,
         resume, stop_after_steps, device, loader_workers, store_dir, verbose):
    """Train temporal HMMR on the tubes of ROOT (needs their features: `hmmr-train features` first).

    \b
    hmmr-train features --root data --feature-weights resnet50.pth   # GPU stage, incremental
    hmmr-train --root data --datasets insta,vlog --smpl-model-dir smpl/ --mocap cmu_poses.npz
    torchrun --nproc_per_node 4 $(which hmmr-train) --root data ...   # several GPUs (DDP)
    hmmr-train eval --root data --checkpoint runs/train/checkpoint.pt --split val
    """
    if ctx.invoked_subcommand is not None:
        return
    from train.loop import TrainConfig, parse_mix, train
    from train.model import ModelConfig

    setup_logging(verbose)
    if not smpl_model_dir:
        raise click.UsageError("--smpl-model-dir is required (see the README: how to get SMPL)")
    config = TrainConfig(root=root, smpl_model_dir=smpl_model_dir, out_dir=out_dir,
                         datasets=tuple(d for d in datasets.split(",") if d), mix=parse_mix(mix), mocap=mocap,
                         steps=steps, batch_size=batch_size, window=window, augment=augment, learning_rate=learning_rate,
                         device=device, loader_workers=loader_workers, store_dir=store_dir,
                         model=ModelConfig(width=width))
    losses = train(config, resume=resume, stop_after_steps=stop_after_steps)
    click.echo(f"trained to step {steps}: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(losses.items())))


@main.command(context_settings=CONTEXT)
@root_option
@click.option("--feature-weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="torchvision-layout ResNet-50 weights (e.g. converted HMR weights) [default: random init, warned].")
@click.option("--batch-frames", default=64, show_default=True)
@click.option("--jitter-views", default=2, show_default=True,
              help="Augmented copies of each tube besides its own boxes: one random scale and shift per copy "
                   "(each costs a backbone pass per frame; 0 turns augmentation off).")
@click.option("--jitter-scale", default=(0.8, 1.23), type=(float, float), show_default=True,
              help="Range of the scale factor (HMR's scale_min, scale_max).")
@click.option("--jitter-shift", default=20.0, show_default=True, help="Largest shift, in pixels of the 224 crop.")
@cluster_options
@runner_options
@friendly_errors
def features(root, feature_weights, batch_frames, jitter_views, jitter_scale, jitter_shift, address, n_workers,
             threads_per_worker, retry_failed, limit, lock_wait, flush_every, no_progress, verbose):
    """Compute 2048-D ResNet-50 features of every tube, in its own crop boxes and in --jitter-views
    augmented ones, for every video that has none at these settings (GPU workers when present). A video
    is decoded once for all its tubes; one tracked again since is done again."""
    from pipelines.cluster import connect
    from pipelines.features import extract_features
    from train.features import FeatureConfig, JitterConfig

    setup_logging(verbose)
    config = FeatureConfig(weights=feature_weights, batch_frames=batch_frames,
                           jitter=JitterConfig(views=jitter_views, scale_range=jitter_scale, shift_px=jitter_shift))
    with connect(cluster_config(address, n_workers, threads_per_worker)) as client:
        stats = extract_features(client, dataset_root(root), config,
                                 runner_config(retry_failed, limit, lock_wait, flush_every, no_progress))
    report([stats])


@main.command("eval", context_settings=CONTEXT)
@root_option
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--split", default="val", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--batches", default=16, show_default=True)
@friendly_errors
def evaluate_command(root, checkpoint, split, batches):
    """PCK@0.05 and acceleration of a checkpoint on a split of its datasets."""
    import torch

    from train.body import BodyModel
    from train.data import WindowSampler, prepare_store, select_tubes
    from train.loop import TrainConfig, evaluate
    from train.losses import LossWeights
    from train.model import HMMR, ModelConfig
    from train.sampling import SamplingRules

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    saved = dict(state["config"])
    saved["model"], saved["weights"] = ModelConfig(**saved["model"]), LossWeights(**saved["weights"])
    saved["datasets"] = tuple(saved["datasets"])
    saved["mix"] = tuple(tuple(m) for m in saved["mix"])
    config = TrainConfig(**{**saved, "root": root, "store_dir": None, "val_batches": batches, "device": "cpu"})
    model = HMMR(config.model)
    model.load_state_dict(state["model"])
    store = prepare_store(dataset_root(root), config.datasets, config.store_dir)
    tubes = select_tubes(store, dataset_root(root), config.datasets, split, config.window)
    if not len(tubes):
        raise click.ClickException(f"no {split} tubes of {list(config.datasets)} with features in {root}")
    metrics = evaluate(model, BodyModel(config.smpl_model_dir), WindowSampler(tubes, SamplingRules(config.window)),
                       config, torch.device("cpu"))
    for name, value in metrics.items():
        click.echo(f"{name}: {value:.4f}")


if __name__ == "__main__":
    main()
