"""Options every command shares (dataset root, cluster, runner), and honest exit codes."""
from __future__ import annotations

import functools
import logging
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click
import yaml

from manifests import DatasetRoot, ManifestError
from manifests.status import first_line
from pipelines.cluster import ClusterConfig, ClusterError
from pipelines.runner import RunnerConfig, RunStats

if TYPE_CHECKING:
    from pseudolabel.work import PoseStageConfig


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our loggers run at INFO for the run folder's log; the terminal shows INFO only with --verbose.
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.INFO if verbose else logging.WARNING)
    for noisy in ("distributed", "tornado", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)


def root_option(function: Callable) -> Callable:
    return click.option("--root", default="data", show_default=True, type=click.Path(file_okay=False),
                        help="Dataset root: media/, manifests/ and runs/ live here.")(function)


def cluster_options_with(threads_per_worker: int, threads_help: str = "LocalCluster threads per worker.") -> Callable:
    """--cluster, --workers, --threads-per-worker, with a command's own default for threads (one per
    worker where work is CPU- or GPU-bound; more where it waits on the network)."""
    def decorate(function: Callable) -> Callable:
        options = [
            click.option("--cluster", "address", default=None, metavar="ADDRESS",
                         help="Scheduler of an existing Dask cluster (tcp://host:8786). Default: start a LocalCluster."),
            click.option("--workers", "n_workers", default=2, show_default=True, help="LocalCluster worker processes."),
            click.option("--threads-per-worker", default=threads_per_worker, show_default=True, help=threads_help),
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


cluster_options = cluster_options_with(1)


def pose_options(function: Callable) -> Callable:
    """The pose backend and decoding options (pseudolabel run, and predict on a video file)."""
    options = [
        click.option("--backend", default="blazepose", show_default=True, type=click.Choice(["blazepose", "openpose"]),
                     help="Pose model: blazepose = embedded CPU default; openpose = OpenPose BODY_25 via pyopenpose."),
        click.option("--openpose-model-folder", type=click.Path(file_okay=False), default=None,
                     help="OpenPose's models/ folder (required with --backend openpose)."),
        click.option("--openpose-python-path", type=click.Path(file_okay=False), default=None,
                     help="Folder of the built pyopenpose module (<openpose>/build/python/openpose)."),
        click.option("--net-resolution", default="-1x368", show_default=True, help="OpenPose network input size."),
        click.option("--tile-px", default=256, show_default=True,
                     help="blazepose: also look at tiles of this many pixels, to find small people (0 = whole frame only)."),
        click.option("--fps", type=float, default=None, help="Resample every video to this rate [default: its own]."),
        click.option("--max-side", "max_side_px", type=int, default=None,
                     help="Downscale frames for the detector so the longer side is at most this (keypoints stay in "
                          "original pixels)."),
        click.option("--batch-frames", default=8, show_default=True, help="Frames per backend call."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def pose_config(backend: str, openpose_model_folder: str | None, openpose_python_path: str | None,
                net_resolution: str, tile_px: int, fps: float | None, max_side_px: int | None, batch_frames: int,
                local: bool) -> PoseStageConfig:
    """The pose stage's config from `pose_options`; checks OpenPose's files here, before any worker starts."""
    from pseudolabel.backends import BackendSpec
    from media.decode import DecodeConfig
    from pseudolabel.work import PoseStageConfig

    if backend == "openpose":
        from pseudolabel.backends.openpose import check_model_folder, import_pyopenpose

        if not openpose_model_folder:
            raise click.UsageError("--backend openpose needs --openpose-model-folder")
        check_model_folder(openpose_model_folder)  # fail now, not on every worker
        options = (("model_folder", openpose_model_folder), ("net_resolution", net_resolution),
                   ("python_path", openpose_python_path))
        if local:
            import_pyopenpose(openpose_python_path)  # a local cluster (or this process) needs it here too
    else:
        options = (("tile_px", tile_px),)
    return PoseStageConfig(backend=BackendSpec(backend, options), decode=DecodeConfig(fps=fps, max_side_px=max_side_px),
                           batch_frames=batch_frames)


def runner_options(function: Callable) -> Callable:
    options = [
        click.option("--retry-failed", is_flag=True, help="Also redo units whose last attempt failed."),
        click.option("--limit", default=0, show_default=True, help="Do at most this many due units (0 = all)."),
        click.option("--lock-wait", default=0.0, show_default=True,
                     help="Seconds to wait for another run writing the same root (0 = exit at once)."),
        click.option("--flush-every", default=64, show_default=True, help="Units per committed flush."),
        click.option("--no-progress", is_flag=True, help="No progress bars (logs only)."),
        click.option("-v", "--verbose", is_flag=True, help="Log what each stage does."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def cluster_config(address: str | None, n_workers: int, threads_per_worker: int) -> ClusterConfig:
    return ClusterConfig(address=address, n_workers=n_workers, threads_per_worker=threads_per_worker)


def runner_config(retry_failed: bool, limit: int, lock_wait: float, flush_every: int, no_progress: bool) -> RunnerConfig:
    return RunnerConfig(retry_failed=retry_failed, limit=limit, lock_wait_s=lock_wait,
                        flush_every_units=flush_every, progress=not no_progress)


def load_yaml_config(cls: type, path: str | None, overrides: dict[str, Any]) -> Any:
    """Build a config dataclass: defaults in code, then the YAML file, then flags. Unknown keys are errors."""
    values: dict[str, Any] = {}
    if path:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise click.BadParameter(f"{path}: expected a mapping of {cls.__name__} fields")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise click.BadParameter(f"unknown {cls.__name__} keys {unknown}; known keys: {sorted(known)}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise click.BadParameter(str(e)) from e


def report(stats: list[RunStats]) -> None:
    """Print each stage's summary, its skip and failure reasons with counts, and the first failures; exit
    non-zero when any unit failed."""
    for one in stats:
        click.echo(one.summary())
        for kind, counts in (("skipped", one.skipped_by_reason), ("failed", one.failed_by_reason)):
            if counts:
                click.echo(f"  {kind}: {reason_counts(counts)}")
        for failure in one.failures[:5]:
            click.echo(f"  failed {failure['unit_id']}: {failure['reason']}: {first_line(failure['message'])[:300]}")
    n_failed = sum(s.n_failed for s in stats)
    if n_failed:
        click.echo(f"{n_failed} units failed; fix the cause and re-run with --retry-failed", err=True)
        raise SystemExit(1)


def reason_counts(counts: dict[str, int]) -> str:
    """'too_long 3, duplicate 2': reasons, most frequent first."""
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def friendly_errors(function: Callable) -> Callable:
    """Turn our boundary errors into a clean message and exit code 2 instead of a traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (ManifestError, ClusterError, ValueError, OSError) as e:
            raise click.ClickException(str(e)) from e

    return wrapper


def dataset_root(path: str) -> DatasetRoot:
    return DatasetRoot(Path(path))
