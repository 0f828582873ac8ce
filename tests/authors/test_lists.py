"""The authors' lists: InstaVariety.json, split lists and VLOG clip ids become harvest queries and
`sources` rows; an official split overrides the hash split and never changes afterwards."""
from __future__ import annotations

import json

import pytest

from authors.lists import ListError, read_insta_variety, read_split_list, read_vlog_clips, read_vlog_segments
from authors.sources import SourceItem, SplitConflict
from harvest.queries import InputFileError, insta_variety_queries, read_url_list
from harvest.ytdlp import known_single_video
from manifests import SOURCES, VIDEOS, read_table
from pipelines.authors_lists import list_queries_and_sources, read_split_lists
from pipelines.runner import RunnerConfig
from pipelines.sources import record_sources

RUNNER = RunnerConfig(progress=False)


def post(shortcode, tag, name, **extra):
    """A post as InstaVariety.json holds it (doc/insta_variety.md)."""
    return {"shortcode": shortcode, "download_tag": tag, "urls": [f"{name}.mp4"], "video_link":
            f"https://www.instagram.com/p/{shortcode}", "tags": [tag], "dimensions": {"width": 640, "height": 640},
            "taken_at_timestamp": 1540000000, "id": "1900000000000000000", "is_video": True, **extra}


@pytest.fixture
def insta_json(tmp_path):
    path = tmp_path / "InstaVariety.json"
    posts = [post("BpQ1aB2cD3e", "golf", "45291523_465543033968251_8758165089434992640_n"),
             post("BqX9yZ8wV7u", "deadlift", "44825418_754097171600390_3553323428637310976_n"),
             post("BpQ1aB2cD3e", "teaching", "45291523_465543033968251_8758165089434992640_n")]  # under two tags
    path.write_text("[\n" + ",\n".join(json.dumps(p) for p in posts) + "\n]\n")
    return path


def test_instavariety_posts_become_post_page_queries_with_their_tag(insta_json):
    posts = read_insta_variety(insta_json)
    assert [p.authors_id for p in posts][:2] == ["golf/45291523_465543033968251_8758165089434992640_n",
                                                 "deadlift/44825418_754097171600390_3553323428637310976_n"]
    assert json.loads(posts[0].metadata)["taken_at_timestamp"] == 1540000000  # kept verbatim
    queries = insta_variety_queries(posts)
    assert [(q.query, q.url, q.is_tag_page) for q in queries] == [
        ("#golf", "https://www.instagram.com/p/BpQ1aB2cD3e/", False),
        ("#deadlift", "https://www.instagram.com/p/BqX9yZ8wV7u/", False)]  # the repeated post once
    entry = known_single_video(queries[0].url)  # its id without a request, as yt-dlp's extractor names it
    assert (entry.video_id, entry.extractor) == ("instagram-BpQ1aB2cD3e", "Instagram")


def test_a_bad_post_is_named_by_line(tmp_path):
    path = tmp_path / "InstaVariety.json"
    path.write_text('[\n{"shortcode": "Bok", "download_tag": "golf", "urls": ["a.mp4"]},\n'
                    '{"shortcode": "no/slash", "download_tag": "golf", "urls": []}\n]')
    with pytest.raises(ListError, match=r"InstaVariety.json:3: post 1: 'shortcode' 'no/slash' is not an Instagram "
                                        r"shortcode.*'urls' \[\] should list"):
        read_insta_variety(path)


def test_vlog_clip_ids_harvest_each_youtube_video_once(tmp_path):
    listing = tmp_path / "vlog_ids.txt"
    # Lines of the authors' datasets/vlog/vlog_ids.txt: three clips of one video, one of another.
    listing.write_text("0_0_I_v_LdhYI_Pq00I_021_\n3_5_8_v_X4UoLuf35_8_027_\n3_5_8_v_X4UoLuf35_8_033_\n"
                       "3_5_8_v_X4UoLuf35_8_050_\n")
    queries = read_url_list(listing)
    assert [q.url for q in queries] == ["https://www.youtube.com/watch?v=LdhYI_Pq00I",
                                        "https://www.youtube.com/watch?v=X4UoLuf35_8"]
    assert [c.clip for c in read_vlog_clips(listing)] == [21, 27, 33, 50]
    (tmp_path / "bad.txt").write_text("0_0_I_v_LdhYI_Pq00I_021_\nnot an id\n")
    with pytest.raises(InputFileError, match=r"bad.txt:2: 'not an id' is neither .* nor a VLOG clip id"):
        read_url_list(tmp_path / "bad.txt")


def test_vlog_metadata_gives_each_clip_its_segment(tmp_path):
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "manifest.txt").write_text("0/0/I/v_LdhYI_Pq00I/021/\n6/I/s/v_.udnUM276Is/001/\n")
    (meta / "youtube_links.txt").write_text("https://www.youtube.com/watch?v=LdhYI_Pq00I 120 479\n"
                                            "https://www.youtube.com/watch?v=-udnUM276Is 0 99\n")
    segments = read_vlog_segments(meta)
    assert segments[("LdhYI_Pq00I", 21)].start_frame == 120 and segments[("LdhYI_Pq00I", 21)].end_frame == 480
    assert ("-udnUM276Is", 1) in segments  # VLOG's '.' is YouTube's '-'
    (meta / "youtube_links.txt").write_text("https://www.youtube.com/watch?v=LdhYI_Pq00I 120\n")
    with pytest.raises(ListError, match=r"manifest.txt has 2 lines but .*youtube_links.txt has 1"):
        read_vlog_segments(meta)


def test_split_lists_name_their_split_by_file_name(tmp_path):
    (tmp_path / "insta_variety_test.txt").write_text("golf/45291523_n\ndeadlift/44825418_n.mp4\n")
    (tmp_path / "mine.txt").write_text("golf/45291523_n\n")
    assert read_split_lists((str(tmp_path / "insta_variety_test.txt"),)) == \
        {"golf/45291523_n": "test", "deadlift/44825418_n": "test"}
    with pytest.raises(ListError, match="cannot tell the split from the file name; give it as test="):
        read_split_lists((str(tmp_path / "mine.txt"),))
    with pytest.raises(ListError, match=r"golf/45291523_n is in split 'train' here but 'test'"):
        read_split_lists((str(tmp_path / "insta_variety_test.txt"), f"train={tmp_path / 'mine.txt'}"))
    (tmp_path / "broken.txt").write_text("just_a_name\n")
    with pytest.raises(ListError, match=r"broken.txt:1: 'just_a_name' is not 'download_tag/video_name'"):
        read_split_list(tmp_path / "broken.txt", "test")


def test_sources_are_recorded_once_and_a_split_never_changes(client, root, tmp_path, insta_json):
    test_list = tmp_path / "insta_variety_test.txt"
    test_list.write_text("golf/45291523_465543033968251_8758165089434992640_n\n")
    queries, items = list_queries_and_sources(root, None, "vlog", str(insta_json), "insta", (str(test_list),), None)
    assert len(queries) == 2 and len(items) == 3
    stats = record_sources(root, items, RUNNER)
    assert stats.n_ok == 2  # two videos: one post listed under two tags is one video with two names
    recorded = read_table(root, SOURCES).sort_values("source_id")
    assert dict(zip(recorded["source_id"], recorded["split"].fillna("-"))) == {
        "deadlift/44825418_754097171600390_3553323428637310976_n": "-",
        "golf/45291523_465543033968251_8758165089434992640_n": "test",
        "teaching/45291523_465543033968251_8758165089434992640_n": "-"}
    assert record_sources(root, items, RUNNER).n_due == 0  # the same lists again: nothing to do

    train_list = tmp_path / "insta_variety_train.txt"
    train_list.write_text("teaching/45291523_465543033968251_8758165089434992640_n\n")
    _, moved = list_queries_and_sources(root, None, "vlog", None, "insta", (str(train_list),), None)
    with pytest.raises(SplitConflict, match=r"instagram-BpQ1aB2cD3e is named in more than one split"):
        record_sources(root, moved, RUNNER)
    assert len(read_table(root, SOURCES)) == 3  # nothing written


def test_an_official_split_wins_over_the_hash_at_download(client, root, tmp_path):
    from testing.loopback import Site, serve
    from harvest.config import HarvestConfig
    from pipelines.harvest import harvest
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data"
    with serve(Site(media={"people_b.mp4": data / "people_b.mp4"})) as base:
        listing = tmp_path / "list.txt"
        listing.write_text(f"{base}/media/people_b.mp4\n")
        sources = [SourceItem("generic-people_b", "walk/people_b", "mine.txt", "vlog", f"{base}/media/people_b.mp4",
                              split="test")]
        harvest(client, root, read_url_list(listing), HarvestConfig(source_template=base + "/{tag}"), RUNNER,
                sources=sources)
    videos = read_table(root, VIDEOS)
    assert list(videos["split"]) == ["test"]  # manifests.split_of gives this id 'train'
    with pytest.raises(SplitConflict, match=r"generic-people_b .*recorded in split 'test'; mine.txt puts it in 'val'"):
        record_sources(root, [SourceItem("generic-people_b", "walk/people_b", "mine.txt", "vlog", "u",
                                                 split="val")], RUNNER)
