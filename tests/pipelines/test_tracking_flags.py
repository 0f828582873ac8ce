"""`--tracker NAME=VALUE` and `--tube NAME=VALUE` (pipelines/cli/tracking_flags.py): checked where the
command starts, and on a real posed root they re-track with the setting given."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from manifests import TUBES, read_table
from pipelines.cli.pseudolabel import main
from tests_helpers import copy_root


@pytest.mark.parametrize("flag, setting, says", [
    ("--tracker", "unsure_iuo=1", "TrackerConfig has no setting 'unsure_iuo'; settable: defer_margin,"),
    ("--tracker", "max_gap=1.5", "--tracker max_gap=1.5: expected int, as its default 30"),
    ("--tracker", "merge=maybe", "expected true or false, as its default True"),
    ("--tracker", "unsure_iou=2", "--tracker: TrackerConfig.unsure_iou must be in (0, 1], got 2.0"),
    ("--tube", "min_frames=0", "--tube: TubeConfig needs 1 <= min_frames <= max_frames"),
    ("--tube", "bridge_frames", "'bridge_frames' is not NAME=VALUE"),
])
def test_a_bad_tracking_setting_is_refused_at_the_start_naming_its_flag(tmp_path, flag, setting, says):
    result = CliRunner().invoke(main, ["run", "--root", str(tmp_path / "data"), flag, setting])
    assert result.exit_code == 2 and says in result.output, result.output
    assert not (tmp_path / "data").exists()  # refused before any cluster or folder


@pytest.mark.slow
def test_the_released_tube_rule_is_one_flag_away_and_a_new_setting_retracks(client, posed_angle_zoom, tmp_path):
    """`--tube bridge_frames=0`: a detector's miss of 3 frames cuts a tube again, as in the released code.
    Pose is not redone; tracking is, once per new setting."""
    root = copy_root(posed_angle_zoom, tmp_path / "root")
    bridged = read_table(root, TUBES).sort_values("tube_id").reset_index(drop=True)
    args = ["run", "--root", str(root.path), "--cluster", client.scheduler.address, "--no-progress"]

    released = CliRunner().invoke(main, [*args, "--tube", "bridge_frames=0"])
    assert released.exit_code == 0, released.output
    assert "pose: nothing to do" in released.output and "tracking: 1 ok" in released.output
    assert 0 < read_table(root, TUBES)["n_frames"].sum() < bridged["n_frames"].sum()
    again = CliRunner().invoke(main, [*args, "--tube", "bridge_frames=0"])
    assert again.exit_code == 0 and "tracking: nothing to do" in again.output, again.output

    default = CliRunner().invoke(main, args)
    assert default.exit_code == 0 and "tracking: 1 ok" in default.output, default.output
    back = read_table(root, TUBES).sort_values("tube_id").reset_index(drop=True)
    assert back[["tube_id", "n_frames"]].equals(bridged[["tube_id", "n_frames"]])
