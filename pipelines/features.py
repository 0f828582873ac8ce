"""Features wiring: a GPU stage over every video with tubes that have no features at this extractor version."""
from __future__ import annotations

from functools import partial

import pandas as pd
from distributed import Client

from manifests import FEATURES, TUBES, VIDEOS, DatasetRoot, live_table_flushes, read_table
from manifests.store import part_path
from pipelines.dask_scheduler import DaskScheduler
from pipelines.runner import RunnerConfig, RunStats, holding_root, run_stage
from pipelines.stage import Stage
from train.features import FeatureConfig, FeatureExtractor, FeaturesPayload, features_unit


def features_stage(config: FeatureConfig) -> Stage:
    return Stage(name="features", version=config.version(), outputs=(FEATURES,),
                 work=partial(features_unit, config=config), resources={"GPU": 1},
                 make_context=partial(FeatureExtractor, config), config=config)


def extract_features(client: Client, root: DatasetRoot, config: FeatureConfig, runner: RunnerConfig,
                     imported: bool = False) -> RunStats:
    """Features for the tubes of every tracked or imported video. A unit is a video (decoded once for all
    its tubes); a video tracked or imported again since its features were made (another commit of its
    tubes) is done again.
    imported: also the tubes imported from the authors' tfrecords (their stand-in videos of crops), whose
    features then replace the file's image/phis; without it those keep the features they came with."""
    with holding_root(root, "hmmr-train features", runner):
        tracked = live_table_flushes(root, TUBES)
        if not imported:
            from authors.tfrecord_import import TFRECORD_IMPORT_VERSION
            from pipelines.authors_import import imported_flushes

            tracked = tracked.drop(imported_flushes(root, TFRECORD_IMPORT_VERSION).index, errors="ignore")
        with_tubes = pd.unique(read_table(root, TUBES, columns=["video_id"])["video_id"])
        videos = read_table(root, VIDEOS, columns=["video_id", "media_path"]).set_index("video_id")
        payloads = [FeaturesPayload(unit_id=v, media_path=str(root.path / videos.at[v, "media_path"]),
                                    tubes_part=str(part_path(root, TUBES, tracked[v])), tubes_flush=tracked[v])
                    for v in with_tubes if v in tracked.index and v in videos.index]
        made_from = read_table(root, FEATURES, columns=["video_id", "tubes_flush"]).drop_duplicates("video_id")
        current = made_from["video_id"].map(tracked)
        stale = made_from.loc[current.notna() & (current != made_from["tubes_flush"]), "video_id"]
        return run_stage(DaskScheduler(client), root, features_stage(config), payloads, runner, redo=frozenset(stale))
