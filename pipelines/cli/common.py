"""Options every command shares (dataset root, cluster, runner), and honest exit codes."""
from __future__ import annotations

import functools
import logging
import traceback
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click
import yaml

from manifests import DatasetRoot, InputError
from manifests.status import first_line
from pipelines.records import RunStats

if TYPE_CHECKING:
    from pipelines.cluster import ClusterConfig
    from pipelines.runner import RunnerConfig
    from pseudolabel.work import PoseStageConfig

Config = TypeVar("Config")

# What a command's exit status says (STYLE.md "Errors").
EXIT_UNITS_FAILED = 1  # the command ran; some units failed (see `status`), a re-run with --retry-failed redoes them
EXIT_BAD_INPUT = 2  # bad input or usage: the message says what to fix (click's usage errors exit 2 too)
EXIT_BUG = 3  # anything else: a bug, with its traceback


class BadInput(click.ClickException):
    """A user error: printed as "Error: <message>", exit status 2."""

    exit_code = EXIT_BAD_INPUT


def exit_codes(function: Callable) -> Callable:
    """A command's exit status says what happened: our `InputError`s (a bad file, flag, root, model folder)
    print their message and exit 2; click's own errors keep theirs; anything else is a bug: its whole
    traceback, then exit 3, never 1 (which means "some units failed") nor a one-line message."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except InputError as e:
            raise BadInput(str(e)) from e
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception:  # noqa: BLE001 - not swallowed: printed whole, only the exit status is chosen here
            traceback.print_exc()
            raise SystemExit(EXIT_BUG) from None

    return wrapper


def from_flags(build: Callable[..., Config], *args: Any, **values: Any) -> Config:
    """A config dataclass (or a parsed flag) from flags: a value its own checks refuse (ValueError) is a bad
    flag, exit 2. A TypeError (a field that does not exist) is our bug and stays one."""
    try:
        return build(*args, **values)
    except ValueError as e:
        raise BadInput(str(e)) from e


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
        click.option("--openpose-param", "openpose_params", multiple=True, metavar="NAME=VALUE",
                     callback=name_value_pairs,
                     help="Another OpenPose parameter, named as its command-line flag (e.g. scale_number=4); "
                          "repeatable. An unknown name is refused with the list of valid ones."),
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


def name_value_pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        name, equals, setting = value.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(f"{value!r} is not NAME=VALUE", ctx=ctx, param=param)
        pairs.append((name.strip(), setting.strip()))
    return tuple(pairs)


def pose_config(backend: str, openpose_model_folder: str | None, openpose_python_path: str | None,
                net_resolution: str, openpose_params: tuple[tuple[str, str], ...], tile_px: int, fps: float | None,
                max_side_px: int | None, batch_frames: int, local: bool) -> PoseStageConfig:
    """The pose stage's config from `pose_options`: its options and OpenPose's files are checked here, before
    any worker starts."""
    from media.decode import DecodeConfig
    from pseudolabel.backends import BackendSpec
    from pseudolabel.work import PoseStageConfig

    if backend == "openpose":
        from pseudolabel.backends.openpose import check_model_folder, import_pyopenpose

        if not openpose_model_folder:
            raise click.UsageError("--backend openpose needs --openpose-model-folder")
        check_model_folder(openpose_model_folder)  # fail now, not on every worker
        options: tuple[tuple[str, Any], ...] = (
            ("model_folder", openpose_model_folder), ("net_resolution", net_resolution),
            ("python_path", openpose_python_path))
        if openpose_params:  # only when given: the options enter the stage version
            options += (("extra_params", openpose_params),)
    else:
        if openpose_params:
            raise click.UsageError("--openpose-param goes with --backend openpose")
        options = (("tile_px", tile_px),)
    config = from_flags(PoseStageConfig, backend=from_flags(BackendSpec, name=backend, options=options),
                        decode=from_flags(DecodeConfig, fps=fps, max_side_px=max_side_px), batch_frames=batch_frames)
    if backend == "openpose" and local:
        import_pyopenpose(openpose_python_path)  # a local cluster (or this process) needs it here too
    return config


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
    # Imported here, as the runner below: Dask and distributed take ~0.3 s to import, and `hmmr-train`
    # (the trainer, which every command module shares this file with) never starts a cluster.
    from pipelines.cluster import ClusterConfig

    return from_flags(ClusterConfig, address=address, n_workers=n_workers, threads_per_worker=threads_per_worker)


def runner_config(retry_failed: bool, limit: int, lock_wait: float, flush_every: int, no_progress: bool) -> RunnerConfig:
    from pipelines.runner import RunnerConfig

    return from_flags(RunnerConfig, retry_failed=retry_failed, limit=limit, lock_wait_s=lock_wait,
                      flush_every_units=flush_every, progress=not no_progress)


def load_yaml_config(cls: type, path: str | None, overrides: dict[str, Any]) -> Any:
    """Build a config dataclass: defaults in code, then the YAML file, then flags. Unknown keys are errors."""
    values: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as e:
            raise click.BadParameter(f"{path} is not valid YAML: {e}") from e
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
    """Print each stage's summary, its skip and failure reasons with counts, and the first failures; exit 1
    when any unit failed."""
    for one in stats:
        click.echo(one.summary())
        for kind, counts in (("skipped", one.skipped_by_reason), ("failed", one.failed_by_reason)):
            if counts:
                click.echo(f"  {kind}: {reason_counts(counts)}")
        for failure in one.failures[:5]:
            click.echo(f"  failed {failure.unit_id}: {failure.reason}: {first_line(failure.message)[:300]}")
    n_failed = sum(s.n_failed for s in stats)
    if n_failed:
        click.echo(f"{n_failed} units failed; fix the cause and re-run with --retry-failed", err=True)
        raise SystemExit(EXIT_UNITS_FAILED)


def reason_counts(counts: dict[str, int]) -> str:
    """'too_long 3, duplicate 2': reasons, most frequent first."""
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def dataset_root(path: str) -> DatasetRoot:
    return DatasetRoot(Path(path))
