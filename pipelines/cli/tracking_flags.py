"""`--tracker NAME=VALUE` and `--tube NAME=VALUE`: any scalar setting of the tracker (tracking.link.TrackerConfig)
or of the tube rules (tracking.tubes.TubeConfig) from the command line, for `hmmr-pseudolabel run` and
`hmmr-predict` on a video file. The README's tracking section names each setting's measured effect; the
released behaviour is one flag away where we depart from it (e.g. `--tube bridge_frames=0`)."""
from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, Callable

import click

from pipelines.cli.common import BadInput, from_flags, name_value_pairs

if TYPE_CHECKING:
    from tracking.work import TrackingConfig

SCALARS = (bool, int, float, str)


def tracking_options(function: Callable) -> Callable:
    options = [
        click.option("--tracker", "tracker_settings", multiple=True, metavar="NAME=VALUE", callback=name_value_pairs,
                     help="A tracker setting (tracking.link.TrackerConfig; README, Tracking), e.g. unsure_iou=1 for "
                          "no coin-toss rule; repeatable. A new setting re-tracks every video."),
        click.option("--tube", "tube_settings", multiple=True, metavar="NAME=VALUE", callback=name_value_pairs,
                     help="A tube rule (tracking.tubes.TubeConfig), e.g. bridge_frames=0 for the released rule (a "
                          "detector's miss of 3 frames cuts a tube) or min_frames=20; repeatable."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def tracking_config(tracker_settings: tuple[tuple[str, str], ...],
                    tube_settings: tuple[tuple[str, str], ...]) -> TrackingConfig:
    """The tracking stage's config from `tracking_options`, checked here, before any worker starts."""
    from tracking.link import TrackerConfig
    from tracking.tubes import TubeConfig
    from tracking.work import TrackingConfig

    configs = []
    for config_class, pairs, flag in ((TrackerConfig, tracker_settings, "--tracker"),
                                      (TubeConfig, tube_settings, "--tube")):
        try:
            configs.append(from_flags(config_class, **settings(config_class, pairs, flag)))
        except BadInput as e:  # the config's own check: say which flag it was
            raise BadInput(e.message if e.message.startswith(flag) else f"{flag}: {e.message}") from e
    return TrackingConfig(tracker=configs[0], tubes=configs[1])


def settings(config_class: type, pairs: tuple[tuple[str, str], ...], flag: str) -> dict[str, Any]:
    """{field: value} for NAME=VALUE pairs, each value read as the type of the field's default."""
    defaults = config_class()
    settable = {f.name: type(getattr(defaults, f.name)) for f in fields(config_class)
                if isinstance(getattr(defaults, f.name), SCALARS)}
    values = {}
    for name, text in pairs:
        if name not in settable:
            raise BadInput(f"{flag} {name}={text}: {config_class.__name__} has no setting {name!r}; "
                           f"settable: {', '.join(sorted(settable))}")
        kind = settable[name]
        try:
            values[name] = _read(kind, text)
        except ValueError:
            raise BadInput(f"{flag} {name}={text}: expected {'true or false' if kind is bool else kind.__name__}, "
                           f"as its default {getattr(defaults, name)!r}") from None
    return values


def _read(kind: type, text: str) -> Any:
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return text.lower() in ("true", "1")
    return kind(text)
