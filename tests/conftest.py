"""Fixtures shared by every test package: a real LocalCluster and a fresh dataset root."""
from __future__ import annotations

import pytest

from manifests import DatasetRoot
from tests_helpers import BLAZEPOSE_256, ffmpeg_exe


@pytest.fixture(scope="session")
def client():
    """A real LocalCluster of 2 worker processes, as `hmmr-pseudolabel run` starts by default."""
    from pipelines.cluster import ClusterConfig, connect

    with connect(ClusterConfig(n_workers=2, threads_per_worker=1, memory_limit="4GiB")) as dask_client:
        yield dask_client


@pytest.fixture
def root(tmp_path) -> DatasetRoot:
    return DatasetRoot(tmp_path / "dataset")


@pytest.fixture(scope="session")
def posed_angle_zoom(client, tmp_path_factory) -> DatasetRoot:
    """angle_zoom (a real clip of people) harvested, posed (BlazePose, tile_px 256) and tracked, once per
    session: tests that need a posed root copy it (`copy_root`) rather than pose the clip again."""
    from pipelines.pseudolabel import pseudolabel
    from pipelines.runner import RunnerConfig
    from pseudolabel.backends import BackendSpec
    from pseudolabel.work import PoseStageConfig
    from tests_helpers import harvest_clips

    folder = tmp_path_factory.mktemp("posed_angle_zoom")
    posed = DatasetRoot(folder / "root")
    harvest_clips(client, posed, ["angle_zoom"], folder)
    pseudolabel(client, posed, PoseStageConfig(backend=BackendSpec("blazepose", BLAZEPOSE_256)),
                RunnerConfig(progress=False))
    return posed


def make_clip(path, seconds: float = 2.0, size: str = "160x120", rate: int = 25, source: str = "testsrc2",
              extra: tuple[str, ...] = ("-movflags", "+faststart")) -> None:
    """A real H.264 mp4 made by ffmpeg from one of its test sources (content differs per source/size)."""
    import subprocess

    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"{source}=size={size}:rate={rate}", "-t", str(seconds), "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", "-preset", "ultrafast", *extra, str(path)], check=True)


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """Real media files for the harvest tests, each a kind of input a site can hand us."""
    import shutil
    import subprocess

    folder = tmp_path_factory.mktemp("clips")
    made = {}
    for name, source, size in (("walk", "testsrc2", "160x120"), ("jump", "smptebars", "160x120"),
                               ("run", "rgbtestsrc", "176x144"), ("swim", "testsrc", "160x120"),
                               ("skate", "mandelbrot", "128x96")):
        make_clip(folder / f"{name}.mp4", source=source, size=size)
        made[name] = folder / f"{name}.mp4"
    shutil.copy(made["walk"], folder / "walk_copy.mp4")  # the same bytes under another name
    made["walk_copy"] = folder / "walk_copy.mp4"
    make_clip(folder / "long.mp4", seconds=12.0, size="96x72")
    made["long"] = folder / "long.mp4"
    make_clip(folder / "big.mp4", seconds=3.0, size="320x240")  # several read blocks (~260 KB)
    made["big"] = folder / "big.mp4"
    make_clip(folder / "moov_at_end.mp4", seconds=3.0, extra=())
    data = (folder / "moov_at_end.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    made["truncated"] = folder / "truncated.mp4"
    (folder / "corrupt.mp4").write_bytes(bytes(range(256)) * 64)
    made["corrupt"] = folder / "corrupt.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440",
                    "-t", "2", "-c:a", "aac", str(folder / "audio_only.mp4")], check=True)
    made["audio_only"] = folder / "audio_only.mp4"
    return made
