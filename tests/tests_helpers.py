"""Helpers importable by test modules (conftest fixtures cannot be imported by name)."""
from __future__ import annotations


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def harvest_clips(client, root, names, tmp_path, runner=None):
    """Harvest committed clips of real people (tests/data/<name>.mp4) into `root` through the loopback site."""
    from pathlib import Path

    from harvest.loopback import Site, serve
    from harvest.queries import read_url_list
    from harvest.ytdlp import HarvestConfig
    from pipelines.harvest import harvest
    from pipelines.runner import RunnerConfig

    data = Path(__file__).resolve().parent / "data"
    site = Site(media={f"{n}.mp4": data / f"{n}.mp4" for n in names})
    with serve(site) as base:
        listing = tmp_path / "list.txt"
        listing.write_text("".join(f"{base}/media/{n}.mp4\n" for n in names))
        stats = harvest(client, root, read_url_list(listing), HarvestConfig(source_template=base + "/{tag}"),
                        runner or RunnerConfig(progress=False))
    assert stats[-1].n_ok == len(names), stats[-1].summary()
    return root
