"""Measure what a (track, detection) pair costs when both are the same person and when they are not, and
set the tracker's constants from it (written to tracking/calibrated.py).

    python -m tracking.calibrate                    # measure and print
    python tests/data/pose_clips.py ~/.cache/hmmr/tracking-calibration   # once
    python -m tracking.calibrate --write --plot docs/tracking_calibration.png

1. Joint spreads, from a real detector: the embedded BlazePose backend's detections on the committed
   clips of real pedestrians (tests/data/pose_clips.py writes them to --detections), cut into tracklets
   that are surely one person each (tracking.pairs.tracklet_scene); each joint's spread is measured from its residual
   around the box centre between consecutive sightings (robust: from the median).
2. Cost distributions, under a detector's noise (5% box jitter, 10% missed detections, the measured joint
   jitter, 5% missed joints) on calibration scenes: the synthetic scenes drawn with other seeds than the
   evaluation's, eight more street crowds, and TUD-Campus (TUD-Stadtmitte is kept for the evaluation).
3. Joint weights: how much better than a coin each joint alone links (tracking.pairs.decision_error).
4. The OKS scale and OKS/IoU blend are searched on a grid, the gate set for each at a high quantile of the
   same-person costs (so that only that share of true continuations is refused); the triple kept is the
   one whose tracks have the best IDF1 on the calibration scenes.
5. With those, how long a lost track is kept (the best IDF1), then the deferral margin: the one with the
   fewest id flaps among those within IDF1_TOLERANCE of the best IDF1 (fit_linking).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from manifests.joints import BODY_25
from tracking import calibrated
from tracking.evaluate import fast_idf1, flaps
from tracking.link import TrackerConfig, link_tracks
from tracking.pairs import Pairs, collect_pairs, costs, decision_error, joint_spreads, tracklet_scene
from tracking.scenes import Noise, Scene, add_noise, crowd_scene, mot_scene, mot_sequences, synthetic_scenes

log = logging.getLogger(__name__)
CALIBRATION_NOISE = Noise(box_jitter=0.05, miss_rate=0.10, joint_noise=1.0, joint_miss_rate=0.05)
SCALES = (0.5, 1.0, 2.0, 4.0)
BLENDS = (0.2, 0.4, 0.6, 0.8)
SAME_QUANTILES = (0.995, 0.999, 0.9995, 0.9999)
GATES = np.linspace(0.3, 1.0, 71)
MAX_GAPS = (15, 22, 30, 45)
DEFER_MARGINS = (0.0, 0.1, 0.15, 0.2, 0.25)
IDF1_TOLERANCE = 0.001  # deferral margins this close to the best IDF1 are told apart by their id flaps


@dataclass(frozen=True)
class Calibration:
    sigmas: np.ndarray
    weights: np.ndarray
    oks_scale: float
    oks_weight: float
    max_cost: float
    same_quantile: float  # the gate is this quantile of the same-person costs
    idf1: float  # mean IDF1 on the calibration scenes with these constants
    same_refused: float  # same-person pairs over the gate
    different_allowed: float  # different-person pairs under the gate
    max_gap: int = calibrated.MAX_GAP
    defer_margin: float = calibrated.DEFER_MARGIN


def real_detections(folder: Path) -> list[Scene]:
    """Tracklet scenes of a pose backend's detections on real clips: one npz (frames, keypoints) per clip
    in `folder`, as tests/data/pose_clips.py writes them."""
    paths = sorted(folder.glob("*.npz"))
    if not paths:
        raise FileNotFoundError(f"no detections (*.npz) in {folder}: run python tests/data/pose_clips.py {folder}")
    return [tracklet_scene(path.stem, np.load(path)["frames"], np.load(path)["keypoints"]) for path in paths]


def calibration_scenes(spreads: np.ndarray, noise: Noise = CALIBRATION_NOISE, seeds: tuple[int, ...] = (0, 1)
                       ) -> list[Scene]:
    """The synthetic scenes drawn with other seeds than the evaluation's, eight more crowds, and TUD-Campus,
    under `noise`."""
    base = [scene for seed in seeds for scene in synthetic_scenes(seed=100 + seed)]
    # Crowds are where the constants matter: more of them than the other synthetic scenes.
    base += [crowd_scene(f"crowd_{fps:.0f}fps", seed=200 + seed, fps=fps) for seed in range(4) for fps in (10.0, 25.0)]
    base += [mot_scene("TUD-Campus", mot_sequences()["TUD-Campus"], max_covered=1.0)] * len(seeds)
    return [add_noise(scene, noise, 100 + i, spreads) for i, scene in enumerate(base)]


def joint_weights(pairs: Pairs, sigmas: np.ndarray) -> np.ndarray:
    """(25,) how much better than a coin flip each joint alone links, scaled so the best is 1."""
    weights = np.zeros(len(sigmas))
    for j in range(len(sigmas)):
        alone = np.zeros(len(sigmas))
        alone[j] = 1.0
        if pairs.both[:, j].sum() >= 20:
            weights[j] = max(0.0, 0.5 - decision_error(pairs, costs(pairs, sigmas, alone, 1.0), GATES).min())
    return weights / weights.max()


def fit(real: Pairs, pairs: Pairs, scenes: list[Scene]) -> Calibration:
    """The constants from real same-person residuals (`real`), cost pairs and scenes (see the module)."""
    sigmas = joint_spreads(real)
    weights = joint_weights(pairs, sigmas)
    best = None
    for scale in SCALES:
        for oks_weight in BLENDS:
            cost = costs(pairs, sigmas * scale, weights, oks_weight)
            for quantile in SAME_QUANTILES:
                gate = round(float(np.quantile(cost[pairs.same], quantile)), 3)
                config = TrackerConfig(oks_weight=oks_weight, max_cost=min(gate, 1.0), oks_scale=scale,
                                       sigmas=tuple(sigmas), joint_weights=tuple(weights))
                idf1 = float(np.mean([fast_idf1(s, link_tracks(s.frames, s.keypoints, s.shot_starts, config, s.frame_size))
                                      for s in scenes]))
                log.info("scale %.2f blend %.1f gate %.3f (q %.3f): IDF1 %.4f", scale, oks_weight, gate, quantile, idf1)
                if best is None or idf1 > best[0] + 1e-9:
                    best = (idf1, scale, oks_weight, min(gate, 1.0), quantile)
    idf1, scale, oks_weight, gate, quantile = best
    cost = costs(pairs, sigmas * scale, weights, oks_weight)
    return Calibration(sigmas=sigmas, weights=weights, oks_scale=scale, oks_weight=oks_weight, max_cost=gate,
                       same_quantile=quantile, idf1=idf1, same_refused=float((cost[pairs.same] > gate).mean()),
                       different_allowed=float((cost[~pairs.same] <= gate).mean()))


def fewest_flaps(scores: dict[float, tuple[float, int]], tolerance: float = IDF1_TOLERANCE) -> float:
    """The setting with the fewest flaps among those whose IDF1 is within `tolerance` of the best;
    scores: setting -> (mean IDF1, flaps). Ties go to the higher IDF1."""
    best = max(idf1 for idf1, _ in scores.values())
    near = {k: v for k, v in scores.items() if v[0] >= best - tolerance}
    return min(near, key=lambda k: (near[k][1], -near[k][0]))


def fit_linking(scenes: list[Scene], config: TrackerConfig) -> tuple[int, float]:
    """(max_gap, defer_margin) for `config`'s costs, on the calibration scenes: the gap with the best
    mean IDF1 (no deferral), then the margin by fewest_flaps."""
    def measured(trial: TrackerConfig) -> tuple[float, int]:
        ids = [link_tracks(s.frames, s.keypoints, s.shot_starts, trial, s.frame_size) for s in scenes]
        return (float(np.mean([fast_idf1(s, i) for s, i in zip(scenes, ids)])),
                sum(flaps(s, i) for s, i in zip(scenes, ids)))

    gaps = {gap: measured(replace(config, max_gap=gap, defer_margin=0.0)) for gap in MAX_GAPS}
    gap = max(gaps, key=lambda g: gaps[g][0])
    margins = {margin: measured(replace(config, max_gap=gap, defer_margin=margin)) for margin in DEFER_MARGINS}
    for name, trials in (("max_gap", gaps), ("defer_margin", margins)):
        for value, (idf1, n_flaps) in trials.items():
            log.info("%s %s: IDF1 %.4f, %d flaps", name, value, idf1, n_flaps)
    return gap, fewest_flaps(margins)


def module_text(calibration: Calibration) -> str:
    def array(values: np.ndarray) -> str:
        return "np.array([" + ", ".join(f"{v:.4f}" for v in values) + "])"

    return (f'"""The tracker\'s measured constants, written by `python -m tracking.calibrate --write` (the README\'s\n'
            f"tracking section says how they were measured). SIGMAS: each joint's spread in body heights, WEIGHTS:\n"
            f"its weight, in BODY_25 order ({', '.join(BODY_25[:3])}, ...).\"\"\"\nimport numpy as np\n\n"
            f"SIGMAS = {array(calibration.sigmas)}\nWEIGHTS = {array(calibration.weights)}\n"
            f"OKS_SCALE = {calibration.oks_scale}\nOKS_WEIGHT = {calibration.oks_weight}\n"
            f"MAX_COST = {calibration.max_cost}\nMAX_GAP = {calibration.max_gap}\n"
            f"DEFER_MARGIN = {calibration.defer_margin}\n")


def plot(pairs: Pairs, calibration: Calibration, path: Path) -> None:
    """Same-person costs against the cheapest other detection of each prediction, with the gate; and the
    measured joint spreads against COCO's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tracking.similarity import COCO_SIGMAS

    cost = costs(pairs, calibration.sigmas * calibration.oks_scale, calibration.weights, calibration.oks_weight)
    nearest_other = np.full(pairs.event.max() + 1, np.inf)
    np.minimum.at(nearest_other, pairs.event[~pairs.same], cost[~pairs.same])
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    bins = np.linspace(0, 1, 51)
    left.hist(cost[pairs.same & (pairs.gap == 1)], bins, alpha=0.6, label="same person, seen last frame")
    left.hist(cost[pairs.same & (pairs.gap > 1)], bins, alpha=0.6, label="same person, after a gap")
    left.hist(nearest_other[np.isfinite(nearest_other)], bins, alpha=0.6, label="cheapest other person")
    left.axvline(calibration.max_cost, color="k", linestyle="--", label=f"gate {calibration.max_cost}")
    left.set_yscale("log")
    left.set_xlabel("cost = w (1 - keypoint similarity) + (1 - w) (1 - IoU)")
    left.set_ylabel("pairs")
    left.legend(fontsize=7)
    order = np.arange(len(BODY_25))
    right.bar(order - 0.2, calibration.sigmas, 0.4, label="measured (BlazePose)")
    right.bar(order + 0.2, COCO_SIGMAS, 0.4, label="COCO (as heights)")
    right.set_xticks(order, [name.replace("_", " ") for name in BODY_25], rotation=90, fontsize=6)
    right.set_ylabel("joint spread (body heights)")
    right.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    import click

    @click.command()
    @click.option("--detections", default=str(Path.home() / ".cache" / "hmmr" / "tracking-calibration"),
                  show_default=True, type=click.Path(file_okay=False),
                  help="A pose backend's detections on real clips (tests/data/pose_clips.py writes them).")
    @click.option("--write", is_flag=True, help="Write the constants to tracking/calibrated.py.")
    @click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write the cost plot (PNG) here.")
    def command(detections: str, write: bool, plot_path: str | None) -> None:
        """Measure the tracker's cost distributions and set its constants from them."""
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        real = Pairs.concatenate([collect_pairs(s) for s in real_detections(Path(detections))])
        sigmas = joint_spreads(real)
        scenes = calibration_scenes(sigmas)
        pairs = Pairs.concatenate([collect_pairs(s) for s in scenes])
        calibration = fit(real, pairs, scenes)
        gap, margin = fit_linking(scenes, TrackerConfig(
            oks_weight=calibration.oks_weight, max_cost=calibration.max_cost, oks_scale=calibration.oks_scale,
            sigmas=tuple(calibration.sigmas), joint_weights=tuple(calibration.weights)))
        calibration = replace(calibration, max_gap=gap, defer_margin=margin)
        same, other = pairs.same.sum(), (~pairs.same).sum()
        click.echo(f"{len(real.residual)} real same-person residuals, {same} same-person and {other} other pairs")
        click.echo(f"spreads {np.round(calibration.sigmas, 3).tolist()}\nweights {np.round(calibration.weights, 2).tolist()}")
        click.echo(f"OKS scale {calibration.oks_scale}, blend {calibration.oks_weight}, gate {calibration.max_cost} "
                   f"(same-person quantile {calibration.same_quantile}); same refused {calibration.same_refused:.4f}, "
                   f"others allowed {calibration.different_allowed:.4f}; calibration IDF1 {calibration.idf1:.4f}; "
                   f"lost tracks kept {gap} frames, deferral margin {margin}")
        if write:
            target = Path(__file__).with_name("calibrated.py")
            target.write_text(module_text(calibration))
            click.echo(f"wrote {target}")
        if plot_path:
            plot(pairs, calibration, Path(plot_path))
            click.echo(f"wrote {plot_path}")

    command.main(args=argv, standalone_mode=True)


if __name__ == "__main__":
    main()
