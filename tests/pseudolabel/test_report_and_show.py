"""The dataset report opened in headless Chromium (its images must load), and the tracks video."""
from __future__ import annotations

import shutil
import subprocess

import av
import pytest
from click.testing import CliRunner

from pipelines.cli.pseudolabel import main as pseudolabel_cli
from tests_helpers import copy_root

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def labelled(posed_angle_zoom, tmp_path_factory):
    return copy_root(posed_angle_zoom, tmp_path_factory.mktemp("report") / "root")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_report_renders_with_every_image_loaded(labelled, tmp_path):
    result = CliRunner().invoke(pseudolabel_cli, ["report", "--root", str(labelled.path), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    page = tmp_path / "index.html"
    images = page.read_text().count("<img ")
    assert images >= 5  # per dataset, per query, quality, failures, and at least one sample frame
    # A script in the page reports how many images decoded; Chromium prints the DOM after scripts ran.
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace(
        "</body>", "<script>window.onload=()=>{const ok=[...document.images].filter(i=>i.complete&&i.naturalWidth>0)"
                   ".length;document.body.setAttribute('data-loaded',ok+'/'+document.images.length)}</script></body>"))
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--allow-file-access-from-files",
                          "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert f'data-loaded="{images}/{images}"' in dom.stdout, dom.stderr[-2000:]


def test_show_writes_a_video_of_the_tracks(labelled, tmp_path):
    out = tmp_path / "tracks.mp4"
    result = CliRunner().invoke(pseudolabel_cli, ["show", "generic-angle_zoom", "--root", str(labelled.path),
                                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        frames = [f for f in container.decode(video=0)]
    assert len(frames) == 80 and frames[0].width == 768
    missing = CliRunner().invoke(pseudolabel_cli, ["show", "youtube-nope", "--root", str(labelled.path)])
    assert missing.exit_code != 0 and "no video 'youtube-nope'" in missing.output
