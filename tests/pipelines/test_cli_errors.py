"""Exit codes that say what happened, and options checked where the command starts (STYLE.md "Errors")."""
from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from manifests import ConfigError, InputError
from pipelines.cli.common import EXIT_BAD_INPUT, EXIT_BUG, exit_codes

STANDIN = Path(__file__).resolve().parents[1] / "pseudolabel" / "standin"


def _command(error: Exception) -> click.Command:
    @click.command()
    @exit_codes
    def fails() -> None:
        raise error

    return fails


def test_a_user_error_is_one_line_and_exit_2_and_a_bug_is_a_traceback_and_exit_3():
    user = CliRunner().invoke(_command(InputError("tags.txt:3: 'x y' is not a hashtag")))
    assert user.exit_code == EXIT_BAD_INPUT == 2
    assert user.output == "Error: tags.txt:3: 'x y' is not a hashtag\n"

    # A ValueError or an OSError is not the user's by itself: it used to become one line and exit 1, the
    # code of "some units failed".
    for bug in (ValueError("cannot reshape array of size 74"), FileNotFoundError("/tmp/x/part-1.parquet")):
        result = CliRunner().invoke(_command(bug))
        assert result.exit_code == EXIT_BUG == 3
        assert "Traceback (most recent call last)" in result.output and str(bug) in result.output


def test_status_of_an_empty_root_is_bad_input(tmp_path):
    from pipelines.cli.pseudolabel import main

    result = CliRunner().invoke(main, ["status", "--root", str(tmp_path / "empty")])
    assert result.exit_code == 2, result.output
    assert "has no stage status yet: run hmmr-harvest first" in result.output


def test_a_tags_file_with_bad_lines_is_bad_input(tmp_path):
    from pipelines.cli.harvest import main

    tags = tmp_path / "tags.txt"
    tags.write_text("dance\nnot a tag\n")
    result = CliRunner().invoke(main, ["--root", str(tmp_path / "data"), "--hashtags", str(tags)])
    assert result.exit_code == 2, result.output
    assert "tags.txt:2: 'not a tag' is not a hashtag" in result.output
    assert not (tmp_path / "data").exists()  # refused before any cluster or folder


def test_an_unknown_ytdlp_option_is_refused_at_the_start_with_the_valid_ones(tmp_path):
    from pipelines.cli.harvest import main

    urls, config = tmp_path / "urls.txt", tmp_path / "harvest.yaml"
    urls.write_text("https://example.com/a.mp4\n")
    config.write_text("extra_ytdlp_options:\n  ratelimt: 1000\n  concurrent_fragment_downloads: 2\n")
    result = CliRunner().invoke(main, ["--root", str(tmp_path / "data"), "--urls", str(urls), "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "yt-dlp has no option(s) ['ratelimt']" in result.output and "did you mean 'ratelimit'" in result.output
    assert "concurrent_fragment_downloads" in result.output  # the list of valid ones
    assert not (tmp_path / "data").exists()


def test_every_option_our_harvest_gives_ytdlp_is_one_it_knows():
    from harvest.config import HarvestConfig
    from harvest.ytdlp import _base_options
    from harvest.ytdlp_options import check_ytdlp_options, known_ytdlp_options

    known = known_ytdlp_options()
    assert known is not None and len(known) > 100
    check_ytdlp_options(_base_options(HarvestConfig(cookies_file=None), logger=None))  # raises on a stranger
    with pytest.raises(ConfigError, match=r"no option\(s\) \['no_such_option'\]"):
        HarvestConfig(extra_ytdlp_options={"no_such_option": True})


def test_an_unknown_pose_backend_option_is_refused_when_the_spec_is_made():
    from pseudolabel.backends import BackendSpec

    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['tile'\] of the blazepose pose backend; valid "
                                          r"options: \['detection_threshold', .*'tile_px'"):
        BackendSpec("blazepose", (("tile", 128),))
    with pytest.raises(ConfigError, match="tile_px must be 0 or >= 64"):  # a bad value too, not on the workers
        BackendSpec("blazepose", (("tile_px", 8),))


def test_an_unknown_openpose_parameter_is_refused_at_the_cli_with_the_valid_ones(tmp_path):
    from pipelines.cli.pseudolabel import main

    weights = tmp_path / "models" / "pose" / "body_25" / "pose_iter_584000.caffemodel"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stand-in")
    args = ["run", "--root", str(tmp_path / "data"), "--backend", "openpose", "--openpose-model-folder",
            str(tmp_path / "models"), "--openpose-python-path", str(STANDIN)]
    result = CliRunner().invoke(main, [*args, "--openpose-param", "scale_number=4", "--openpose-param", "scal_gap=0.25"])
    assert result.exit_code == 2, result.output
    assert "unknown OpenPose parameter(s) ['scal_gap']; valid parameters: [" in result.output
    assert "'scale_gap'" in result.output
    owned = CliRunner().invoke(main, [*args, "--openpose-param", "model_pose=COCO"])
    assert owned.exit_code == 2 and "model_pose: always BODY_25" in owned.output
    malformed = CliRunner().invoke(main, [*args, "--openpose-param", "scale_number"])
    assert malformed.exit_code == 2 and "'scale_number' is not NAME=VALUE" in malformed.output


def test_openpose_parameters_reach_the_wrapper_and_enter_the_stage_version(tmp_path):
    import sys

    from pipelines.cli.common import pose_config

    weights = tmp_path / "models" / "pose" / "body_25" / "pose_iter_584000.caffemodel"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stand-in")
    plain = pose_config("openpose", str(tmp_path / "models"), str(STANDIN), "-1x368", (), 256, None, None, 8, local=False)
    tuned = pose_config("openpose", str(tmp_path / "models"), str(STANDIN), "-1x368", (("scale_number", "4"),), 256,
                        None, None, 8, local=False)
    assert "extra_params" not in plain.version() and "scale_number" in tuned.version()
    try:
        tuned.backend.build()
        import pyopenpose as standin

        assert standin.CONFIGURED[-1]["scale_number"] == "4" and standin.CONFIGURED[-1]["model_pose"] == "BODY_25"
    finally:
        sys.modules.pop("pyopenpose", None)
        sys.path.remove(str(STANDIN))
