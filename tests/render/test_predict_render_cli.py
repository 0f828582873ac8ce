"""End to end on a real clip: `hmmr-predict <tube_id> --render ...` writes the mp4, the still, the npz and the
OBJ sequence; the report's Predictions section shows a still per sampled tube in headless Chromium."""
from __future__ import annotations

import shutil
import subprocess
import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pipelines.cli.predict import main as predict_cli
from pipelines.cli.pseudolabel import main as pseudolabel_cli

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def featured(client, posed_angle_zoom, tmp_path_factory):
    """angle_zoom harvested, posed, tracked and featured (random-init ResNet-50, no jittered views); a
    checkpoint of an untrained small HMMR; the SMPL-format mannequin."""
    import torch

    from manifests import TUBES, read_table
    from pipelines.features import extract_features
    from pipelines.runner import RunnerConfig
    from train.body import write_test_smpl
    from train.checkpoint import Checkpoint, save_checkpoint
    from train.config import TrainConfig
    from train.features import FeatureConfig, JitterConfig
    from train.model import HMMR, ModelConfig
    from tests_helpers import copy_root

    folder = tmp_path_factory.mktemp("predict_render")
    root = copy_root(posed_angle_zoom, folder / "root")
    extract_features(client, root, FeatureConfig(jitter=JitterConfig(views=0)), RunnerConfig(progress=False))
    torch.manual_seed(0)
    config = ModelConfig(width=64, groups=8, regressor_width=64)
    checkpoint = folder / "checkpoint.pt"
    save_checkpoint(checkpoint, Checkpoint(step=0, config=TrainConfig(str(root.path), str(folder / "smpl"), str(folder),
                                                                      model=config), model=HMMR(config).state_dict()))
    write_test_smpl(folder / "smpl" / "SMPL_NEUTRAL.pkl")
    tubes = read_table(root, TUBES).sort_values("n_frames", ascending=False)
    assert len(tubes) >= 1
    return root, checkpoint, folder / "smpl", tubes.iloc[0]


def test_predict_renders_a_tube_with_smoothing_and_exports(featured, tmp_path):
    root, checkpoint, smpl_dir, tube = featured
    middle = int(tube.start_frame + tube.n_frames // 2)
    args = [tube.tube_id, "--root", str(root.path), "--checkpoint", str(checkpoint), "--smpl-model-dir", str(smpl_dir),
            "--out", str(tmp_path / "tube.npz"), "--render", str(tmp_path / "tube.mp4"), "--side-view",
            "--render-frame", str(middle), str(tmp_path / "still.png"), "--smooth", "--vertices",
            "--export-obj", str(tmp_path / "objs"), "--label", "untrained model", "--no-progress"]
    result = CliRunner().invoke(predict_cli, args)
    assert result.exit_code == 0, result.output
    assert "joint acceleration" in result.output and "mm/frame^2" in result.output
    assert "RANDOM-INIT FEATURES" in result.output  # said, and written on every frame

    arrays = np.load(tmp_path / "tube.npz")
    n = int(tube.n_frames)
    assert arrays["frames"].tolist() == list(range(tube.start_frame, tube.start_frame + n))
    assert arrays["pose"].shape == (n, 72) and arrays["betas"].shape == (n, 10) and bool(arrays["smoothed"])
    assert arrays["vertices"].shape == (n, 6890, 3) and arrays["keypoints"].shape == (n, 25, 3)
    np.testing.assert_allclose(arrays["bbox"], np.stack(tube.bbox), rtol=1e-6)

    with av.open(str(tmp_path / "tube.mp4")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == n and (frames[0].width, frames[0].height) == (2 * 768, 576)  # the clip, and its side view
    with Image.open(tmp_path / "still.png") as still:
        assert still.size == (2 * 768, 576)
    assert len(list((tmp_path / "objs" / tube.tube_id).glob("*.obj"))) == n


def test_render_options_need_the_smpl_model(featured, tmp_path):
    root, checkpoint, _, tube = featured
    result = CliRunner().invoke(predict_cli, [tube.tube_id, "--root", str(root.path), "--checkpoint", str(checkpoint),
                                              "--render", str(tmp_path / "x.mp4")])
    assert result.exit_code == 2 and "need --smpl-model-dir" in result.output
    assert not (tmp_path / "x.mp4").exists()


def test_a_still_past_the_video_is_bad_input_not_a_bug(featured, tmp_path):
    root, checkpoint, smpl_dir, tube = featured
    result = CliRunner().invoke(predict_cli, [tube.tube_id, "--root", str(root.path), "--checkpoint", str(checkpoint),
                                              "--smpl-model-dir", str(smpl_dir), "--out", str(tmp_path / "t.npz"),
                                              "--render-frame", "100000", str(tmp_path / "late.png")])
    assert result.exit_code == 2 and "no frame 100000" in result.output, result.output  # not 3 with a traceback
    assert not (tmp_path / "late.png").exists()


def test_the_report_shows_prediction_stills_in_a_browser(featured, tmp_path):
    root, checkpoint, smpl_dir, _ = featured
    result = CliRunner().invoke(pseudolabel_cli, ["report", "--root", str(root.path), "--out", str(tmp_path),
                                                  "--checkpoint", str(checkpoint), "--smpl-model-dir", str(smpl_dir),
                                                  "--label", "random weights"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "index.html").read_text()
    section = page[page.index("<h2 id='predictions'>"):]
    stills = sorted(tmp_path.glob("prediction_*.png"))
    assert len(stills) == 1 == section.count("<img ")  # one video, so one sampled tube
    with Image.open(stills[0]) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[1] == 2 * pixels.shape[0] * 4 // 3  # a 4:3 frame and its side view
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (.ci/run installs it) for the browser half")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace(
        "</body>", "<script>window.onload=()=>{const ok=[...document.images].filter(i=>i.complete&&i.naturalWidth>0)"
                   ".length;document.body.setAttribute('data-loaded',ok+'/'+document.images.length)}</script></body>"))
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--allow-file-access-from-files", "--virtual-time-budget=5000"]
    dom = subprocess.run([*flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    images = page.count("<img ")
    assert f'data-loaded="{images}/{images}"' in dom.stdout, dom.stderr[-2000:]
    # A screenshot of the Predictions section alone: the still is there, not a blank page.
    alone = tmp_path / "predictions.html"
    alone.write_text(page[:page.index("<body>") + 6] + section)
    shot = tmp_path / "predictions_screenshot.png"
    subprocess.run([*flags, "--window-size=1280,1100", f"--screenshot={shot}", alone.as_uri()], capture_output=True,
                   timeout=120)
    with Image.open(shot) as image:
        screenshot = np.asarray(image.convert("RGB")).astype(int)
    assert (screenshot.sum(-1) < 600).mean() > 0.08  # the video half of the still; a blank page is all white
